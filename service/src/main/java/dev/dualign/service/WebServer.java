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
     * API paths that change what serves and check the admin token themselves ({@link
     * OpsSurface#unauthorized}): vLLM's runtime adapter calls. Like {@code /admin/*} they are outside
     * the load limit, and the client-key gate leaves them to that check (a client's key never loads
     * or unloads a version).
     */
    public static final String[] ADMIN_API_PATHS = {"/v1/load_lora_adapter", "/v1/unload_lora_adapter"};

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
        dev.dualign.core.config.JdkHttpServerProvider.pin();
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
        QoSHandler qos = new JettyHandlers.Shedding(shed);
        qos.setMaxRequestCount(limits.maxActive());
        qos.setMaxSuspendedRequestCount(limits.maxWaiting());
        qos.setMaxSuspend(limits.maxWait());
        qos.excludePath(OPS_PATHS);
        qos.excludePath(ADMIN_API_PATHS);
        qos.setHandler(new ContextHandlerCollection());
        Handler gate = new JettyHandlers.ClientGate(access.keys(), unauthorized, rateLimited, qos);
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
        jetty.setHandler(new GracefulHandler(new JettyHandlers.MinimumRate(limits.minRequestBytesPerSecond(), gate)));
        jetty.setStopTimeout(DRAIN_MS);
        jetty.setErrorHandler(new JettyHandlers.JsonErrors());
        http = new JettyHttpServer(jetty, true, conf) {
            @Override
            public HttpContext createContext(String path, HttpHandler handler) {
                // the JDK matches "/v1/" as a prefix of "/v1/embeddings"; Jetty matches whole segments of "/v1"
                return super.createContext(path.length() > 1 && path.endsWith("/") ? path.substring(0, path.length() - 1) : path,
                        ex -> {
                            DrainingExchange.Draining d = new DrainingExchange.Draining(ex);
                            if (DrainingExchange.uriProblem(d) == null) {
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
