package dev.dualign.serving;

import dev.dualign.service.OpsSurface;
import dev.dualign.service.ServiceMetrics;
import dev.dualign.service.WebServer;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.dualign.core.event.ResponseEvent;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's HTTP face: the OpenAI-compatible {@code /v1/chat/completions} ({@link OpenAiApi}),
 * {@code /v1/models} with vLLM's runtime adapter calls ({@link AdapterApi}), Dualign's own
 * {@code POST /v1/chat}, the token-protected admin endpoints and
 * the dashboard (a page, the Chart.js bundle from its WebJar and {@code /api/state}), on
 * {@link WebServer}: past its limit a request gets 503 with {@code Retry-After} at once, and health
 * and admin answer under any load. Chat requests are batched dynamically ({@link ChatBatcher}) and
 * routed by a key the server makes. Every request waits at most the configured request timeout for
 * its answer; an admin call without the right bearer token gets 401 and changes nothing.
 */
public final class HttpApi implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HttpApi.class);
    static final int MAX_BODY = 64 * 1024;
    private final PolicyServer server;
    private final HttpAnswerLog answerLog;
    private final Dashboard dashboard;
    private final WebServer web;
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
        m.counters("dualign_answers_total", "Responses generated per policy version since start (HTTP and Kafka)", () -> {
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
        this(server, sink, state, problem, metrics, WebServer.Limits.api(), WebServer.Access.open());
    }

    /**
     * @param limits how much work the HTTP server takes on ({@code server.http.*})
     * @param access who may call {@code /v1/*}: the clients' keys, the CORS origins
     */
    public HttpApi(PolicyServer server, Consumer<List<ResponseEvent>> sink, Supplier<Object> state, Supplier<String> problem,
            ServiceMetrics metrics, WebServer.Limits limits, WebServer.Access access) throws IOException {
        this.server = server;
        this.metrics = metrics;
        registerServerMetrics(server, metrics);
        this.answerLog = new HttpAnswerLog(server, sink, metrics);
        this.dashboard = new Dashboard(state);
        ServerSettings s = server.settings();
        this.web = new WebServer(s.host(), s.port(), limits, access, "dualign-http");
        HttpServer http = web.http();
        this.batcher = new ChatBatcher(s.batch(), s.batch() * QUEUE_PER_BATCH_ROW, BATCH_WAIT_MS, server::answerAll, answerLog::afterBatch,
                (rows, seconds) -> {
                    metrics.observe("dualign_chat_batch_responses", "Responses per batched generation of HTTP requests",
                            BATCH_BUCKETS, rows);
                    metrics.observe("dualign_chat_batch_seconds", "Time of each batched generation of HTTP requests",
                            ServiceMetrics.LATENCY_BUCKETS, seconds);
                });
        OpenAiApi openAi = new OpenAiApi(server, batcher, metrics);
        http.createContext("/v1/chat", ex -> handle(ex, this::chat));
        // OpenAI's endpoints write their own error objects: handle() only closes the exchange and logs a lost client
        http.createContext("/v1/chat/completions", ex -> handle(ex, openAi::completions));
        AdapterApi models = new AdapterApi(server);
        http.createContext("/v1/models", ex -> handle(ex, models::models));
        // vLLM's runtime adapter calls (admin token; outside the client keys and the load limit: WebServer.ADMIN_API_PATHS)
        http.createContext("/v1/load_lora_adapter", ex -> handle(ex, models::load));
        http.createContext("/v1/unload_lora_adapter", ex -> handle(ex, models::unload));
        AdminRoutes.mount(new OpsSurface(metrics, problem).details(() -> Map.of("deployment", server.deployment(), "lambda",
                server.lambda())), server)
                .mountOn(http);
        http.createContext("/", ex -> handle(ex, dashboard::serve));
        web.registerMetrics(metrics);
        web.start();
    }

    public int port() {
        return web.port();
    }

    public String url() {
        return "http://" + server.settings().host() + ":" + port() + "/";
    }

    @FunctionalInterface
    private interface Handler {
        void handle(HttpExchange ex) throws Exception;
    }

    /** Requests being handled; {@link #close} waits for them. */
    private final java.util.concurrent.atomic.AtomicInteger inFlight = new java.util.concurrent.atomic.AtomicInteger();
    private volatile boolean closing;

    private void handle(HttpExchange ex, Handler h) {
        // not try-with-resources: the error reply must be written before the exchange closes
        inFlight.incrementAndGet();
        try {
            if (closing) {
                ex.getResponseHeaders().add("Retry-After", "1");
                throw new OpsSurface.Refusal(503, "the server is shutting down");
            }
            String held = server.held();
            if (held != null && ex.getRequestURI().getPath().startsWith("/v1/")) {
                ex.getResponseHeaders().add("Retry-After", "1");
                throw new OpsSurface.Refusal(503, "not answering yet: " + held);
            }
            h.handle(ex);
        } catch (OpsSurface.Refusal e) {
            OpsSurface.quietly(ex, e.status(), Map.of("error", e.getMessage()));
        } catch (IOException e) {
            // the client went away, or was disconnected for not finishing its request in time
            LOG.warn("{} {}: connection lost ({})", ex.getRequestMethod(), ex.getRequestURI(), e.toString());
        } catch (Exception e) {
            LOG.error("{} {} failed", ex.getRequestMethod(), ex.getRequestURI(), e);
            OpsSurface.quietly(ex, 500, Map.of("error", String.valueOf(e.getMessage())));
        } finally {
            ex.close();
            inFlight.decrementAndGet();
        }
    }

    private void chat(HttpExchange ex) throws Exception {
        long t0 = System.nanoTime();
        try {
            long version = answerChat(ex);
            countChat(Long.toString(version), "ok");
            metrics.observe(LATENCY, "Chat latency, request read to answer written", ServiceMetrics.LATENCY_BUCKETS,
                    (System.nanoTime() - t0) / 1e9);
        } catch (OpsSurface.Refusal e) {
            countChat("none", e.status() == 503 ? "timeout" : "bad_request");
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
        OpsSurface.requireMethod(ex, "POST");
        JsonNode body = OpsSurface.jsonBody(ex);
        JsonNode prompt = body.get("prompt");
        if (prompt == null || !prompt.isTextual()) {
            throw new OpsSurface.Refusal(400, "field 'prompt' must be a string");
        }
        String problem = server.problem(prompt.asText());
        if (problem != null) {
            throw new OpsSurface.Refusal(400, "field 'prompt': " + problem);
        }
        JsonNode clientId = body.get("id");
        if (clientId != null && !clientId.isNull()
                && (!clientId.isTextual() || clientId.asText().isEmpty() || clientId.asText().length() > ResponseEvent.MAX_CLIENT_ID)) {
            throw new OpsSurface.Refusal(400, "field 'id' must be a non-empty string of at most " + ResponseEvent.MAX_CLIENT_ID + " characters");
        }
        // the server names the prompt, which estimates group by; the client's id is only a label, and
        // routing hashes a key only the server knows: no client chooses its version or what is pooled
        String id = "chat-" + UUID.randomUUID();
        String label = clientId == null || clientId.isNull() ? null : clientId.asText();
        PolicyServer.Ask ask = new PolicyServer.Ask(new PolicyServer.Prompt(id, prompt.asText(), label), UUID.randomUUID().toString(),
                server.settings().temperature(), 1.0, server.settings().maxTokens());
        ChatBatcher.Pending p = new ChatBatcher.Pending(List.of(ask), null);
        if (!batcher.submit(p)) {
            ex.getResponseHeaders().add("Retry-After", "1");
            throw new OpsSurface.Refusal(503, "the server has " + batcher.queued() + " requests waiting; try again");
        }
        ResponseEvent r;
        try {
            r = p.result.get(server.settings().requestTimeoutMs(), TimeUnit.MILLISECONDS).get(0).event();
        } catch (TimeoutException e) {
            p.result.cancel(false);
            ex.getResponseHeaders().add("Retry-After", "1");
            throw new OpsSurface.Refusal(503, "no answer within " + server.settings().requestTimeoutMs() + " ms; try again");
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof IllegalArgumentException) {
                throw new OpsSurface.Refusal(400, e.getCause().getMessage());
            }
            throw e;
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", r.id());
        out.put("promptId", r.promptId());
        if (r.clientId() != null) {
            out.put("clientId", r.clientId());
        }
        out.put("response", r.response());
        out.put("policyVersion", r.policyVersion());
        out.put("logprob", r.logprob());
        out.put("refLogprob", r.refLogprob());
        OpsSurface.reply(ex, 200, out);
        return r.policyVersion();
    }

    static final double[] BATCH_BUCKETS = {1, 2, 4, 8, 16, 32, 64, 128, 256};

    @Override
    public void close() {
        // new requests get 503; those in flight are answered (the batcher still runs), up to the request timeout
        closing = true;
        long until = System.nanoTime() + server.settings().requestTimeoutMs() * 1_000_000L;
        while (inFlight.get() > 0 && System.nanoTime() < until) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        web.close();
        batcher.close();
        answerLog.close();
    }
}
