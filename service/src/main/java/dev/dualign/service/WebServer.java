package dev.dualign.service;

import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.spi.JettyHttpServer;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ContextHandlerCollection;
import org.eclipse.jetty.server.handler.CrossOriginHandler;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.server.handler.QoSHandler;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The HTTP server under every process of the loop: Jetty, with a bounded number of API requests
 * in progress, a short bounded wait for a slot and then {@code 503} with {@code Retry-After}, and
 * {@code /healthz}, {@code /metrics} and {@code /admin/*} outside that limit, so probes and an
 * operator's rollback answer under any load (decision 28). Handlers are written against the JDK's
 * {@code com.sun.net.httpserver} API, which Jetty's adapter carries.
 *
 * <pre>{@code
 * WebServer web = new WebServer("0.0.0.0", 8080, WebServer.Limits.api(), "dualign-http");
 * web.http().createContext("/v1/chat", handler);
 * web.start();
 * }</pre>
 */
public final class WebServer implements AutoCloseable {
    /** Paths that never wait behind API requests and are never shed. */
    public static final String[] OPS_PATHS = {"/healthz", "/metrics", "/admin/*"};

    /**
     * How much work the server takes on.
     *
     * @param maxActive API requests handled at once; each holds a thread while it waits for its answer
     * @param maxWaiting API requests that may wait for one of those slots; more get 503 at once
     * @param maxWait how long a request waits for a slot before it gets 503
     * @param idleTimeout a connection whose request or response has waited this long for the client
     *     (a body not sent, an answer not read), or that sits idle between requests, is closed. Jetty
     *     does not apply it while a handler is busy and nothing waits on the client, so an answer may
     *     take longer (an LLM's minute).
     * @param minRequestBytesPerSecond a client that sends its request body slower is disconnected, so
     *     a trickling client cannot hold a slot
     */
    public record Limits(int maxActive, int maxWaiting, Duration maxWait, Duration idleTimeout, long minRequestBytesPerSecond) {
        public Limits {
            if (maxActive < 1 || maxWaiting < 0) {
                throw new IllegalArgumentException("maxActive must be ≥ 1 and maxWaiting ≥ 0: " + maxActive + ", " + maxWaiting);
            }
        }

        /**
         * A chat API: 128 requests in progress (two batches of the default 64), 256 waiting up to
         * 500 ms, clients that stall for 10 s cut, bodies at ≥ 1 KiB/s.
         */
        public static Limits api() {
            return new Limits(128, 256, Duration.ofMillis(500), Duration.ofSeconds(10), 1024);
        }

        /** An operations surface alone (the fine-tuner's): a few requests at once. */
        public static Limits ops() {
            return new Limits(4, 16, Duration.ofMillis(500), Duration.ofSeconds(10), 1024);
        }
    }

    /**
     * Who may call the API ({@code /v1/*}) and from which web pages.
     *
     * @param keys the clients' keys, or null: no key asked for (a policy server behind its own
     *     gateway, a gateway whose upstream checks each client's key)
     * @param corsOrigins the browser origins that may call the API from a page ({@code *}: any);
     *     empty: no CORS headers, so browsers keep other sites' pages out
     */
    public record Access(ClientKeys keys, java.util.List<String> corsOrigins) {
        public Access {
            corsOrigins = java.util.List.copyOf(corsOrigins);
        }

        /** No keys, no CORS. */
        public static Access open() {
            return new Access(null, java.util.List.of());
        }
    }

    /**
     * How long {@link #close} lets requests in progress finish (a non-streamed LLM answer through the
     * gateway can take longer: it is cut then) while new ones are refused.
     */
    public static final long DRAIN_MS = 30_000;

    /** Threads kept for the operations paths and Jetty's own acceptor and selectors, beyond {@link Limits#maxActive}. */
    static final int SPARE_THREADS = 16;

    /**
     * The system property that picks the JDK's server instead ({@code jdk}): only {@code bench serve}
     * sets it, to measure Jetty against the server every process ran before, in the same run.
     */
    public static final String ENGINE_PROPERTY = "dualign.http.engine";

    static {
        // jetty-http-spi registers itself as the JDK's HttpServer provider; HttpServer.create (the
        // baseline, and tests' stand-in upstreams) keeps meaning the JDK's own server
        String provider = "com.sun.net.httpserver.HttpServerProvider";
        if (System.getProperty(provider) == null) {
            System.setProperty(provider, "sun.net.httpserver.DefaultHttpServerProvider");
        }
    }

    private final Server jetty;
    private final ServerConnector connector;
    private final HttpServer http;
    private final AtomicLong shed = new AtomicLong();
    private final AtomicLong unauthorized = new AtomicLong();
    private final java.util.concurrent.ConcurrentHashMap<String, AtomicLong> rateLimited = new java.util.concurrent.ConcurrentHashMap<>();

    public WebServer(String host, int port, Limits limits, String threadName) throws IOException {
        this(host, port, limits, Access.open(), threadName);
    }

    public WebServer(String host, int port, Limits limits, Access access, String threadName) throws IOException {
        if ("jdk".equals(System.getProperty(ENGINE_PROPERTY))) {
            jetty = null;
            connector = null;
            http = jdkBaseline(host, port, 64);
            return;
        }
        int threads = limits.maxActive() + SPARE_THREADS;
        // the QoS limit keeps API work below the thread count, so the pool's queue (Jetty's own jobs
        // included, which a bounded queue could refuse) only ever holds what a thread will soon take
        QueuedThreadPool pool = new QueuedThreadPool(threads, 4, 60_000);
        pool.setName(threadName);
        pool.setDaemon(true);
        jetty = new Server(pool);
        HttpConfiguration conf = new HttpConfiguration();
        conf.setSendServerVersion(false);
        connector = new ServerConnector(jetty, 1, 1, new HttpConnectionFactory(conf));
        connector.setHost(host);
        connector.setPort(port);
        connector.setIdleTimeout(limits.idleTimeout().toMillis());
        connector.setAcceptQueueSize(256);
        jetty.addConnector(connector);
        QoSHandler qos = new Shedding(shed);
        qos.setMaxRequestCount(limits.maxActive());
        qos.setMaxSuspendedRequestCount(limits.maxWaiting());
        qos.setMaxSuspend(limits.maxWait());
        qos.excludePath(OPS_PATHS);
        qos.setHandler(new ContextHandlerCollection());
        Handler gate = new ClientGate(access.keys(), unauthorized, rateLimited, qos);
        if (!access.corsOrigins().isEmpty()) {
            CrossOriginHandler cors = new CrossOriginHandler();
            cors.setAllowedOriginPatterns(access.corsOrigins().stream()
                    .map(o -> o.equals("*") ? ".*" : java.util.regex.Pattern.quote(o)).collect(java.util.stream.Collectors.toSet()));
            cors.setAllowedMethods(java.util.Set.of("GET", "POST", "DELETE", "OPTIONS"));
            cors.setAllowedHeaders(java.util.Set.of("Authorization", "Content-Type", "OpenAI-Organization", "OpenAI-Project"));
            cors.setExposedHeaders(java.util.Set.of("Retry-After"));
            cors.setHandler(gate);
            gate = cors;
        }
        // on close, requests in progress are answered (up to DRAIN_MS) while new ones get 503
        jetty.setHandler(new GracefulHandler(new MinimumRate(limits.minRequestBytesPerSecond(), gate)));
        jetty.setStopTimeout(DRAIN_MS);
        jetty.setErrorHandler(new JsonErrors());
        http = new JettyHttpServer(jetty, true, conf) {
            @Override
            public HttpContext createContext(String path, HttpHandler handler) {
                // the JDK matches "/v1/" as a prefix of "/v1/embeddings"; Jetty matches whole segments of "/v1"
                return super.createContext(path.length() > 1 && path.endsWith("/") ? path.substring(0, path.length() - 1) : path,
                        ex -> {
                            Draining d = new Draining(ex);
                            if (uriProblem(d) == null) {
                                handler.handle(d);
                            }
                        });
            }
        };
    }

    /** Where handlers are mounted, before or after {@link #start}. */
    public HttpServer http() {
        return http;
    }

    public WebServer start() throws IOException {
        if (jetty == null) {
            http.start();
            return this;
        }
        try {
            jetty.start();
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("cannot start the HTTP server on " + connector.getHost() + ":" + connector.getPort() + ": " + e, e);
        }
        return this;
    }

    public int port() {
        return jetty == null ? http.getAddress().getPort() : connector.getLocalPort();
    }

    /** API requests answered 503 because every slot was taken and the wait was full or ran out. */
    public long shed() {
        return shed.get();
    }

    /** API requests refused with 401: no key, or one not in the clients' keys file. */
    public long unauthorized() {
        return unauthorized.get();
    }

    /** API requests refused with 429 by each client's rate limit, by client name. */
    public java.util.Map<String, Long> rateLimited() {
        java.util.Map<String, Long> out = new java.util.TreeMap<>();
        rateLimited.forEach((k, v) -> out.put(k, v.get()));
        return out;
    }

    /** Exports what this server refused: shed (503), unauthorized (401) and rate-limited (429, by client). */
    public WebServer registerMetrics(ServiceMetrics m) {
        m.counter("dualign_http_shed_total", "API requests answered 503 at once: every slot taken and the wait full or over",
                java.util.Map.of(), this::shed);
        m.counter("dualign_http_unauthorized_total", "API requests refused with 401: no key, or one not in server.client-keys-file",
                java.util.Map.of(), this::unauthorized);
        m.counters("dualign_http_rate_limited_total", "API requests refused with 429 by their client's rate limit", () -> {
            java.util.Map<java.util.Map<String, String>, Double> out = new java.util.LinkedHashMap<>();
            rateLimited().forEach((k, v) -> out.put(java.util.Map.of("client", k), (double) v));
            return out;
        });
        return this;
    }

    /**
     * Stops taking requests (new ones get 503), lets those in progress finish for up to
     * {@link #DRAIN_MS}, then closes every connection; handlers still running then see their
     * streams fail.
     */
    @Override
    public void close() {
        if (jetty == null) {
            http.stop(0);
            ((ExecutorService) http.getExecutor()).shutdownNow();
            return;
        }
        try {
            jetty.stop();
        } catch (Exception e) {
            throw new IllegalStateException("cannot stop the HTTP server: " + e, e);
        }
    }

    /**
     * Ends a request whose body arrives slower than a floor, once it has had {@link #GRACE_MS}: Jetty
     * enforces {@link HttpConfiguration#setMinRequestDataRate} only under its servlet layer, and a
     * client that sends a byte now and then never trips the idle timeout while it holds a slot.
     */
    private static final class MinimumRate extends Handler.Wrapper {
        static final long GRACE_MS = 2_000;
        private final long bytesPerSecond;

        MinimumRate(long bytesPerSecond, Handler next) {
            super(next);
            this.bytesPerSecond = bytesPerSecond;
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback) throws Exception {
            if (bytesPerSecond <= 0) {
                return super.handle(request, response, callback);
            }
            long start = System.nanoTime();
            return super.handle(new Request.Wrapper(request) {
                private long bytes;

                @Override
                public Content.Chunk read() {
                    Content.Chunk c = super.read();
                    if (c == null || Content.Chunk.isFailure(c)) {
                        return c;
                    }
                    bytes += c.remaining();
                    long ms = (System.nanoTime() - start) / 1_000_000;
                    if (!c.isLast() && ms > GRACE_MS && bytes < bytesPerSecond * ms / 1000) {
                        c.release();
                        return Content.Chunk.from(new TimeoutException("request body arrived at " + (bytes * 1000 / ms)
                                + " B/s, below the floor of " + bytesPerSecond + " B/s"));
                    }
                    return c;
                }
            }, response, callback);
        }
    }

    /**
     * Asks every API request ({@code /v1/*}) for a client's key when there are keys, and holds each
     * client to its rate limit: 401 without a known key, 429 with {@code Retry-After} past the limit,
     * both as OpenAI-style errors. Other paths (health, metrics, the token-protected admin, the
     * dashboard) are not the API's and pass.
     */
    private static final class ClientGate extends Handler.Wrapper {
        private final ClientKeys keys;
        private final AtomicLong unauthorized;
        private final java.util.concurrent.ConcurrentHashMap<String, AtomicLong> rateLimited;

        ClientGate(ClientKeys keys, AtomicLong unauthorized, java.util.concurrent.ConcurrentHashMap<String, AtomicLong> rateLimited,
                Handler next) {
            super(next);
            this.keys = keys;
            this.unauthorized = unauthorized;
            this.rateLimited = rateLimited;
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback) throws Exception {
            String path = Request.getPathInContext(request);
            if (keys == null || !(path.equals("/v1") || path.startsWith("/v1/"))) {
                return super.handle(request, response, callback);
            }
            ClientKeys.Client c = keys.find(request.getHeaders().get(HttpHeader.AUTHORIZATION));
            if (c == null) {
                unauthorized.incrementAndGet();
                response.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer realm=\"dualign\"");
                error(response, callback, 401, "a known API key is needed: Authorization: Bearer <key>", "invalid_request_error",
                        "invalid_api_key");
                return true;
            }
            if (c.bucket() != null) {
                long wait = c.bucket().tryTake(System.nanoTime());
                if (wait > 0) {
                    rateLimited.computeIfAbsent(c.name(), k -> new AtomicLong()).incrementAndGet();
                    response.getHeaders().put(HttpHeader.RETRY_AFTER, Long.toString(Math.max(1, (wait + 999_999_999L) / 1_000_000_000L)));
                    error(response, callback, 429, "rate limit of " + c.perMinute() + " requests a minute reached for client '"
                            + c.name() + "'", "requests", "rate_limit_exceeded");
                    return true;
                }
            }
            return super.handle(request, response, callback);
        }
    }

    /** An OpenAI-style error reply. */
    static void error(Response response, Callback callback, int status, String message, String type, String code) {
        String body = "{\"error\":{\"message\":" + quote(message) + ",\"type\":" + quote(type) + ",\"param\":null,\"code\":"
                + (code == null ? "null" : quote(code)) + "}}";
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        response.write(true, ByteBuffer.wrap(body.getBytes(StandardCharsets.UTF_8)), callback);
    }

    /** A JSON string: quotes, backslashes and control characters escaped. */
    static String quote(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                sb.append('\\').append(c);
            } else if (c < 0x20 || c == 0x7f || Character.isSurrogate(c)) {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.append('"').toString();
    }

    /**
     * Jetty's own error replies (a malformed request line or header, an ambiguous or too long URI, a
     * body that does not match its length) as the OpenAI-style JSON every other error here is,
     * instead of an HTML page a client cannot read (found by the fuzz tests, issue #31).
     */
    private static final class JsonErrors extends org.eclipse.jetty.server.handler.ErrorHandler {
        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            // every method: Jetty's own handler writes no body for methods other than GET, POST and HEAD
            int code = request.getAttribute(ERROR_STATUS) instanceof Integer i ? i : response.getStatus();
            if (code == 505 || code == 501) {
                // an HTTP version or transfer coding Jetty does not speak is the client's error: a 5xx
                // here would read as the server failing (only shedding answers 5xx)
                code = 400;
                response.setStatus(400);
            }
            Object message = request.getAttribute(ERROR_MESSAGE);
            String why = message == null || message.toString().isBlank() ? org.eclipse.jetty.http.HttpStatus.getMessage(code)
                    : message.toString();
            error(response, callback, code, why, code >= 500 ? "server_error" : "invalid_request_error", null);
            return true;
        }
    }

    /**
     * Answers 400 to a request whose URI Jetty accepted and {@link java.net.URI} does not (a query
     * such as {@code ?%zz}): every handler reads {@link HttpExchange#getRequestURI}, which then threw
     * and became a 500 (found by the fuzz tests, issue #31). Returns the problem, or null when there is none.
     */
    static String uriProblem(HttpExchange ex) throws IOException {
        try {
            ex.getRequestURI();
            return null;
        } catch (IllegalArgumentException e) {
            String why = "malformed request URI: " + e.getMessage();
            byte[] b = ("{\"error\":{\"message\":" + quote(why) + ",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}")
                    .getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.getResponseHeaders().set("Cache-Control", "no-store");
            ex.sendResponseHeaders(400, b.length);
            try (java.io.OutputStream o = ex.getResponseBody()) {
                o.write(b);
            }
            ex.close();
            return why;
        }
    }

    /**
     * An exchange that reads what is left of the request body before its answer is sent (up to
     * {@link #DRAIN_LIMIT}; past that the answer says {@code Connection: close}). A handler that
     * refuses a request without reading its body (405, 401, 404, 413) otherwise leaves Jetty to close
     * the connection after the answer without saying so, and a keep-alive client's next request on
     * it fails with no answer at all (found by the fuzz tests, issue #31).
     */
    static final class Draining extends HttpExchange {
        static final int DRAIN_LIMIT = 1 << 20;
        private final HttpExchange ex;

        Draining(HttpExchange ex) {
            this.ex = ex;
        }

        @Override
        public void sendResponseHeaders(int rCode, long responseLength) throws IOException {
            try {
                java.io.InputStream in = ex.getRequestBody();
                long left = DRAIN_LIMIT;
                byte[] buf = new byte[8192];
                for (int n; left > 0 && (n = in.read(buf, 0, (int) Math.min(buf.length, left))) >= 0;) {
                    left -= n;
                }
                if (left <= 0) {
                    ex.getResponseHeaders().set("Connection", "close");
                }
            } catch (IOException e) {
                // the body could not be read (the client stalled or went away): this connection ends here
                ex.getResponseHeaders().set("Connection", "close");
            }
            ex.sendResponseHeaders(rCode, responseLength);
        }

        @Override public com.sun.net.httpserver.Headers getRequestHeaders() { return ex.getRequestHeaders(); }
        @Override public com.sun.net.httpserver.Headers getResponseHeaders() { return ex.getResponseHeaders(); }
        @Override public java.net.URI getRequestURI() { return ex.getRequestURI(); }
        @Override public String getRequestMethod() { return ex.getRequestMethod(); }
        @Override public HttpContext getHttpContext() { return ex.getHttpContext(); }
        @Override public void close() { ex.close(); }
        @Override public java.io.InputStream getRequestBody() { return ex.getRequestBody(); }
        @Override public java.io.OutputStream getResponseBody() { return ex.getResponseBody(); }
        @Override public InetSocketAddress getRemoteAddress() { return ex.getRemoteAddress(); }
        @Override public int getResponseCode() { return ex.getResponseCode(); }
        @Override public InetSocketAddress getLocalAddress() { return ex.getLocalAddress(); }
        @Override public String getProtocol() { return ex.getProtocol(); }
        @Override public Object getAttribute(String name) { return ex.getAttribute(name); }
        @Override public void setAttribute(String name, Object value) { ex.setAttribute(name, value); }
        @Override public void setStreams(java.io.InputStream i, java.io.OutputStream o) { ex.setStreams(i, o); }
        @Override public com.sun.net.httpserver.HttpPrincipal getPrincipal() { return ex.getPrincipal(); }
    }

    /** Jetty's QoS limit; its 503s carry {@code Retry-After} and an OpenAI-style error, and are counted. */
    private static final class Shedding extends QoSHandler {
        private static final byte[] BODY = ("{\"error\":{\"message\":\"the server is at capacity; try again\","
                + "\"type\":\"server_error\",\"param\":null,\"code\":\"overloaded\"}}").getBytes(StandardCharsets.UTF_8);
        private final AtomicLong shed;

        Shedding(AtomicLong shed) {
            this.shed = shed;
        }

        @Override
        protected void reject(Request request, Response response, Callback callback, int status) {
            if (status == 503) {
                overloaded(response, callback);
            } else {
                super.reject(request, response, callback, status);
            }
        }

        @Override
        protected void failSuspended(Request request, Response response, Callback callback, int status, Throwable failure) {
            if (status == 503) {
                overloaded(response, callback);
            } else {
                super.failSuspended(request, response, callback, status, failure);
            }
        }

        private void overloaded(Response response, Callback callback) {
            shed.incrementAndGet();
            if (response.isCommitted()) {
                callback.failed(new IllegalStateException("response already committed"));
                return;
            }
            response.setStatus(503);
            response.getHeaders().put(HttpHeader.RETRY_AFTER, "1");
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
            response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
            response.write(true, ByteBuffer.wrap(BODY), callback);
        }
    }

    /**
     * The JDK's own server with a fixed pool and no limit, as every process ran before decision 28:
     * kept only as the baseline {@code bench serve} measures Jetty against.
     */
    private static HttpServer jdkBaseline(String host, int port, int threads) throws IOException {
        // as bin/dualign ran it: a 10 s request-read limit and Nagle off (read once per JVM, at the first server)
        System.setProperty("sun.net.httpserver.maxReqTime", System.getProperty("sun.net.httpserver.maxReqTime", "10"));
        System.setProperty("sun.net.httpserver.nodelay", System.getProperty("sun.net.httpserver.nodelay", "true"));
        HttpServer s = HttpServer.create(new InetSocketAddress(host, port), 64);
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "dualign-jdk-http");
            t.setDaemon(true);
            return t;
        });
        s.setExecutor(pool);
        return s;
    }
}
