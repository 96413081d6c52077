package dev.dualign.service;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.function.Supplier;

/**
 * {@code /metrics} and {@code /healthz} for a process without the policy server's HTTP API (the
 * fine-tuner alone, {@code serve --role finetuner}), so it is scraped and probed like the server.
 */
public final class MetricsEndpoint implements AutoCloseable {
    private final HttpServer http;

    public MetricsEndpoint(String host, int port, ServiceMetrics metrics, Supplier<String> problem) throws IOException {
        http = HttpServer.create(new InetSocketAddress(host, port), 16);
        http.setExecutor(Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "dualign-metrics");
            t.setDaemon(true);
            return t;
        }));
        http.createContext("/metrics", ex -> {
            try (ex) {
                send(ex, 200, ServiceMetrics.CONTENT_TYPE, metrics.scrape());
            }
        });
        http.createContext("/healthz", ex -> {
            try (ex) {
                String why = problem.get();
                send(ex, why == null ? 200 : 503, "application/json", why == null ? "{\"status\":\"ok\"}"
                        : "{\"status\":\"degraded\",\"problem\":\"" + why.replace("\\", "\\\\").replace("\"", "\\\"") + "\"}");
            }
        });
        http.start();
    }

    private static void send(com.sun.net.httpserver.HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", type);
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream o = ex.getResponseBody()) {
            o.write(b);
        }
    }

    public int port() {
        return http.getAddress().getPort();
    }

    @Override
    public void close() {
        http.stop(0);
    }
}
