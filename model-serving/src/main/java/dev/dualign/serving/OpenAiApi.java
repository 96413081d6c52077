package dev.dualign.serving;

import dev.dualign.service.OpsSurface;

import dev.dualign.service.ServiceMetrics;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import dev.dualign.serving.ChatCompletion.ApiError;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The OpenAI-compatible face of the built-in policy: {@code POST /v1/chat/completions} (plain and
 * streamed as server-sent events), with OpenAI-style error objects, so existing chatbot clients and
 * SDKs talk to Dualign unchanged ({@code /v1/models} and the adapter calls: {@link AdapterApi}).
 * Requests go through the {@link ChatBatcher}; each is routed by a key the server makes, never by
 * anything the client sends, except a runtime adapter named as its {@code model}, which answers it.
 */
final class OpenAiApi {
    private static final Logger LOG = LoggerFactory.getLogger(OpenAiApi.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final PolicyServer server;
    private final ChatBatcher batcher;
    private final ServiceMetrics metrics;

    OpenAiApi(PolicyServer server, ChatBatcher batcher, ServiceMetrics metrics) {
        this.server = server;
        this.batcher = batcher;
        this.metrics = metrics;
    }

    /** {@code POST /v1/chat/completions}. */
    void completions(HttpExchange ex) throws IOException {
        long t0 = System.nanoTime();
        String version = "none";
        String outcome = "ok";
        Adapters.Lease adapter = null;
        try {
            if (!ex.getRequestMethod().equals("POST")) {
                ex.getResponseHeaders().add("Allow", "POST");
                throw new ApiError(405, "invalid_request_error", null, "method_not_allowed", ex.getRequestMethod() + " not allowed; use POST");
            }
            ServerSettings s = server.settings();
            ChatCompletion req = ChatCompletion.parse(body(ex), s.model(), server.adapters()::isLoaded, s.maxTokens(), s.batch());
            String problem = server.problem(req.prompt());
            if (problem != null) {
                throw ApiError.invalid("messages", "the last user message cannot be answered: " + problem);
            }
            if (req.adapter() != null) {
                // held until the answer is written: an unload lets this request finish on the version it named
                adapter = server.adapters().lease(req.adapter());
                if (adapter == null) {
                    throw ChatCompletion.modelNotFound(req.adapter(), s.model()); // unloaded since the check
                }
            }
            String id = "chatcmpl-" + UUID.randomUUID();
            // routing and reference sampling hash a key only the server knows: no client picks its version
            String routeKey = UUID.randomUUID().toString();
            List<PolicyServer.Ask> asks = new ArrayList<>(req.n());
            for (int i = 0; i < req.n(); i++) {
                asks.add(new PolicyServer.Ask(new PolicyServer.Prompt(id, req.prompt(), null, req.messages()), routeKey, req.temperature(), req.topP(),
                        req.maxTokens(), adapter));
            }
            String model = adapter == null ? s.model() : adapter.name();
            long v = req.stream() ? stream(ex, id, model, req, asks) : plain(ex, id, model, req, asks);
            version = Long.toString(v);
        } catch (ApiError e) {
            outcome = e.status == 503 ? (e.code == null ? "error" : e.code) : e.status >= 500 ? "error" : "bad_request";
            error(ex, e);
        } catch (IOException e) {
            outcome = "connection_lost";
            throw e;
        } catch (RuntimeException e) {
            outcome = "error";
            LOG.error("chat completion failed", e);
            error(ex, new ApiError(500, "server_error", null, null, String.valueOf(e.getMessage())));
        } finally {
            if (adapter != null) {
                adapter.close();
            }
            metrics.inc(HttpApi.REQUESTS, "Chat requests by the version that answered and the outcome",
                    Map.of("version", version, "outcome", outcome));
            if (outcome.equals("ok")) {
                metrics.observe(HttpApi.LATENCY, "Chat latency, request read to answer written", ServiceMetrics.LATENCY_BUCKETS,
                        (System.nanoTime() - t0) / 1e9);
            }
        }
    }

    private ChatBatcher.Pending submit(List<PolicyServer.Ask> asks, dev.dualign.model.lm.PolicyLm.TokenListener listener) {
        ChatBatcher.Pending p = new ChatBatcher.Pending(asks, listener);
        if (!batcher.submit(p)) {
            throw overloaded("the server has " + batcher.queued() + " requests waiting; try again");
        }
        return p;
    }

    private ApiError overloaded(String message) {
        return new ApiError(503, "server_error", null, "overloaded", message);
    }

    private List<PolicyServer.Answer> await(ChatBatcher.Pending p, long deadlineNanos) {
        try {
            return p.result.get(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            p.result.cancel(false);
            throw new ApiError(503, "server_error", null, "timeout", "no answer within " + server.settings().requestTimeoutMs()
                    + " ms; try again");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw overloaded("interrupted");
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof IllegalArgumentException) {
                throw ApiError.invalid("messages", c.getMessage());
            }
            if (c instanceof Adapters.Gone) {
                throw new ApiError(404, "invalid_request_error", "model", "model_not_found", c.getMessage());
            }
            throw new ApiError(500, "server_error", null, null, String.valueOf(c.getMessage()));
        } catch (java.util.concurrent.CancellationException e) {
            throw overloaded("the server is shutting down");
        }
    }

    private long deadline() {
        return System.nanoTime() + server.settings().requestTimeoutMs() * 1_000_000L;
    }

    /** Answers in one JSON body; returns the version that answered. */
    private long plain(HttpExchange ex, String id, String model, ChatCompletion req, List<PolicyServer.Ask> asks) throws IOException {
        long deadline = deadline();
        List<PolicyServer.Answer> answers = await(submit(asks, null), deadline);
        long version = answers.get(0).event().policyVersion();
        ObjectNode out = head(id, "chat.completion", model, version);
        ArrayNode choices = out.putArray("choices");
        int completion = 0;
        for (int i = 0; i < answers.size(); i++) {
            PolicyServer.Answer a = answers.get(i);
            ObjectNode c = choices.addObject().put("index", i);
            c.putObject("message").put("role", "assistant").put("content", a.event().response()).putNull("refusal");
            if (req.logprobs()) {
                c.set("logprobs", logprobs(a.words(), a.tokenLogprobs(), 0, a.words().size()));
            } else {
                c.putNull("logprobs");
            }
            c.put("finish_reason", a.stopped() ? "stop" : "length");
            completion += a.words().size();
        }
        out.set("usage", usage(answers.get(0), completion));
        ObjectNode ext = out.putObject("dualign").put("policyVersion", version);
        if (req.adapter() != null) {
            ext.put("adapter", req.adapter());
        }
        ArrayNode ids = ext.putArray("responseIds");
        answers.forEach(a -> ids.add(a.event().id()));
        OpsSurface.reply(ex, 200, out);
        return version;
    }

    /** A token drawn for one of this request's responses, handed from the batch thread to the writer. */
    private record Drawn(int choice, String word, double logprob) {}

    /**
     * Answers as server-sent events: a role chunk per choice at once, a chunk per word as the batch
     * draws it, a finishing chunk per choice, the usage chunk when asked, then {@code [DONE]}. The
     * batch thread only queues words; this request's own thread writes them, so a slow reader
     * never holds up the batch. Returns the version that answered.
     */
    private long stream(HttpExchange ex, String id, String model, ChatCompletion req, List<PolicyServer.Ask> asks) throws IOException {
        long deadline = deadline();
        LinkedBlockingQueue<Drawn> drawn = new LinkedBlockingQueue<>();
        ChatBatcher.Pending p = submit(asks, (choice, tok, lp) -> drawn.add(new Drawn(choice, server.word(tok), lp)));
        ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        ex.sendResponseHeaders(200, 0);
        OutputStream out = ex.getResponseBody();
        int[] words = new int[asks.size()];
        for (int i = 0; i < asks.size(); i++) {
            ObjectNode c = chunk(id, model, -1);
            ObjectNode choice = c.withArray("choices").addObject().put("index", i);
            choice.putObject("delta").put("role", "assistant").put("content", "");
            choice.putNull("logprobs");
            choice.putNull("finish_reason");
            event(out, c);
        }
        while (true) {
            Drawn d = poll(drawn);
            if (d != null) {
                ObjectNode c = chunk(id, model, -1);
                ObjectNode choice = c.withArray("choices").addObject().put("index", d.choice());
                choice.putObject("delta").put("content", (words[d.choice()] > 0 ? " " : "") + d.word());
                if (req.logprobs()) {
                    choice.set("logprobs", logprobs(List.of(d.word()), new double[] {d.logprob()}, 0, 1));
                } else {
                    choice.putNull("logprobs");
                }
                choice.putNull("finish_reason");
                words[d.choice()]++;
                event(out, c);
            } else if (p.result.isDone() && drawn.isEmpty()) {
                break;
            } else if (System.nanoTime() > deadline) {
                p.result.cancel(false);
                // the status is sent: say why in the stream, as OpenAI does for a failure mid-stream
                event(out, JSON.createObjectNode().set("error", errorBody(overloaded("no answer within "
                        + server.settings().requestTimeoutMs() + " ms; try again"))));
                out.close();
                throw overloaded("timed out while streaming");
            }
        }
        List<PolicyServer.Answer> answers;
        try {
            answers = await(p, deadline);
        } catch (ApiError e) {
            event(out, JSON.createObjectNode().set("error", errorBody(e)));
            out.close();
            throw e;
        }
        // words not heard while drawing (under enforcement the choice comes after all candidates): sent now
        for (int i = 0; i < answers.size(); i++) {
            PolicyServer.Answer a = answers.get(i);
            for (int w = words[i]; w < a.words().size(); w++) {
                ObjectNode c = chunk(id, model, -1);
                ObjectNode choice = c.withArray("choices").addObject().put("index", i);
                choice.putObject("delta").put("content", (w > 0 ? " " : "") + a.words().get(w));
                if (req.logprobs()) {
                    choice.set("logprobs", logprobs(a.words(), a.tokenLogprobs(), w, w + 1));
                } else {
                    choice.putNull("logprobs");
                }
                choice.putNull("finish_reason");
                event(out, c);
            }
        }
        long version = answers.get(0).event().policyVersion();
        int completion = 0;
        for (int i = 0; i < answers.size(); i++) {
            ObjectNode c = chunk(id, model, version);
            ObjectNode choice = c.withArray("choices").addObject().put("index", i);
            choice.putObject("delta");
            choice.putNull("logprobs");
            choice.put("finish_reason", answers.get(i).stopped() ? "stop" : "length");
            completion += answers.get(i).words().size();
            event(out, c);
        }
        if (req.includeUsage()) {
            ObjectNode c = chunk(id, model, version);
            c.putArray("choices");
            c.set("usage", usage(answers.get(0), completion));
            event(out, c);
        }
        out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        out.close();
        return version;
    }

    private static Drawn poll(LinkedBlockingQueue<Drawn> q) {
        try {
            return q.poll(20, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ApiError(503, "server_error", null, "overloaded", "interrupted");
        }
    }

    private ObjectNode head(String id, String object, String model, long version) {
        ObjectNode o = JSON.createObjectNode().put("id", id).put("object", object).put("created", System.currentTimeMillis() / 1000)
                .put("model", model);
        if (version >= 0) {
            o.put("system_fingerprint", "dualign-v" + version);
        } else {
            o.putNull("system_fingerprint");
        }
        return o;
    }

    private ObjectNode chunk(String id, String model, long version) {
        return head(id, "chat.completion.chunk", model, version);
    }

    private ObjectNode usage(PolicyServer.Answer first, int completion) {
        int prompt = server.tokenizer().encode(first.event().prompt()).length;
        return JSON.createObjectNode().put("prompt_tokens", prompt).put("completion_tokens", completion)
                .put("total_tokens", prompt + completion);
    }

    /** OpenAI's {@code logprobs.content}: each word with its log-probability and UTF-8 bytes; no alternatives. */
    private static ObjectNode logprobs(List<String> words, double[] lps, int from, int to) {
        ObjectNode o = JSON.createObjectNode();
        ArrayNode content = o.putArray("content");
        for (int k = from; k < to; k++) {
            ObjectNode t = content.addObject().put("token", words.get(k)).put("logprob", lps[k]);
            ArrayNode bytes = t.putArray("bytes");
            for (byte b : words.get(k).getBytes(StandardCharsets.UTF_8)) {
                bytes.add(b & 0xff);
            }
            t.putArray("top_logprobs");
        }
        o.putNull("refusal");
        return o;
    }

    private static void event(OutputStream out, JsonNode data) throws IOException {
        out.write(("data: " + JSON.writeValueAsString(data) + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    static ObjectNode errorBody(ApiError e) {
        ObjectNode o = JSON.createObjectNode().put("message", e.getMessage()).put("type", e.type);
        if (e.param == null) {
            o.putNull("param");
        } else {
            o.put("param", e.param);
        }
        if (e.code == null) {
            o.putNull("code");
        } else {
            o.put("code", e.code);
        }
        return o;
    }

    /** Replies with an OpenAI error object, unless a stream already started (then the stream said it). */
    static void error(HttpExchange ex, ApiError e) {
        if (ex.getResponseCode() > 0) { // the status is sent (-1 or 0 before, by server)
            return;
        }
        try {
            if (e.status == 503) {
                ex.getResponseHeaders().set("Retry-After", "1");
            }
            ObjectNode body = JSON.createObjectNode();
            body.set("error", errorBody(e));
            OpsSurface.reply(ex, e.status, body);
        } catch (IOException ignored) {
            // the client is gone
        }
    }

    static JsonNode body(HttpExchange ex) throws IOException {
        byte[] b = ex.getRequestBody().readNBytes(HttpApi.MAX_BODY + 1);
        if (b.length > HttpApi.MAX_BODY) {
            throw new ApiError(413, "invalid_request_error", null, "request_too_large", "body larger than " + HttpApi.MAX_BODY + " bytes");
        }
        try {
            JsonNode n = JSON.readTree(b);
            if (n == null || !n.isObject()) {
                throw ApiError.invalid(null, "the body must be a JSON object");
            }
            return n;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw ApiError.invalid(null, "the body is not valid JSON: " + e.getOriginalMessage());
        }
    }
}
