package dev.dualign.serving;

import dev.dualign.service.OpsSurface;

import static dev.dualign.serving.GatewayReplies.error;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import dev.dualign.core.control.TiltedChoice;
import dev.dualign.core.event.ResponseEvent;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Enforcement through the upstream, the gateway's answer under {@code dual.mode: enforce}: K
 * candidates per choice asked of it, one served by the live λ, and all of them logged.
 */
final class GatewayEnforcement implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Most choices one request may ask an enforcing gateway for (each costs K from the upstream). */
    static final int MAX_N = 16;

    private final Enforcer enforcer;
    private final UpstreamClient upstream;
    private final AnswerLog answers;

    GatewayEnforcement(Enforcer enforcer, UpstreamClient upstream, AnswerLog answers) {
        this.enforcer = enforcer;
        this.upstream = upstream;
        this.answers = answers;
    }

    /** λ from the job's {@code dualign.dual}; choices are drawn with it from now on (uniformly before the first). */
    void onLambda(Map<String, Double> byName) {
        enforcer.onLambda(byName);
    }

    /**
     * Enforcement through the upstream: n·K choices asked for (with log-probabilities, which are
     * log π_ref here), K per choice wanted, one of each K served by {@link TiltedChoice}. The answer
     * is the upstream's with its choices replaced (usage counts all n·K: what was spent); a stream
     * is sent as server-sent events once the choice is made.
     *
     * @return the outcome for the metrics
     */
    String answer(HttpExchange ex, ObjectNode req) throws IOException {
        int k = enforcer.candidates();
        JsonNode nNode = req.get("n");
        if (nNode != null && !nNode.isNull() && (!nNode.isIntegralNumber() || nNode.asLong() < 1 || nNode.asLong() > MAX_N)) {
            ex.getResponseHeaders().add("Content-Type", "application/json");
            ObjectNode body = JSON.createObjectNode();
            body.putObject("error").put("message", "'n' must be an integer in [1, " + MAX_N + "] under enforcement (each choice costs "
                    + k + " from the upstream), got " + nNode).put("type", "invalid_request_error").put("param", "n").putNull("code");
            OpsSurface.reply(ex, 400, body);
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
        HttpResponse<byte[]> r = upstream.fetch(ex, upstream.request("/chat/completions", ex).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(upReq))).build());
        if (r == null) {
            return ex.getResponseCode() == 504 ? "timeout" : "upstream_unreachable";
        }
        if (r.statusCode() != 200) { // the upstream's refusal, unchanged
            ex.getResponseHeaders().set("Content-Type", r.headers().firstValue("Content-Type").orElse("application/json"));
            UpstreamClient.relayRetryAfter(ex, r);
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
        String prompt = AnswerLog.lastUserMessage(req);
        List<dev.dualign.core.event.ChatMessage> conversation = Conversations.messages(req.path("messages"));
        String id = "gateway-" + java.util.UUID.randomUUID(); // the upstream's id is only a label
        String label = AnswerLog.label(answer.path("id").asText(""));
        List<dev.dualign.model.scorer.Scorer.PromptResponse> pairs = new ArrayList<>();
        for (JsonNode c : choices) {
            // candidates are chosen on the whole conversation and their tool calls, as the job scores them
            pairs.add(new dev.dualign.model.scorer.Scorer.PromptResponse(prompt, c.path("message").path("content").asText(""),
                    conversation.isEmpty() ? null : conversation, Conversations.toolCalls(c.path("message").path("tool_calls"))));
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
                Double lp = AnswerLog.logprob(c.path("logprobs"));
                events.add(new ResponseEvent(promptId + "-c" + i, promptId, prompt, pairs.get(from + i).response(), answers.version(),
                        lp, lp, ResponseEvent.SOURCE_REFERENCE, now, label, conversation, pairs.get(from + i).toolCalls()));
            }
            JsonNode c = choices.get(from + chosen);
            Double ref = AnswerLog.logprob(c.path("logprobs"));
            events.add(new ResponseEvent(promptId, promptId, prompt, pairs.get(from + chosen).response(), answers.version(),
                    ref == null ? null : Math.min(0, ref + choice.logRatio()), ref, ResponseEvent.SOURCE_POLICY, now, label,
                    conversation, pairs.get(from + chosen).toolCalls()));
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
            OpsSurface.reply(ex, 200, answer);
        }
        answers.accept(id, events);
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

    /** Closes the enforcer, and with it the job's scorers. */
    @Override
    public void close() {
        enforcer.close();
    }
}
