package dev.dualign.model.serving;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.dualign.core.event.ResponseEvent;
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

    public Gateway(Settings settings, Consumer<List<ResponseEvent>> sink, ServiceMetrics metrics, Supplier<String> problem)
            throws IOException {
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

    private void models(HttpExchange ex) throws IOException {
        forward(ex, upstream(ex.getRequestURI().getPath().replaceFirst("^/v1", "")).GET().build(), false, null);
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
        HttpRequest up = upstream("/chat/completions").header("Content-Type", "application/json")
                .header("Accept", stream ? "text/event-stream" : "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
        String outcome = forward(ex, up, stream, lastUserMessage(req));
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
        HttpResponse<InputStream> r;
        try {
            r = client.send(up, HttpResponse.BodyHandlers.ofInputStream());
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
        try (InputStream in = r.body()) {
            if (stream && ok && type.startsWith("text/event-stream")) {
                ex.getResponseHeaders().set("Cache-Control", "no-store");
                ex.sendResponseHeaders(200, 0);
                Stream s = new Stream();
                OutputStream out = ex.getResponseBody();
                BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
                for (String line; (line = lines.readLine()) != null;) {
                    out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
                    if (line.isEmpty()) {
                        out.flush(); // an event ends at a blank line: the client gets it now
                    }
                    s.read(line);
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
            if (ok && prompt != null) {
                log(prompt, JSON.readTree(body));
            }
            return ok ? "ok" : "upstream_" + r.statusCode();
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

        void read(String line) {
            if (!line.startsWith("data:")) {
                return;
            }
            String data = line.substring(5).trim();
            if (data.isEmpty() || data.equals("[DONE]")) {
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
    }
}
