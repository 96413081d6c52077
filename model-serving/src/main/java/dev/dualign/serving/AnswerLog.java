package dev.dualign.serving;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dualign.core.event.ResponseEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway's answers on their way to {@code dualign.responses}: events under the upstream's
 * version, log π from its token log-probabilities, and a sink failure logged, never thrown.
 */
final class AnswerLog {
    /** The gateway's log, as before its parts were split out of it. */
    private static final Logger LOG = LoggerFactory.getLogger(Gateway.class);

    private final Consumer<List<ResponseEvent>> sink;
    private final long version;
    /** Told of each single-choice answer once it is logged (the dataset sampler), or null. */
    private volatile Consumer<Logged> listener;

    /** An answer as logged: its prompt id, the request it answered, its version and model name (or null). */
    record Logged(String promptId, JsonNode request, long version, String model) {}

    /** {@code l} hears of every single-choice answer logged from now on. */
    void onLogged(Consumer<Logged> l) {
        this.listener = l;
    }

    AnswerLog(Consumer<List<ResponseEvent>> sink, long version) {
        this.sink = sink;
        this.version = version;
    }

    /** The version number answers are logged under ({@code server.upstream.version}). */
    long version() {
        return version;
    }

    /**
     * Logs each choice of a completed chat completion (a plain answer, or a stream put together) under
     * the request's last user message, with the whole conversation and the choice's tool calls.
     */
    void log(JsonNode request, JsonNode completion) {
        log(request, completion, version, null);
    }

    /**
     * {@link #log(JsonNode, JsonNode)} under {@code answeredBy}: the version the request was routed
     * to, and {@code model}, its adapter name when it was a swapped-in version (else null).
     */
    void log(JsonNode request, JsonNode completion, long answeredBy, String model) {
        String prompt = lastUserMessage(request);
        List<dev.dualign.core.event.ChatMessage> conversation = Conversations.messages(request.path("messages"));
        if (completion == null || !completion.path("choices").isArray()) {
            return;
        }
        // the gateway names the prompt: the upstream's completion id is only a label (an upstream or a
        // client in front of it could otherwise choose which samples the job pools)
        String id = "gateway-" + java.util.UUID.randomUUID();
        String label = label(completion.path("id").asText(""));
        long now = System.currentTimeMillis();
        List<ResponseEvent> events = new ArrayList<>();
        JsonNode choices = completion.get("choices");
        for (JsonNode c : choices) {
            int index = c.path("index").asInt(events.size());
            String text = c.path("message").path("content").asText("");
            events.add(new ResponseEvent(choices.size() == 1 ? id : id + "-" + index, id, prompt, text, answeredBy,
                    logprob(c.path("logprobs")), null, ResponseEvent.SOURCE_POLICY, now, label, conversation,
                    Conversations.toolCalls(c.path("message").path("tool_calls")), model));
        }
        accept(id, events);
        Consumer<Logged> l = listener;
        if (l != null && choices.size() == 1) {
            l.accept(new Logged(id, request, answeredBy, model));
        }
    }

    /** An id from outside as a {@link ResponseEvent#clientId} label: null when empty, cut to the longest kept. */
    static String label(String outside) {
        if (outside == null || outside.isEmpty()) {
            return null;
        }
        return outside.length() <= ResponseEvent.MAX_CLIENT_ID ? outside : outside.substring(0, ResponseEvent.MAX_CLIENT_ID);
    }

    /** Hands the events of answer {@code id} to the sink; a failure is logged, the client has its answer already. */
    void accept(String id, List<ResponseEvent> events) {
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
}
