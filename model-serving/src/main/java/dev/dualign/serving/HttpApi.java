package dev.dualign.serving;

import dev.dualign.service.ServiceMetrics;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.dualign.core.event.ResponseEvent;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's HTTP face: the OpenAI-compatible {@code /v1/chat/completions} and {@code /v1/models}
 * ({@link OpenAiApi}), Dualign's own {@code POST /v1/chat}, the token-protected admin endpoints and
 * the dashboard (a page, the Chart.js bundle from its WebJar and {@code /api/state}). Built on the
 * JDK's HTTP server so serving needs nothing beyond the jar. Chat requests are batched dynamically
 * ({@link ChatBatcher}) and routed by a key the server makes. Every request waits at most the
 * configured request timeout for its answer; a client that does not finish sending its request
 * within {@link #READ_TIMEOUT_PROPERTY} is disconnected; an admin call without the right bearer
 * token gets 401 and changes nothing.
 */
public final class HttpApi implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HttpApi.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    static final int MAX_BODY = 64 * 1024;
    /**
     * The JDK server's request-read limit, in seconds: a connection that has not delivered its whole
     * request (headers and body) within it is closed, which frees the thread blocked reading it.
     * Without it, a few clients that open a request and never finish it hold every handler thread,
     * and {@code /healthz} and chat stop answering. The JDK reads the property once, when its first
     * HTTP server in the JVM starts (bin/dualign passes it on the command line for that reason);
     * it is set here only when nothing set it before.
     */
    public static final String READ_TIMEOUT_PROPERTY = "sun.net.httpserver.maxReqTime";
    static final String DEFAULT_READ_TIMEOUT_S = "10";
    /**
     * Handler threads: more than the slow clients a timeout period can pile up in ordinary use, so
     * health checks and chat keep a thread while the read timeout reaps them. Each waits mostly on
     * I/O or on the model workers, so they are cheap.
     */
    static final int HANDLER_THREADS = 64;

    /**
     * The JDK server leaves Nagle's algorithm on: a reply written as headers and then body waits for
     * the client's delayed ACK, about 40 ms per request (measured: a lone client took 71 ms for a
     * 26 ms generation). Read once, like the read timeout; set here when nothing set it before.
     */
    public static final String NO_DELAY_PROPERTY = "sun.net.httpserver.nodelay";

    static {
        if (System.getProperty(READ_TIMEOUT_PROPERTY) == null) {
            System.setProperty(READ_TIMEOUT_PROPERTY, DEFAULT_READ_TIMEOUT_S);
        }
        if (System.getProperty(NO_DELAY_PROPERTY) == null) {
            System.setProperty(NO_DELAY_PROPERTY, "true");
        }
    }
    /** chart.js from its WebJar, whatever version the parent pom pins (read from the WebJar's pom.properties). */
    static final String CHART_JS = "META-INF/resources/webjars/chart.js/" + webJarVersion("org.webjars.npm", "chart.js")
            + "/dist/chart.umd.js";

    private static String webJarVersion(String group, String artifact) {
        String props = "META-INF/maven/" + group + "/" + artifact + "/pom.properties";
        try (var in = HttpApi.class.getClassLoader().getResourceAsStream(props)) {
            if (in == null) {
                throw new IllegalStateException(props + " is missing: the " + artifact + " WebJar is not on the class path");
            }
            java.util.Properties p = new java.util.Properties();
            p.load(in);
            return p.getProperty("version");
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private final PolicyServer server;
    private final Consumer<List<ResponseEvent>> sink;
    private final Supplier<Object> state;
    private final HttpServer http;
    private final ChatBatcher batcher;
    private final ServiceMetrics metrics;
    /** Requests that may wait for a batch, per response a batch holds; more are refused with 503 at once. */
    static final int QUEUE_PER_BATCH_ROW = 4;
    /** How long a batch waits for more requests under concurrent load (measured: bench serve, docs/benchmarks.md). */
    static final double BATCH_WAIT_MS = 5;

    static final String REQUESTS = "dualign_chat_requests_total";
    static final String LATENCY = "dualign_chat_latency_seconds";

    /** What the server itself shows: versions served, the canary's share, answers per version, version events. */
    private static void registerServerMetrics(PolicyServer server, ServiceMetrics m) {
        m.gauge("dualign_serving_version", "Policy version in each slot (-1: none)", Map.of("slot", "stable"),
                () -> server.deployment().stable());
        m.gauge("dualign_serving_version", "Policy version in each slot (-1: none)", Map.of("slot", "canary"),
                () -> server.deployment().canary());
        m.gauge("dualign_canary_share", "Share of prompts the canary answers (0 without a canary)", Map.of(),
                () -> server.deployment().canary() < 0 ? 0 : server.deployment().canaryFraction());
        m.gauges("dualign_answers_total", "Responses generated per policy version since start (HTTP and Kafka)", () -> {
            Map<Map<String, String>, Double> out = new LinkedHashMap<>();
            server.answeredPerVersion().forEach((v, n) -> out.put(Map.of("version", Long.toString(v)), (double) n));
            return out;
        });
        server.addListener(e -> m.inc("dualign_version_events_total",
                "Deployment events by kind (canary, promote, rollback, retire, refused, …)", Map.of("event", e.kind())));
    }

    /**
     * @param sink where answered responses go as well (e.g. {@code dualign.responses}); may be null
     * @param state the dashboard's data; null serves no dashboard
     */
    public HttpApi(PolicyServer server, Consumer<List<ResponseEvent>> sink, Supplier<Object> state) throws IOException {
        this(server, sink, state, () -> null);
    }

    /**
     * @param problem why the server is not fully working (e.g. {@link ServingLoop#problem()}), null
     *     when it is: {@code /healthz} then answers 503 with it, so an orchestrator stops routing here
     */
    public HttpApi(PolicyServer server, Consumer<List<ResponseEvent>> sink, Supplier<Object> state, Supplier<String> problem)
            throws IOException {
        this(server, sink, state, problem, new ServiceMetrics());
    }

    /**
     * @param metrics where the server's metrics go, served at {@code /metrics} with whatever else
     *     registered there (the fine-tuner's, when it runs in the same process)
     */
    public HttpApi(PolicyServer server, Consumer<List<ResponseEvent>> sink, Supplier<Object> state, Supplier<String> problem,
            ServiceMetrics metrics) throws IOException {
        this.server = server;
        this.metrics = metrics;
        registerServerMetrics(server, metrics);
        this.sink = sink;
        this.state = state;
        ServerSettings s = server.settings();
        this.http = HttpServer.create(new InetSocketAddress(s.host(), s.port()), 64);
        this.batcher = new ChatBatcher(s.batch(), s.batch() * QUEUE_PER_BATCH_ROW, BATCH_WAIT_MS, server::answerAll, this::afterBatch,
                (rows, seconds) -> {
                    metrics.observe("dualign_chat_batch_responses", "Responses per batched generation of HTTP requests",
                            BATCH_BUCKETS, rows);
                    metrics.observe("dualign_chat_batch_seconds", "Time of each batched generation of HTTP requests",
                            ServiceMetrics.LATENCY_BUCKETS, seconds);
                });
        OpenAiApi openAi = new OpenAiApi(server, batcher, metrics);
        http.setExecutor(Executors.newFixedThreadPool(HANDLER_THREADS, r -> {
            Thread t = new Thread(r, "dualign-http");
            t.setDaemon(true);
            return t;
        }));
        http.createContext("/v1/chat", ex -> handle(ex, this::chat));
        // OpenAI's endpoints write their own error objects: handle() only closes the exchange and logs a lost client
        http.createContext("/v1/chat/completions", ex -> handle(ex, openAi::completions));
        http.createContext("/v1/models", ex -> handle(ex, openAi::models));
        http.createContext("/admin/versions", ex -> handle(ex, e -> admin(e, "GET", this::versions)));
        http.createContext("/admin/promote", ex -> handle(ex, e -> admin(e, "POST", this::promote)));
        http.createContext("/admin/rollback", ex -> handle(ex, e -> admin(e, "POST", this::rollback)));
        http.createContext("/admin/deploy", ex -> handle(ex, e -> admin(e, "POST", this::deploy)));
        http.createContext("/healthz", ex -> handle(ex, e -> {
            String why = problem.get();
            reply(e, why == null ? 200 : 503, why == null ? Map.of("status", "ok", "deployment", server.deployment())
                    : Map.of("status", "degraded", "problem", why, "deployment", server.deployment()));
        }));
        http.createContext("/metrics", ex -> handle(ex, e -> {
            byte[] text = metrics.scrape().getBytes(StandardCharsets.UTF_8);
            e.getResponseHeaders().add("Content-Type", ServiceMetrics.CONTENT_TYPE);
            e.sendResponseHeaders(200, text.length);
            try (OutputStream o = e.getResponseBody()) {
                o.write(text);
            }
        }));
        http.createContext("/", ex -> handle(ex, this::dashboard));
        http.start();
    }

    public int port() {
        return http.getAddress().getPort();
    }

    public String url() {
        return "http://" + server.settings().host() + ":" + port() + "/";
    }

    @FunctionalInterface
    private interface Handler {
        void handle(HttpExchange ex) throws Exception;
    }

    private static void handle(HttpExchange ex, Handler h) {
        // not try-with-resources: the error reply must be written before the exchange closes
        try {
            h.handle(ex);
        } catch (BadRequest e) {
            quietly(ex, e.status, Map.of("error", e.getMessage()));
        } catch (IOException e) {
            // the client went away, or was disconnected for not finishing its request in time
            LOG.warn("{} {}: connection lost ({})", ex.getRequestMethod(), ex.getRequestURI(), e.toString());
        } catch (Exception e) {
            LOG.error("{} {} failed", ex.getRequestMethod(), ex.getRequestURI(), e);
            quietly(ex, 500, Map.of("error", String.valueOf(e.getMessage())));
        } finally {
            ex.close();
        }
    }

    private static void quietly(HttpExchange ex, int status, Object body) {
        try {
            reply(ex, status, body);
        } catch (IOException ignored) {
            // the client is gone
        }
    }

    private static final class BadRequest extends RuntimeException {
        final int status;

        BadRequest(int status, String message) {
            super(message);
            this.status = status;
        }
    }

    private void chat(HttpExchange ex) throws Exception {
        long t0 = System.nanoTime();
        try {
            long version = answerChat(ex);
            countChat(Long.toString(version), "ok");
            metrics.observe(LATENCY, "Chat latency, request read to answer written", ServiceMetrics.LATENCY_BUCKETS,
                    (System.nanoTime() - t0) / 1e9);
        } catch (BadRequest e) {
            countChat("none", e.status == 503 ? "timeout" : "bad_request");
            throw e;
        } catch (IOException e) {
            countChat("none", "connection_lost");
            throw e;
        } catch (Exception e) {
            countChat("none", "error");
            throw e;
        }
    }

    private void countChat(String version, String outcome) {
        metrics.inc(REQUESTS, "Chat requests by the version that answered and the outcome",
                Map.of("version", version, "outcome", outcome));
    }

    /** Answers one chat request; returns the version that answered it. */
    private long answerChat(HttpExchange ex) throws Exception {
        requireMethod(ex, "POST");
        JsonNode body = body(ex);
        JsonNode prompt = body.get("prompt");
        if (prompt == null || !prompt.isTextual()) {
            throw new BadRequest(400, "field 'prompt' must be a string");
        }
        String problem = server.problem(prompt.asText());
        if (problem != null) {
            throw new BadRequest(400, "field 'prompt': " + problem);
        }
        String id = body.hasNonNull("id") ? body.get("id").asText() : UUID.randomUUID().toString();
        // the client's id names the prompt in the events; routing hashes a key only the server knows
        PolicyServer.Ask ask = new PolicyServer.Ask(new PolicyServer.Prompt(id, prompt.asText()), UUID.randomUUID().toString(),
                server.settings().temperature(), 1.0, server.settings().maxTokens());
        ChatBatcher.Pending p = new ChatBatcher.Pending(List.of(ask), null);
        if (!batcher.submit(p)) {
            ex.getResponseHeaders().add("Retry-After", "1");
            throw new BadRequest(503, "the server has " + batcher.queued() + " requests waiting; try again");
        }
        ResponseEvent r;
        try {
            r = p.result.get(server.settings().requestTimeoutMs(), TimeUnit.MILLISECONDS).get(0).event();
        } catch (TimeoutException e) {
            p.result.cancel(false);
            ex.getResponseHeaders().add("Retry-After", "1");
            throw new BadRequest(503, "no answer within " + server.settings().requestTimeoutMs() + " ms; try again");
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof IllegalArgumentException) {
                throw new BadRequest(400, e.getCause().getMessage());
            }
            throw e;
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", r.id());
        out.put("promptId", r.promptId());
        out.put("response", r.response());
        out.put("policyVersion", r.policyVersion());
        out.put("logprob", r.logprob());
        out.put("refLogprob", r.refLogprob());
        reply(ex, 200, out);
        return r.policyVersion();
    }

    static final double[] BATCH_BUCKETS = {1, 2, 4, 8, 16, 32, 64, 128, 256};

    /**
     * After a batch is answered, on the batch thread: its exchanges go to the sink, with reference
     * samples for the prompts the reference fraction picks (by route key, once per request).
     */
    private void afterBatch(List<PolicyServer.Answer> answers) {
        if (sink == null) {
            return;
        }
        // off the batch thread: a slow broker (a producer blocks up to max.block.ms) must not stall chat
        try {
            sinkThread.execute(() -> log(answers));
        } catch (java.util.concurrent.RejectedExecutionException e) {
            metrics.add("dualign_http_answers_dropped_total", "HTTP answers not sent to Kafka because the sink was too far behind",
                    Map.of(), answers.size());
            LOG.error("{} answers not logged: the Kafka sink is {} batches behind", answers.size(), SINK_BACKLOG);
        }
    }

    /** Bounded: beyond it answers are counted as dropped rather than held in memory without limit. */
    static final int SINK_BACKLOG = 1024;

    private final java.util.concurrent.ThreadPoolExecutor sinkThread = new java.util.concurrent.ThreadPoolExecutor(1, 1, 0,
            TimeUnit.MILLISECONDS, new java.util.concurrent.ArrayBlockingQueue<>(SINK_BACKLOG), r -> {
                Thread t = new Thread(r, "dualign-http-sink");
                t.setDaemon(true);
                return t;
            });

    private void log(List<PolicyServer.Answer> answers) {
        List<ResponseEvent> all = new ArrayList<>();
        answers.forEach(a -> all.addAll(a.events())); // under enforcement, with their candidates
        Map<String, PolicyServer.Prompt> forReference = new LinkedHashMap<>();
        for (PolicyServer.Answer a : answers) {
            // every response of one request shares its prompt id, and its route key decided the sampling
            if (a.routeKey() != null && server.sampledForReference(a.routeKey())) {
                forReference.putIfAbsent(a.event().promptId(), new PolicyServer.Prompt(a.event().promptId(), a.event().prompt()));
            }
        }
        if (!forReference.isEmpty()) {
            all.addAll(server.referenceSamples(List.copyOf(forReference.values()), server.settings().referenceSamples()));
        }
        sink.accept(all);
    }

    private void admin(HttpExchange ex, String method, Handler h) throws Exception {
        String token = server.settings().adminToken();
        String given = ex.getRequestHeaders().getFirst("Authorization");
        if (token == null || token.isBlank() || given == null || !given.startsWith("Bearer ")
                || !MessageDigest.isEqual(token.getBytes(StandardCharsets.UTF_8),
                        given.substring(7).trim().getBytes(StandardCharsets.UTF_8))) {
            ex.getResponseHeaders().add("WWW-Authenticate", "Bearer realm=\"dualign-admin\"");
            reply(ex, 401, Map.of("error", token == null || token.isBlank()
                    ? "admin endpoints are disabled: set server.admin-token" : "missing or invalid bearer token"));
            return;
        }
        requireMethod(ex, method);
        h.handle(ex);
    }

    private void versions(HttpExchange ex) throws IOException {
        reply(ex, 200, server.describe());
    }

    private void promote(HttpExchange ex) throws IOException {
        JsonNode body = body(ex);
        long v = body.hasNonNull("version") ? body.get("version").asLong() : -1;
        boolean ok = server.promote(v, "admin promote");
        if (!ok && v >= 0 && server.deployment().canary() != v) {
            // not the canary: deploy that version directly
            ok = server.deploy(v, null, true);
            if (!ok) {
                throw new BadRequest(409, server.lastRefusal());
            }
        } else if (!ok) {
            throw new BadRequest(409, "there is no canary to promote");
        }
        reply(ex, 200, Map.of("deployment", server.deployment()));
    }

    private void rollback(HttpExchange ex) throws IOException {
        long now = server.rollback("admin rollback");
        if (now < 0) {
            throw new BadRequest(409, "nothing to roll back to");
        }
        reply(ex, 200, Map.of("deployment", server.deployment()));
    }

    private void deploy(HttpExchange ex) throws IOException {
        JsonNode body = body(ex);
        if (!body.hasNonNull("version") || !body.get("version").canConvertToLong()) {
            throw new BadRequest(400, "field 'version' must be an integer");
        }
        boolean canary = body.path("canary").asBoolean(true);
        if (!server.deploy(body.get("version").asLong(), null, !canary)) {
            throw new BadRequest(409, server.lastRefusal());
        }
        reply(ex, 200, Map.of("deployment", server.deployment()));
    }

    private void dashboard(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        if (state == null) {
            throw new BadRequest(404, "no dashboard here");
        }
        switch (path) {
            case "/", "/index.html" -> resource(ex, "dev/dualign/dashboard/index.html", "text/html; charset=utf-8");
            case "/dashboard.js" -> resource(ex, "dev/dualign/dashboard/dashboard.js", "text/javascript; charset=utf-8");
            case "/chart.umd.js" -> resource(ex, CHART_JS, "text/javascript; charset=utf-8");
            case "/api/state" -> reply(ex, 200, state.get());
            default -> throw new BadRequest(404, "not found: " + path);
        }
    }

    private static void resource(HttpExchange ex, String name, String type) throws IOException {
        try (InputStream in = HttpApi.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) {
                throw new BadRequest(404, "missing resource " + name);
            }
            byte[] b = in.readAllBytes();
            ex.getResponseHeaders().add("Content-Type", type);
            ex.sendResponseHeaders(200, b.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(b);
            }
        }
    }

    private static void requireMethod(HttpExchange ex, String method) {
        if (!ex.getRequestMethod().equals(method)) {
            ex.getResponseHeaders().add("Allow", method);
            throw new BadRequest(405, ex.getRequestMethod() + " not allowed; use " + method);
        }
    }

    private static JsonNode body(HttpExchange ex) throws IOException {
        byte[] b = ex.getRequestBody().readNBytes(MAX_BODY + 1);
        if (b.length > MAX_BODY) {
            throw new BadRequest(413, "body larger than " + MAX_BODY + " bytes");
        }
        if (b.length == 0) {
            return JSON.createObjectNode();
        }
        try {
            JsonNode n = JSON.readTree(b);
            if (n == null || !n.isObject()) {
                throw new BadRequest(400, "body must be a JSON object");
            }
            return n;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new BadRequest(400, "body is not valid JSON: " + e.getOriginalMessage());
        }
    }

    static void reply(HttpExchange ex, int status, Object body) throws IOException {
        byte[] b = JSON.writeValueAsBytes(body);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream o = ex.getResponseBody()) {
            o.write(b);
        }
    }

    @Override
    public void close() {
        http.stop(0);
        batcher.close();
        sinkThread.shutdown();
        try {
            sinkThread.awaitTermination(10, TimeUnit.SECONDS); // what was answered reaches the sink
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        ((ExecutorService) http.getExecutor()).shutdownNow();
    }
}
