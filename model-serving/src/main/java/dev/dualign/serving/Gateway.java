package dev.dualign.serving;

import dev.dualign.service.ServiceMetrics;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.dualign.core.control.TiltedChoice;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.model.scorer.ScorerSet;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gateway mode ({@code server.backend: upstream}): Dualign in front of an existing
 * OpenAI-compatible chatbot. Chat-completion requests go to the upstream as they came, its answer
 * comes back unchanged (status, body, and server-sent events as they arrive), and every answered
 * choice is logged to {@code dualign.responses} under the upstream deployment's version number, with
 * log π from the upstream's token log-probabilities when it returns them. log π_ref is unknown
 * here, so it is left out and the job reports the version's KL as unknown.
 *
 * <p>With enforcement ({@code dual.mode: enforce}) the gateway asks the upstream for K times the
 * choices, scores them with the job's scorers and returns, per choice wanted, one of its K
 * candidates drawn by {@link TiltedChoice} with the live λ; the upstream is the reference here,
 * so its token log-probabilities give log π_ref, and all K are logged as reference samples.
 */
public final class Gateway implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Gateway.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * @param host bind address
     * @param port port (0: any free one)
     * @param upstream the upstream's base URL, up to and including {@code /v1}
     * @param apiKey the upstream's bearer token, or null
     * @param version the version number its answers are logged under ({@code server.upstream.version})
     * @param requestTimeoutMs most a request waits for the upstream to start answering
     */
    public record Settings(String host, int port, URI upstream, String apiKey, long version, long requestTimeoutMs) {

        public Settings {
            if (version < 0) {
                throw new IllegalArgumentException("version must be ≥ 0, got " + version);
            }
            String s = upstream.toString();
            if (!s.startsWith("http://") && !s.startsWith("https://")) {
                throw new IllegalArgumentException("upstream URL must be http(s), got " + s);
            }
        }

        URI resolve(String path) {
            String base = upstream.toString().replaceAll("/+$", "");
            return URI.create(base + path);
        }
    }

    private final Settings settings;
    private final Consumer<List<ResponseEvent>> sink;
    private final ServiceMetrics metrics;
    private final HttpServer http;
    private final HttpClient client;
    private final ExecutorService handlers;
    private final Enforcer enforcer;
    /** Most choices one request may ask an enforcing gateway for (each costs K from the upstream). */
    static final int MAX_N = 16;

    public Gateway(Settings settings, Consumer<List<ResponseEvent>> sink, ServiceMetrics metrics, Supplier<String> problem)
            throws IOException {
        this(settings, sink, metrics, problem, null, null);
    }

    /**
     * @param enforce enforcement at inference, or null
     * @param scorers the job's scorers, for enforcement (closed with the gateway); null without
     */
    public Gateway(Settings settings, Consumer<List<ResponseEvent>> sink, ServiceMetrics metrics, Supplier<String> problem,
            ServerSettings.Enforce enforce, ScorerSet scorers) throws IOException {
        if ((enforce == null) != (scorers == null)) {
            throw new IllegalArgumentException("enforcement needs its scorers, and scorers are for enforcement");
        }
        this.enforcer = enforce == null ? null : new Enforcer(enforce, scorers, 7);
        this.settings = settings;
        this.sink = sink;
        this.metrics = metrics;
        this.client = HttpClient.newBuilder().connectTimeout(Duration.ofMillis(Math.min(10_000, settings.requestTimeoutMs())))
                .version(HttpClient.Version.HTTP_1_1).build();
        this.http = HttpServer.create(new InetSocketAddress(settings.host(), settings.port()), 64);
        this.handlers = Executors.newFixedThreadPool(HttpApi.HANDLER_THREADS, r -> {
            Thread t = new Thread(r, "dualign-gateway");
            t.setDaemon(true);
            return t;
        });
        http.setExecutor(handlers);
        http.createContext("/v1/chat/completions", ex -> serve(ex, this::completions));
        http.createContext("/v1/models", ex -> serve(ex, this::models));
        http.createContext("/healthz", ex -> serve(ex, e -> {
            String why = problem.get();
            ObjectNode body = JSON.createObjectNode().put("status", why == null ? "ok" : "degraded")
                    .put("upstream", settings.upstream().toString());
            if (why != null) {
                body.put("problem", why);
            }
            HttpApi.reply(e, why == null ? 200 : 503, body);
        }));
        http.createContext("/metrics", ex -> serve(ex, e -> {
            byte[] text = metrics.scrape().getBytes(StandardCharsets.UTF_8);
            e.getResponseHeaders().add("Content-Type", ServiceMetrics.CONTENT_TYPE);
            e.sendResponseHeaders(200, text.length);
            try (OutputStream o = e.getResponseBody()) {
                o.write(text);
            }
        }));
        http.start();
    }

    public int port() {
        return http.getAddress().getPort();
    }

    public String url() {
        return "http://" + settings.host() + ":" + port() + "/";
    }

    @FunctionalInterface
    private interface Handler {
        void handle(HttpExchange ex) throws IOException;
    }

    private static void serve(HttpExchange ex, Handler h) {
        try {
            h.handle(ex);
        } catch (IOException e) {
            LOG.warn("{} {}: connection lost ({})", ex.getRequestMethod(), ex.getRequestURI(), e.toString());
        } catch (RuntimeException e) {
            LOG.error("{} {} failed", ex.getRequestMethod(), ex.getRequestURI(), e);
            error(ex, 500, "server_error", e.toString());
        } finally {
            ex.close();
        }
    }

    /** An OpenAI-style error of the gateway's own (the upstream's errors pass through unchanged). */
    private static void error(HttpExchange ex, int status, String type, String message) {
        if (ex.getResponseCode() != -1) {
            return;
        }
        ObjectNode body = JSON.createObjectNode();
        body.putObject("error").put("message", message).put("type", type).putNull("param").putNull("code");
        try {
            HttpApi.reply(ex, status, body);
        } catch (IOException ignored) {
            // the client is gone
        }
    }

    private HttpRequest.Builder upstream(String path) {
        HttpRequest.Builder b = HttpRequest.newBuilder(settings.resolve(path)).timeout(Duration.ofMillis(settings.requestTimeoutMs()));
        if (settings.apiKey() != null && !settings.apiKey().isBlank()) {
            b.header("Authorization", "Bearer " + settings.apiKey());
        }
        return b;
    }

    /** A model id as a path segment: nothing that could walk the upstream's other paths with its key. */
    private static final java.util.regex.Pattern MODELS_PATH = java.util.regex.Pattern.compile("/v1/models(/[A-Za-z0-9._:\\-]+)?/?");

    private void models(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        if (!MODELS_PATH.matcher(path).matches()) {
            error(ex, 404, "invalid_request_error", "not found: " + path);
            return;
        }
        if (!ex.getRequestMethod().equals("GET")) {
            ex.getResponseHeaders().add("Allow", "GET");
            error(ex, 405, "invalid_request_error", ex.getRequestMethod() + " not allowed; use GET");
            return;
        }
        forward(ex, upstream(path.replaceFirst("^/v1", "").replaceAll("/$", "")).GET().build(), false, null);
    }

    private void completions(HttpExchange ex) throws IOException {
        long t0 = System.nanoTime();
        if (!ex.getRequestMethod().equals("POST")) {
            ex.getResponseHeaders().add("Allow", "POST");
            error(ex, 405, "invalid_request_error", ex.getRequestMethod() + " not allowed; use POST");
            return;
        }
        byte[] body = ex.getRequestBody().readNBytes(HttpApi.MAX_BODY * 16 + 1);
        if (body.length > HttpApi.MAX_BODY * 16) {
            error(ex, 413, "invalid_request_error", "body larger than " + HttpApi.MAX_BODY * 16 + " bytes");
            return;
        }
        JsonNode req;
        try {
            req = JSON.readTree(body);
        } catch (IOException e) {
            req = null;
        }
        if (req == null || !req.isObject()) {
            error(ex, 400, "invalid_request_error", "the body must be a JSON object");
            return;
        }
        boolean stream = req.path("stream").asBoolean(false);
        String outcome;
        if (enforcer != null) {
            outcome = enforced(ex, (ObjectNode) req);
        } else {
            HttpRequest up = upstream("/chat/completions").header("Content-Type", "application/json")
                    .header("Accept", stream ? "text/event-stream" : "application/json")
                    .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
            outcome = forward(ex, up, stream, lastUserMessage(req));
        }
        metrics.inc(HttpApi.REQUESTS, "Chat requests by the version that answered and the outcome",
                Map.of("version", Long.toString(settings.version()), "outcome", outcome));
        if (outcome.equals("ok")) {
            metrics.observe(HttpApi.LATENCY, "Chat latency, request read to answer written", ServiceMetrics.LATENCY_BUCKETS,
                    (System.nanoTime() - t0) / 1e9);
        }
    }

    /**
     * Sends {@code up} and relays the answer: status, content type and body unchanged (a stream
     * line by line as it arrives). A successful chat completion is logged once it is complete.
     *
     * @param prompt the prompt to log the answer under, or null for a request that is not a chat completion
     * @return the outcome for the metrics
     */
    private String forward(HttpExchange ex, HttpRequest up, boolean stream, String prompt) throws IOException {
        if (!stream) {
            return forwardWhole(ex, up, prompt);
        }
        HttpResponse<InputStream> r;
        try {
            r = client.send(up, HttpResponse.BodyHandlers.ofInputStream()); // the timeout covers the headers
        } catch (HttpTimeoutException e) {
            error(ex, 504, "server_error", "the upstream " + settings.upstream() + " did not answer within "
                    + settings.requestTimeoutMs() + " ms");
            return "timeout";
        } catch (IOException e) {
            error(ex, 502, "server_error", "the upstream " + settings.upstream() + " is unreachable: " + e);
            return "upstream_unreachable";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            error(ex, 503, "server_error", "interrupted");
            return "error";
        }
        String type = r.headers().firstValue("Content-Type").orElse("application/json");
        ex.getResponseHeaders().set("Content-Type", type);
        boolean ok = r.statusCode() == 200;
        // an upstream that stops sending mid-stream is cut off after the request timeout of silence
        java.util.concurrent.atomic.AtomicLong heard = new java.util.concurrent.atomic.AtomicLong(System.nanoTime());
        InputStream in = r.body();
        java.util.concurrent.ScheduledFuture<?> watch = WATCHDOG.scheduleAtFixedRate(() -> {
            if (System.nanoTime() - heard.get() > settings.requestTimeoutMs() * 1_000_000L) {
                try {
                    in.close();
                } catch (IOException ignored) {
                    // closing is all we want
                }
            }
        }, 1, 1, java.util.concurrent.TimeUnit.SECONDS);
        try (in) {
            if (ok && type.startsWith("text/event-stream")) {
                ex.getResponseHeaders().set("Cache-Control", "no-store");
                ex.sendResponseHeaders(200, 0);
                Stream s = new Stream();
                OutputStream out = ex.getResponseBody();
                BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
                try {
                    for (String line; (line = lines.readLine()) != null;) {
                        heard.set(System.nanoTime());
                        out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
                        if (line.isEmpty()) {
                            out.flush(); // an event ends at a blank line: the client gets it now
                        }
                        s.read(line);
                    }
                } catch (IOException e) {
                    if (!s.done()) { // the upstream went silent or away: say so in the stream, log nothing half-made
                        out.write(("data: {\"error\":{\"message\":\"the upstream stopped answering\",\"type\":\"server_error\","
                                + "\"param\":null,\"code\":null}}\n\n").getBytes(StandardCharsets.UTF_8));
                        out.close();
                        return "timeout";
                    }
                }
                out.close();
                log(prompt, s.completion());
                return "ok";
            }
            byte[] body = in.readAllBytes();
            ex.sendResponseHeaders(r.statusCode(), body.length == 0 ? -1 : body.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
            return ok ? "ok" : "upstream_" + r.statusCode();
        } finally {
            watch.cancel(false);
        }
    }

    private static final java.util.concurrent.ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "dualign-gateway-watchdog");
        t.setDaemon(true);
        return t;
    });

    /** The upstream's whole answer within the request timeout, body included, or the reason why not. */
    private HttpResponse<byte[]> fetch(HttpExchange ex, HttpRequest up) throws IOException {
        java.util.concurrent.CompletableFuture<HttpResponse<byte[]>> f = client.sendAsync(up, HttpResponse.BodyHandlers.ofByteArray());
        try {
            return f.get(settings.requestTimeoutMs(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            f.cancel(true);
            error(ex, 504, "server_error", "the upstream " + settings.upstream() + " did not answer within "
                    + settings.requestTimeoutMs() + " ms");
        } catch (java.util.concurrent.ExecutionException e) {
            error(ex, 502, "server_error", "the upstream " + settings.upstream() + " is unreachable: " + e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            error(ex, 503, "server_error", "interrupted");
        }
        return null;
    }

    /** A plain (non-streamed) exchange: the upstream's answer relayed whole, a chat completion logged. */
    private String forwardWhole(HttpExchange ex, HttpRequest up, String prompt) throws IOException {
        HttpResponse<byte[]> r = fetch(ex, up);
        if (r == null) {
            return ex.getResponseCode() == 504 ? "timeout" : "upstream_unreachable";
        }
        byte[] body = r.body();
        ex.getResponseHeaders().set("Content-Type", r.headers().firstValue("Content-Type").orElse("application/json"));
        ex.sendResponseHeaders(r.statusCode(), body.length == 0 ? -1 : body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
        boolean ok = r.statusCode() == 200;
        if (ok && prompt != null) {
            try {
                log(prompt, JSON.readTree(body));
            } catch (IOException e) {
                LOG.warn("the upstream's answer is not JSON: relayed as it was, not logged ({})", e.toString());
            }
        }
        return ok ? "ok" : "upstream_" + r.statusCode();
    }

    /** λ from the job's {@code dualign.dual}; enforcement chooses with it from now on (uniformly before the first). */
    public void onLambda(Map<String, Double> byName) {
        if (enforcer != null) {
            enforcer.onLambda(byName);
        }
    }

    /**
     * Enforcement through the upstream: n·K choices asked for (with log-probabilities, which are
     * log π_ref here), K per choice wanted, one of each K served by {@link TiltedChoice}. The answer
     * is the upstream's with its choices replaced (usage counts all n·K: what was spent); a stream
     * is sent as server-sent events once the choice is made.
     */
    private String enforced(HttpExchange ex, ObjectNode req) throws IOException {
        int k = enforcer.candidates();
        JsonNode nNode = req.get("n");
        if (nNode != null && !nNode.isNull() && (!nNode.isIntegralNumber() || nNode.asLong() < 1 || nNode.asLong() > MAX_N)) {
            ex.getResponseHeaders().add("Content-Type", "application/json");
            ObjectNode body = JSON.createObjectNode();
            body.putObject("error").put("message", "'n' must be an integer in [1, " + MAX_N + "] under enforcement (each choice costs "
                    + k + " from the upstream), got " + nNode).put("type", "invalid_request_error").put("param", "n").putNull("code");
            HttpApi.reply(ex, 400, body);
            return "bad_request";
        }
        int n = nNode == null || nNode.isNull() ? 1 : nNode.asInt();
        boolean stream = req.path("stream").asBoolean(false);
        boolean usage = req.path("stream_options").path("include_usage").asBoolean(false);
        boolean wantLogprobs = req.path("logprobs").asBoolean(false);
        ObjectNode upReq = req.deepCopy();
        upReq.put("n", n * k).put("logprobs", true);
        upReq.remove("stream");
        upReq.remove("stream_options");
        HttpResponse<byte[]> r = fetch(ex, upstream("/chat/completions").header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(upReq))).build());
        if (r == null) {
            return ex.getResponseCode() == 504 ? "timeout" : "upstream_unreachable";
        }
        if (r.statusCode() != 200) { // the upstream's refusal, unchanged
            ex.getResponseHeaders().set("Content-Type", r.headers().firstValue("Content-Type").orElse("application/json"));
            ex.sendResponseHeaders(r.statusCode(), r.body().length == 0 ? -1 : r.body().length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(r.body());
            }
            return "upstream_" + r.statusCode();
        }
        JsonNode parsed;
        try {
            parsed = JSON.readTree(r.body());
        } catch (IOException e) {
            parsed = null;
        }
        if (!(parsed instanceof ObjectNode answer)) {
            error(ex, 502, "server_error", "the upstream's answer is not a JSON object");
            return "error";
        }
        JsonNode choices = answer.path("choices");
        if (!choices.isArray() || choices.size() != n * k) {
            error(ex, 502, "server_error", "enforcement asked the upstream for " + n * k + " choices and got "
                    + (choices.isArray() ? choices.size() : "none") + "; does it support n > 1?");
            return "error";
        }
        String prompt = lastUserMessage(req);
        String id = answer.path("id").asText("gateway-" + java.util.UUID.randomUUID());
        List<dev.dualign.model.scorer.Scorer.PromptResponse> pairs = new ArrayList<>();
        for (JsonNode c : choices) {
            pairs.add(new dev.dualign.model.scorer.Scorer.PromptResponse(prompt, c.path("message").path("content").asText("")));
        }
        Map<String, double[]> scores = enforcer.score(pairs);
        long now = System.currentTimeMillis();
        List<ResponseEvent> events = new ArrayList<>();
        com.fasterxml.jackson.databind.node.ArrayNode served = JSON.createArrayNode();
        for (int j = 0; j < n; j++) {
            int from = j * k;
            Enforcer.Choice choice = enforcer.choose(scores, from);
            int chosen = choice.index();
            String promptId = n == 1 ? id : id + "-" + j;
            for (int i = 0; i < k; i++) {
                JsonNode c = choices.get(from + i);
                Double lp = logprob(c.path("logprobs"));
                events.add(new ResponseEvent(promptId + "-c" + i, promptId, prompt, pairs.get(from + i).response(), settings.version(),
                        lp, lp, ResponseEvent.SOURCE_REFERENCE, now));
            }
            JsonNode c = choices.get(from + chosen);
            Double ref = logprob(c.path("logprobs"));
            events.add(new ResponseEvent(promptId, promptId, prompt, pairs.get(from + chosen).response(), settings.version(),
                    ref == null ? null : Math.min(0, ref + choice.logRatio()), ref, ResponseEvent.SOURCE_POLICY, now));
            ObjectNode out = c.deepCopy();
            out.put("index", j);
            if (!wantLogprobs) {
                out.putNull("logprobs");
            }
            served.add(out);
        }
        answer.set("choices", served);
        if (stream) {
            streamChosen(ex, answer, usage);
        } else {
            HttpApi.reply(ex, 200, answer);
        }
        try {
            sink.accept(events);
        } catch (RuntimeException e) {
            LOG.error("answer {} could not be logged: {}", id, e.toString());
        }
        return "ok";
    }

    /** A chosen answer as server-sent events: role, content and finish per choice, usage when asked, [DONE]. */
    private static void streamChosen(HttpExchange ex, ObjectNode answer, boolean usage) throws IOException {
        ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        ex.sendResponseHeaders(200, 0);
        try (OutputStream out = ex.getResponseBody()) {
            for (JsonNode c : answer.get("choices")) {
                for (int part = 0; part < 3; part++) {
                    ObjectNode chunk = JSON.createObjectNode().put("id", answer.path("id").asText()).put("object", "chat.completion.chunk")
                            .put("created", answer.path("created").asLong(System.currentTimeMillis() / 1000))
                            .put("model", answer.path("model").asText(""));
                    ObjectNode ch = chunk.putArray("choices").addObject().put("index", c.get("index").asInt());
                    ObjectNode delta = ch.putObject("delta");
                    if (part == 0) {
                        delta.put("role", "assistant").put("content", "");
                    } else if (part == 1) {
                        delta.put("content", c.path("message").path("content").asText(""));
                    }
                    ch.set("logprobs", part == 1 ? c.path("logprobs") : JSON.nullNode());
                    if (part == 2) {
                        ch.put("finish_reason", c.path("finish_reason").asText("stop"));
                    } else {
                        ch.putNull("finish_reason");
                    }
                    out.write(("data: " + JSON.writeValueAsString(chunk) + "\n\n").getBytes(StandardCharsets.UTF_8));
                }
            }
            if (usage && answer.has("usage")) {
                ObjectNode chunk = JSON.createObjectNode().put("id", answer.path("id").asText()).put("object", "chat.completion.chunk");
                chunk.putArray("choices");
                chunk.set("usage", answer.get("usage"));
                out.write(("data: " + JSON.writeValueAsString(chunk) + "\n\n").getBytes(StandardCharsets.UTF_8));
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Logs each choice of a completed chat completion (a plain answer, or a stream put together). */
    private void log(String prompt, JsonNode completion) {
        if (completion == null || !completion.path("choices").isArray()) {
            return;
        }
        String id = completion.path("id").asText("");
        if (id.isEmpty()) {
            id = "gateway-" + java.util.UUID.randomUUID();
        }
        long now = System.currentTimeMillis();
        List<ResponseEvent> events = new ArrayList<>();
        JsonNode choices = completion.get("choices");
        for (JsonNode c : choices) {
            int index = c.path("index").asInt(events.size());
            String text = c.path("message").path("content").asText("");
            events.add(new ResponseEvent(choices.size() == 1 ? id : id + "-" + index, id, prompt, text, settings.version(),
                    logprob(c.path("logprobs")), null, ResponseEvent.SOURCE_POLICY, now));
        }
        try {
            sink.accept(events);
        } catch (RuntimeException e) {
            LOG.error("answer {} could not be logged: {}", id, e.toString());
        }
    }

    /** log π of the answer: the sum of its tokens' log-probabilities, or null when the upstream gave none. */
    static Double logprob(JsonNode logprobs) {
        JsonNode content = logprobs.path("content");
        if (!content.isArray() || content.isEmpty()) {
            return null;
        }
        double sum = 0;
        for (JsonNode t : content) {
            if (!t.path("logprob").isNumber()) {
                return null;
            }
            sum += t.get("logprob").asDouble();
        }
        return Double.isFinite(sum) ? Math.min(0, sum) : null;
    }

    /** The prompt an answer is logged under: the last user message's text (text parts joined). */
    static String lastUserMessage(JsonNode req) {
        String last = "";
        for (JsonNode m : req.path("messages")) {
            if (m.path("role").asText("").equals("user")) {
                JsonNode c = m.path("content");
                if (c.isTextual()) {
                    last = c.asText();
                } else if (c.isArray()) {
                    StringBuilder sb = new StringBuilder();
                    for (JsonNode part : c) {
                        if (part.path("text").isTextual()) {
                            sb.append(sb.length() > 0 ? " " : "").append(part.get("text").asText());
                        }
                    }
                    last = sb.toString();
                }
            }
        }
        return last;
    }

    /** A streamed completion put back together from its chunks: each choice's text and token log-probabilities. */
    static final class Stream {
        private String id = "";
        private final Map<Integer, StringBuilder> text = new TreeMap<>();
        private final Map<Integer, List<Double>> logprobs = new TreeMap<>();
        private final Map<Integer, Boolean> logprobsComplete = new TreeMap<>();
        private boolean done;

        /** Whether the stream ended with {@code [DONE]}. */
        boolean done() {
            return done;
        }

        void read(String line) {
            if (!line.startsWith("data:")) {
                return;
            }
            String data = line.substring(5).trim();
            if (data.equals("[DONE]")) {
                done = true;
                return;
            }
            if (data.isEmpty()) {
                return;
            }
            JsonNode chunk;
            try {
                chunk = JSON.readTree(data);
            } catch (IOException e) {
                return; // not ours to judge: the client gets it as it was
            }
            if (chunk.hasNonNull("id")) {
                id = chunk.get("id").asText();
            }
            for (JsonNode c : chunk.path("choices")) {
                int i = c.path("index").asInt(0);
                String piece = c.path("delta").path("content").asText("");
                text.computeIfAbsent(i, k -> new StringBuilder()).append(piece);
                JsonNode content = c.path("logprobs").path("content");
                if (content.isArray()) {
                    for (JsonNode t : content) {
                        logprobs.computeIfAbsent(i, k -> new ArrayList<>()).add(t.path("logprob").asDouble(Double.NaN));
                    }
                } else if (!piece.isEmpty()) {
                    logprobsComplete.put(i, false); // a piece of text without its log-probabilities
                }
            }
        }

        /** The completion as a plain answer would have carried it. */
        JsonNode completion() {
            ObjectNode o = JSON.createObjectNode().put("id", id);
            var choices = o.putArray("choices");
            text.forEach((i, t) -> {
                ObjectNode c = choices.addObject().put("index", i);
                c.putObject("message").put("role", "assistant").put("content", t.toString());
                List<Double> lp = logprobs.get(i);
                if (lp != null && !lp.isEmpty() && logprobsComplete.getOrDefault(i, true)) {
                    var content = c.putObject("logprobs").putArray("content");
                    lp.forEach(x -> content.addObject().put("logprob", x));
                }
            });
            return o;
        }
    }

    @Override
    public void close() {
        http.stop(0);
        handlers.shutdownNow();
        try {
            handlers.awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS); // requests in flight end first
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (enforcer != null) {
            enforcer.close();
        }
    }
}
