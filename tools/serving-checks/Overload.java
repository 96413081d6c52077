import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The overload check, as an outside client process: CLIENTS concurrent clients against a policy
 * server (or gateway), LORIS of them slowloris (half send their headers a line every 2 s, half a
 * body a byte every 2 s, and reconnect when cut), the others asking for chat completions as fast as
 * they are answered. A prober asks {@code /healthz} every 200 ms. It holds when every probe is
 * answered within 1 s, every 503 carries {@code Retry-After} and comes within 1 s, and every other
 * request is answered 200 with a completion. Exit status 0 when it held.
 *
 * With {@code expect-shed} it also fails when no request was shed (the server's capacity was
 * never reached, so the 503 path went unchecked).
 *
 * <pre>java tools/serving-checks/Overload.java http://127.0.0.1:8080 [CLIENTS [LORIS [SECONDS [expect-shed]]]]</pre>
 */
public final class Overload {
    static final long LIMIT_MS = 1_000;

    public static void main(String[] args) throws Exception {
        URI base = URI.create(args[0].replaceAll("/+$", ""));
        int clients = args.length > 1 ? Integer.parseInt(args[1]) : 256;
        int loris = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        int seconds = args.length > 3 ? Integer.parseInt(args[3]) : 30;
        boolean expectShed = args.length > 4 && args[4].equals("expect-shed");
        long until = System.nanoTime() + seconds * 1_000_000_000L;
        List<String> failures = Collections.synchronizedList(new ArrayList<>());
        ConcurrentHashMap<Integer, AtomicLong> statuses = new ConcurrentHashMap<>();
        ConcurrentLinkedQueue<Long> okMs = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<Long> shedMs = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<Long> probeMs = new ConcurrentLinkedQueue<>();
        AtomicLong lorisCut = new AtomicLong();
        List<Thread> threads = new ArrayList<>();

        for (int i = 0; i < loris; i++) {
            boolean headers = i % 2 == 0;
            threads.add(start("loris-" + i, () -> {
                while (System.nanoTime() < until) {
                    try (Socket s = new Socket(base.getHost(), base.getPort())) {
                        s.setSoTimeout(2_000);
                        OutputStream o = s.getOutputStream();
                        o.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
                                .getBytes(StandardCharsets.US_ASCII));
                        if (!headers) {
                            o.write("Content-Length: 4096\r\n\r\n{".getBytes(StandardCharsets.US_ASCII));
                        }
                        while (System.nanoTime() < until) {
                            Thread.sleep(2_000);
                            o.write(headers ? "X-Slow: 1\r\n".getBytes(StandardCharsets.US_ASCII) : new byte[] {' '});
                            o.flush();
                        }
                    } catch (IOException e) {
                        lorisCut.incrementAndGet(); // the server closed it: open another
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }));
        }

        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        String body = "{\"model\":\"dualign\",\"max_tokens\":24,\"messages\":[{\"role\":\"user\",\"content\":\"i cannot sleep at night\"}]}";
        for (int i = 0; i < clients - loris; i++) {
            threads.add(start("client-" + i, () -> {
                while (System.nanoTime() < until) {
                    long t0 = System.nanoTime();
                    try {
                        HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve("/v1/chat/completions"))
                                .timeout(Duration.ofSeconds(120)).header("Content-Type", "application/json")
                                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
                        long ms = (System.nanoTime() - t0) / 1_000_000;
                        statuses.computeIfAbsent(r.statusCode(), k -> new AtomicLong()).incrementAndGet();
                        if (r.statusCode() == 503) {
                            shedMs.add(ms);
                            if (r.headers().firstValue("Retry-After").isEmpty()) {
                                failures.add("a 503 without Retry-After: " + r.body());
                            }
                            if (ms > LIMIT_MS) {
                                failures.add("a 503 after " + ms + " ms");
                            }
                            Thread.sleep(100);
                        } else if (r.statusCode() != 200 || !r.body().contains("\"choices\"")) {
                            failures.add("an admitted request got " + r.statusCode() + ": " + r.body());
                        } else {
                            okMs.add(ms);
                        }
                    } catch (IOException e) {
                        failures.add("a request failed: " + e);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }));
        }

        HttpClient probeClient = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        threads.add(start("prober", () -> {
            while (System.nanoTime() < until) {
                long t0 = System.nanoTime();
                try {
                    HttpResponse<String> r = probeClient.send(HttpRequest.newBuilder(base.resolve("/healthz"))
                            .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
                    long ms = (System.nanoTime() - t0) / 1_000_000;
                    probeMs.add(ms);
                    if (r.statusCode() != 200) {
                        failures.add("/healthz answered " + r.statusCode() + ": " + r.body());
                    }
                    if (ms > LIMIT_MS) {
                        failures.add("/healthz took " + ms + " ms");
                    }
                    Thread.sleep(200);
                } catch (IOException e) {
                    failures.add("/healthz failed: " + e);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }));

        for (Thread t : threads) {
            t.join();
        }
        System.out.printf("overload: %d clients (%d slowloris, cut %d times), %d s: statuses %s%n", clients, loris, lorisCut.get(),
                seconds, statuses);
        System.out.printf("overload: answered %d, p50 %d ms, p99 %d ms; shed %d, slowest %d ms; /healthz %d probes, p50 %d ms, slowest %d ms%n",
                okMs.size(), pct(okMs, 50), pct(okMs, 99), shedMs.size(), pct(shedMs, 100), probeMs.size(), pct(probeMs, 50), pct(probeMs, 100));
        if (okMs.isEmpty() || probeMs.isEmpty()) {
            failures.add("no request answered or no probe made");
        }
        if (expectShed && shedMs.isEmpty()) {
            failures.add("no request was shed: the server's capacity was never reached, so the 503 path went unchecked");
        }
        if (!failures.isEmpty()) {
            System.out.println("overload: FAILED (" + failures.size() + "): " + String.join("; ", failures.subList(0, Math.min(10, failures.size()))));
            System.exit(1);
        }
        System.out.println("overload: ok");
    }

    interface Body {
        void run() throws Exception;
    }

    static Thread start(String name, Body body) {
        Thread t = new Thread(() -> {
            try {
                body.run();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, name);
        t.setDaemon(true);
        t.start();
        return t;
    }

    static long pct(ConcurrentLinkedQueue<Long> q, int p) {
        List<Long> v = new ArrayList<>(q);
        if (v.isEmpty()) {
            return -1;
        }
        Collections.sort(v);
        return v.get(Math.min(v.size() - 1, (int) Math.ceil(p / 100.0 * v.size()) - 1 < 0 ? 0 : (int) Math.ceil(p / 100.0 * v.size()) - 1));
    }
}
