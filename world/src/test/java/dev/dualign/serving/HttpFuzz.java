package dev.dualign.serving;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dualign.core.testing.BadInputs;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;

/**
 * What the HTTP fuzz tests ({@code *FuzzTest}) share: odd requests (methods, paths, headers, bodies),
 * one keep-alive client, raw-socket requests for what that client will not send, and the rule every
 * answer must keep (issue #31): no 5xx but shedding (503 with {@code Retry-After}), and an error's
 * body is JSON naming the error.
 */
final class HttpFuzz {
    static final ObjectMapper JSON = new ObjectMapper();
    static final int TRIES = 10_000;
    static final String[] METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "FOO", "get", "PROPFIND"};
    static final String[] CONTENT_TYPES = {"application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x", "application/json; charset=latin1", "*/*", "garbage", ""};
    static final String[] ACCEPTS = {"application/json", "text/event-stream", "text/html", "*/*", "application/xml", ""};

    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
    private final Map<String, BadInputs.Tally> tallies = new ConcurrentHashMap<>();
    private final String name;
    private final String base;

    /**
     * @param name the server's name in the printed counts
     * @param base the server's URL, {@code http://host:port} without a trailing slash
     */
    HttpFuzz(String name, String base) {
        this.name = name;
        this.base = base;
    }

    /** One request as a fuzz test sends it. */
    record Req(String method, String path, Map<String, String> headers, byte[] body) {
        @Override
        public String toString() {
            String text = body == null ? "" : new BadInputs.Input("body", body).toString();
            return method + " " + path + " " + headers + " " + text;
        }
    }

    /** An answer: status, headers that matter, body. */
    record Res(int status, String contentType, String retryAfter, byte[] body) {}

    /** Mostly {@code method}, sometimes any other. */
    static Arbitrary<String> methodMostly(String method) {
        return Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(88, Arbitraries.just(method)),
                net.jqwik.api.Tuple.of(12, Arbitraries.of(METHODS)));
    }

    /** Content-Type and Accept, mostly JSON; {@code auth}, when given, as Authorization mostly. */
    static Arbitrary<Map<String, String>> headers(String auth) {
        return Arbitraries.randomValue(r -> {
            Map<String, String> h = new java.util.LinkedHashMap<>();
            String ct = r.nextInt(4) > 0 ? "application/json" : CONTENT_TYPES[r.nextInt(CONTENT_TYPES.length)];
            if (!ct.isEmpty()) {
                h.put("Content-Type", ct);
            }
            if (r.nextInt(5) == 0) {
                String a = ACCEPTS[r.nextInt(ACCEPTS.length)];
                if (!a.isEmpty()) {
                    h.put("Accept", a);
                }
            }
            if (auth != null) {
                switch (r.nextInt(10)) {
                    case 0 -> { }
                    case 1 -> h.put("Authorization", "Bearer wrong");
                    case 2 -> h.put("Authorization", "Bearer ");
                    case 3 -> h.put("Authorization", auth.toLowerCase() + " x " + "é".repeat(r.nextInt(3)));
                    default -> h.put("Authorization", auth);
                }
            }
            return h;
        });
    }

    /** Odd paths: encoded bytes, dot segments, doubled slashes, long ones, unicode, queries. */
    static String oddPath(Random r, String prefix) {
        String[] bits = {"", "/", "//", "/.", "/..", "/%2e%2e", "/%2F", "/%00", "/%ff", "/%", "/%zz", "/a;b=c", "/;", "/models", "/chat",
            "/completions", "/v1", "/admin", "/healthz", "/api/state", "/index.html", "/%E2%82%AC", "/%C3%28", "/..;/", "/~", "/+",
            "/%20", "/dashboard.js", "/chart.umd.js", "/embeddings", "/files/x", "/a-b_c.d", "/:", "/@", "/!$&'()*+,="};
        StringBuilder sb = new StringBuilder(prefix);
        for (int k = r.nextInt(4); k > 0; k--) {
            sb.append(bits[r.nextInt(bits.length)]);
        }
        if (r.nextInt(15) == 0) {
            sb.append("/").append("x".repeat(1 + r.nextInt(r.nextBoolean() ? 100 : 9000)));
        }
        if (r.nextInt(6) == 0) {
            String[] q = {"?", "?a=1", "?a=%00", "?=&=&", "?x=" + "y".repeat(r.nextInt(500)), "?%zz", "?stream=true", "#frag"};
            sb.append(q[r.nextInt(q.length)]);
        }
        return sb.length() == 0 ? "/" : sb.toString();
    }

    Res send(Req q) throws Exception {
        HttpRequest.Builder b;
        try {
            b = HttpRequest.newBuilder(URI.create(base + q.path()));
        } catch (IllegalArgumentException notAUri) {
            return raw(q);
        }
        b.timeout(Duration.ofSeconds(60));
        q.headers().forEach(b::header);
        boolean noBody = q.body() == null || q.method().equals("HEAD") || q.method().equals("GET") && q.body().length == 0;
        b.method(q.method(), noBody ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(q.body()));
        HttpResponse<byte[]> r = client.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        return new Res(r.statusCode(), r.headers().firstValue("Content-Type").orElse(""), r.headers().firstValue("Retry-After").orElse(null),
                r.body());
    }

    /** A request written by hand on its own connection (for what java.net.http refuses to send), read to its end. */
    Res raw(Req q) throws Exception {
        URI u = URI.create(base);
        StringBuilder head = new StringBuilder(q.method() + " " + q.path() + " HTTP/1.1\r\nHost: " + u.getHost() + ":" + u.getPort()
                + "\r\nConnection: close\r\n");
        q.headers().forEach((k, v) -> head.append(k).append(": ").append(v).append("\r\n"));
        byte[] body = q.body() == null ? new byte[0] : q.body();
        if (!q.headers().containsKey("Content-Length") && !q.headers().containsKey("Transfer-Encoding")) {
            head.append("Content-Length: ").append(body.length).append("\r\n");
        }
        head.append("\r\n");
        return rawBytes(concat(head.toString().getBytes(StandardCharsets.UTF_8), body));
    }

    /** Bytes sent as they are on a new connection, its output then closed: the server's answer, or status -1 for none. */
    Res rawBytes(byte[] request) throws Exception {
        URI u = URI.create(base);
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(u.getHost(), u.getPort()), 5_000);
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            try {
                out.write(request);
                out.flush();
                s.shutdownOutput();
            } catch (java.io.IOException closedEarly) {
                // the server may answer and close before reading all of a bad request
            }
            InputStream in = s.getInputStream();
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            try {
                in.transferTo(all);
            } catch (java.net.SocketException reset) {
                // a reset after the answer
            }
            return parseRaw(all.toByteArray());
        }
    }

    private static Res parseRaw(byte[] b) {
        String text = new String(b, StandardCharsets.ISO_8859_1);
        int end = text.indexOf("\r\n\r\n");
        if (!text.startsWith("HTTP/1.1 ") || end < 0) {
            return new Res(-1, "", null, b);
        }
        int status = Integer.parseInt(text.substring(9, 12));
        String ct = "";
        String retry = null;
        for (String line : text.substring(0, end).split("\r\n")) {
            String lower = line.toLowerCase(java.util.Locale.ROOT);
            if (lower.startsWith("content-type:")) {
                ct = line.substring(13).trim();
            } else if (lower.startsWith("retry-after:")) {
                retry = line.substring(12).trim();
            }
        }
        String body = text.substring(end + 4);
        if (text.substring(0, end).toLowerCase(java.util.Locale.ROOT).contains("transfer-encoding: chunked")) {
            body = dechunk(body);
        }
        return new Res(status, ct, retry, body.getBytes(StandardCharsets.ISO_8859_1));
    }

    private static String dechunk(String s) {
        StringBuilder out = new StringBuilder();
        int at = 0;
        while (at < s.length()) {
            int nl = s.indexOf("\r\n", at);
            if (nl < 0) {
                break;
            }
            int size = Integer.parseInt(s.substring(at, nl).split(";")[0].trim(), 16);
            if (size == 0) {
                break;
            }
            out.append(s, nl + 2, Math.min(s.length(), nl + 2 + size));
            at = nl + 2 + size + 2;
        }
        return out.toString();
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    BadInputs.Tally tally(String target) {
        return tallies.computeIfAbsent(target, t -> new BadInputs.Tally(name + " " + t));
    }

    /**
     * Sends {@code q} and checks the answer against the rule; counts it under {@code target}.
     *
     * @return the answer, for checks of the endpoint's own
     */
    Res check(String target, Req q) throws Exception {
        BadInputs.Tally t = tally(target);
        boolean ok = false;
        Res r = null;
        try {
            try {
                r = send(q);
            } catch (java.io.IOException lost) {
                // java.net.http sent it on a kept-alive connection the server had closed after an
                // earlier refusal (an HTTP server may close a connection at any time between
                // requests); the same request on a fresh connection must be answered
                r = raw(q);
            }
            checkAnswer(q.method(), r);
            ok = true;
            return r;
        } catch (AssertionError | Exception e) {
            throw new AssertionError("fuzz " + target + ": " + q.method() + " " + q.path() + " " + q.headers() + " body "
                    + (q.body() == null ? "none" : q.body().length + " bytes") + ": " + e.getMessage(), e);
        } finally {
            t.count(r == null ? "exception" : Integer.toString(r.status()), !ok);
        }
    }

    /** The rule: an answer came; no 5xx but 503 with Retry-After; an error is a JSON object naming it. */
    static void checkAnswer(String method, Res r) throws Exception {
        String body = new String(r.body(), StandardCharsets.UTF_8);
        String shown = body.length() > 400 ? body.substring(0, 400) + "…" : body;
        assertThat(r.status()).as("an answer came (status, body: %s)", shown).isGreaterThanOrEqualTo(100);
        shown = r.status() + " " + shown;
        if (r.status() >= 500) {
            assertThat(r.status()).as("a 5xx other than shedding: %s", shown).isEqualTo(503);
            assertThat(r.retryAfter()).as("a 503 says when to come back: %s", shown).isNotNull();
        }
        if (r.status() >= 400 && !method.equals("HEAD")) {
            assertThat(r.contentType()).as("an error's Content-Type (body: %s)", shown).startsWith("application/json");
            JsonNode n = JSON.readTree(r.body());
            assertThat(n != null && n.isObject()).as("an error's body is a JSON object: %s", shown).isTrue();
            JsonNode e = n.get("error");
            assertThat(e != null && (e.isTextual() && !e.asText().isBlank() || e.path("message").isTextual() && !e.path("message").asText().isBlank()))
                    .as("an error names itself: %s", shown).isTrue();
        }
    }

    void print() {
        tallies.values().forEach(BadInputs.Tally::print);
    }

    long failures() {
        return tallies.values().stream().mapToLong(BadInputs.Tally::failures).sum();
    }
}
