package dev.dualign.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operations surface of every process of the loop that serves HTTP (the policy server, the
 * gateway, the fine-tuner): {@code /healthz}, {@code /metrics} and the token-protected
 * {@code /admin/*} routes, composed once so that every process is probed, scraped and administered
 * alike. It runs on {@link WebServer} beside the process's API, outside its load limit.
 *
 * <pre>{@code
 * OpsSurface ops = new OpsSurface(metrics, loop::problem)
 *         .details(() -> Map.of("deployment", server.deployment()))
 *         .admin(token)
 *         .route("versions", "GET", body -> server.describe());
 * ops.mountOn(http);                       // beside the process's API
 * OpsSurface.Endpoint e = ops.serve(host, port);   // or alone, on its own port
 * }</pre>
 */
public final class OpsSurface {
    private static final Logger LOG = LoggerFactory.getLogger(OpsSurface.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Largest admin request body. */
    public static final int MAX_BODY = 64 * 1024;

    /** One admin call: the request's JSON object (empty when no body came) to the reply's body. */
    @FunctionalInterface
    public interface AdminAction {
        Object handle(JsonNode body) throws Exception;
    }

    /** An admin call refused with an HTTP status (400, 404, 409, …) and the reason, which the reply carries. */
    public static final class Refusal extends RuntimeException {
        private final int status;

        public Refusal(int status, String reason) {
            super(reason);
            this.status = status;
        }

        public int status() {
            return status;
        }
    }

    private record Route(String method, AdminAction action) {}

    private final ServiceMetrics metrics;
    private final Supplier<String> problem;
    private Supplier<Map<String, Object>> details = Map::of;
    private String adminToken;
    private final Map<String, Route> routes = new LinkedHashMap<>();

    /**
     * @param problem why the process is not fully working, null when it is: {@code /healthz} then
     *     answers 503 with it, so an orchestrator stops routing there
     */
    public OpsSurface(ServiceMetrics metrics, Supplier<String> problem) {
        this.metrics = JvmMetrics.register(metrics); // every process's /metrics: its JVM and its resident memory
        this.problem = problem;
    }

    /** Fields {@code /healthz} reports beside its status (e.g. the deployment, the upstream). */
    public OpsSurface details(Supplier<Map<String, Object>> details) {
        this.details = details;
        return this;
    }

    /** The bearer token of {@code /admin/*}; null or blank: every admin call gets 401. */
    public OpsSurface admin(String token) {
        this.adminToken = token;
        return this;
    }

    /** An admin route, {@code /admin/NAME}, answering one method. */
    public OpsSurface route(String name, String method, AdminAction action) {
        routes.put("/admin/" + name, new Route(method, action));
        return this;
    }

    /** Mounts the surface on a server that also carries the process's API. */
    public void mountOn(HttpServer http) {
        http.createContext("/healthz", ex -> handle(ex, this::health));
        http.createContext("/metrics", ex -> handle(ex, this::scrape));
        routes.forEach((path, r) -> http.createContext(path, ex -> handle(ex, e -> admin(e, r))));
    }

    /** The surface alone on its own port, for a process without an API (the fine-tuner). */
    public Endpoint serve(String host, int port) throws IOException {
        WebServer web = new WebServer(host, port, WebServer.Limits.ops(), "dualign-ops");
        mountOn(web.http());
        return new Endpoint(web.start());
    }

    /** A running standalone surface. */
    public static final class Endpoint implements AutoCloseable {
        private final WebServer web;

        private Endpoint(WebServer web) {
            this.web = web;
        }

        public int port() {
            return web.port();
        }

        @Override
        public void close() {
            web.close();
        }
    }

    @FunctionalInterface
    private interface Handler {
        void handle(HttpExchange ex) throws Exception;
    }

    private static void handle(HttpExchange ex, Handler h) {
        // not try-with-resources: the error reply must be written before the exchange closes
        try {
            h.handle(ex);
        } catch (Refusal e) {
            quietly(ex, e.status(), Map.of("error", e.getMessage()));
        } catch (IOException e) {
            LOG.warn("{} {}: connection lost ({})", ex.getRequestMethod(), ex.getRequestURI(), e.toString());
        } catch (Exception e) {
            LOG.error("{} {} failed", ex.getRequestMethod(), ex.getRequestURI(), e);
            quietly(ex, 500, Map.of("error", String.valueOf(e.getMessage())));
        } finally {
            ex.close();
        }
    }

    private void health(HttpExchange ex) throws IOException {
        String why = problem.get();
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("status", why == null ? "ok" : "degraded");
        if (why != null) {
            body.put("problem", why);
        }
        body.putAll(details.get());
        reply(ex, why == null ? 200 : 503, body);
    }

    private void scrape(HttpExchange ex) throws IOException {
        byte[] text = metrics.scrape().getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", ServiceMetrics.CONTENT_TYPE);
        ex.sendResponseHeaders(200, text.length);
        try (OutputStream o = ex.getResponseBody()) {
            o.write(text);
        }
    }

    private void admin(HttpExchange ex, Route r) throws Exception {
        String why = unauthorized(ex, adminToken);
        if (why != null) {
            reply(ex, 401, Map.of("error", why));
            return;
        }
        requireMethod(ex, r.method());
        reply(ex, 200, r.action().handle(jsonBody(ex)));
    }

    /**
     * Whether the request carries the admin token as its bearer token: null when it does, else why
     * not, with {@code WWW-Authenticate} set for the 401 the caller answers. A null or blank token
     * refuses every call.
     */
    public static String unauthorized(HttpExchange ex, String adminToken) {
        String given = ex.getRequestHeaders().getFirst("Authorization");
        boolean off = adminToken == null || adminToken.isBlank();
        if (off || given == null || !given.startsWith("Bearer ") || !MessageDigest.isEqual(
                adminToken.getBytes(StandardCharsets.UTF_8), given.substring(7).trim().getBytes(StandardCharsets.UTF_8))) {
            ex.getResponseHeaders().add("WWW-Authenticate", "Bearer realm=\"dualign-admin\"");
            return off ? "admin endpoints are disabled: set server.admin-token" : "missing or invalid bearer token";
        }
        return null;
    }

    /** Refuses (405, with {@code Allow}) a request of another method. */
    public static void requireMethod(HttpExchange ex, String method) {
        if (!ex.getRequestMethod().equals(method)) {
            ex.getResponseHeaders().add("Allow", method);
            throw new Refusal(405, ex.getRequestMethod() + " not allowed; use " + method);
        }
    }

    /** The request's body as a JSON object (empty when none came); anything else is refused with 400 or 413. */
    public static JsonNode jsonBody(HttpExchange ex) throws IOException {
        byte[] b = ex.getRequestBody().readNBytes(MAX_BODY + 1);
        if (b.length > MAX_BODY) {
            throw new Refusal(413, "body larger than " + MAX_BODY + " bytes");
        }
        if (b.length == 0) {
            return JSON.createObjectNode();
        }
        try {
            JsonNode n = JSON.readTree(b);
            if (n == null || !n.isObject()) {
                throw new Refusal(400, "body must be a JSON object");
            }
            return n;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new Refusal(400, "body is not valid JSON: " + e.getOriginalMessage());
        }
    }

    /** As {@link #reply}, for an error reply to a client that may be gone. */
    public static void quietly(HttpExchange ex, int status, Object body) {
        try {
            reply(ex, status, body);
        } catch (IOException ignored) {
            // the client is gone
        }
    }

    /** {@code body} as JSON with {@code status}, never cached. */
    public static void reply(HttpExchange ex, int status, Object body) throws IOException {
        byte[] b = JSON.writeValueAsBytes(body);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream o = ex.getResponseBody()) {
            o.write(b);
        }
    }
}
