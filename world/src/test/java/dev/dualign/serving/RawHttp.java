package dev.dualign.serving;

import java.nio.charset.StandardCharsets;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;

/**
 * Malformed HTTP/1.1 for the fuzz tests, written on raw sockets because java.net.http will not send
 * it: a Content-Length that is not the body's, or not a number, bad chunking, unknown
 * Transfer-Encoding, bad request lines and versions, headers without colons or with control
 * characters, oversized headers and URIs, NUL bytes.
 */
final class RawHttp {
    private RawHttp() {}

    static Arbitrary<byte[]> malformed(String[] paths, String validBody) {
        return Arbitraries.randomValue(r -> request(r, paths[r.nextInt(paths.length)], validBody));
    }

    static byte[] request(Random r, String path, String body) {
        String method = r.nextInt(4) == 0 ? "GET" : "POST";
        String version = "HTTP/1.1";
        String line = null;
        StringBuilder h = new StringBuilder("Host: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n");
        String b = body;
        switch (r.nextInt(16)) {
            case 0 -> h.append("Content-Length: ").append(body.length() + 1 + r.nextInt(100)).append("\r\n"); // promised more than sent
            case 1 -> h.append("Content-Length: ").append(r.nextInt(Math.max(1, body.length()))).append("\r\n"); // less than sent
            case 2 -> h.append("Content-Length: ").append(new String[] {"abc", "-1", "99999999999999999999", "1, 2", "", " 5", "0x10"}[r.nextInt(7)])
                    .append("\r\n");
            case 3 -> { // two different lengths
                h.append("Content-Length: ").append(body.length()).append("\r\nContent-Length: ").append(body.length() + 3).append("\r\n");
            }
            case 4 -> { // bad chunking
                h.append("Transfer-Encoding: chunked\r\n");
                b = new String[] {"zz\r\n" + body + "\r\n0\r\n\r\n", Integer.toHexString(body.length() + 9) + "\r\n" + body + "\r\n0\r\n\r\n",
                    Integer.toHexString(body.length()) + "\r\n" + body, "-5\r\nabc\r\n0\r\n\r\n", "ffffffffffffffff\r\n" + body}[r.nextInt(5)];
            }
            case 5 -> h.append("Transfer-Encoding: ").append(new String[] {"gzip", "identity", "chunked, gzip", "bogus", "chunked\r\nContent-Length: 3"}[r.nextInt(5)])
                    .append("\r\n");
            case 6 -> version = new String[] {"HTTP/1.2", "HTTP/2.0", "HTTP/0.9", "HTTP/9.9", "HTTX/1.1", "http/1.1", "HTTP/1.1 extra", ""}[r.nextInt(8)];
            case 7 -> line = new String[] {"GET", "", " / HTTP/1.1", "GET  / HTTP/1.1", "GET /\u0000 HTTP/1.1", "GET http://x:99999/ HTTP/1.1",
                "GET * HTTP/1.1", "CONNECT 127.0.0.1:1 HTTP/1.1", "G\u00c9T / HTTP/1.1", "GET /a b HTTP/1.1"}[r.nextInt(10)];
            case 8 -> h.append("NoColonHeader\r\n");
            case 9 -> h.append("X-Bad: a\u0000b\u0007c\r\n");
            case 10 -> h.append("X-Long: ").append("x".repeat(8_000 + r.nextInt(20_000))).append("\r\n");
            case 11 -> {
                for (int i = 0; i < 200 + r.nextInt(300); i++) {
                    h.append("X-").append(i).append(": ").append(i).append("\r\n");
                }
            }
            case 12 -> path = path + "/" + "a".repeat(8_000 + r.nextInt(20_000));
            case 13 -> h.append(" folded: continuation\r\n");
            case 14 -> h.append("Expect: ").append(r.nextBoolean() ? "100-continue" : "999-weird").append("\r\n");
            default -> h.append("Content-Type: text/plain\r\nHost: other\r\n");
        }
        boolean hasLength = h.indexOf("Content-Length") >= 0 || h.indexOf("Transfer-Encoding") >= 0;
        if (!hasLength) {
            h.append("Content-Length: ").append(b.getBytes(StandardCharsets.UTF_8).length).append("\r\n");
        }
        String first = line != null ? line : method + " " + path + (version.isEmpty() ? "" : " " + version);
        return (first + "\r\n" + h + "\r\n" + b).getBytes(StandardCharsets.UTF_8);
    }

    /** Sends one malformed request and checks the answer: {@link HttpFuzz#checkAnswer}'s rule, an answer always. */
    static HttpFuzz.Res check(HttpFuzz fuzz, byte[] request) throws Exception {
        var t = fuzz.tally("malformed HTTP (raw sockets)");
        boolean ok = false;
        HttpFuzz.Res r = null;
        try {
            r = fuzz.rawBytes(request);
            String first = new String(request, 0, Math.min(request.length, 300), StandardCharsets.ISO_8859_1);
            org.assertj.core.api.Assertions.assertThat(r.status()).as("an answer to %s", first.replace("\r\n", "⏎"))
                    .isGreaterThanOrEqualTo(100);
            HttpFuzz.checkAnswer(first.startsWith("HEAD") ? "HEAD" : "GET", r);
            ok = true;
            return r;
        } finally {
            t.count(r == null ? "exception" : r.status() < 0 ? "no-answer" : Integer.toString(r.status()), !ok);
        }
    }
}
