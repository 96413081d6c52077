package dev.dualign.serving;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A streamed completion put back together from its chunks: each choice's text and token
 * log-probabilities, so that a relayed stream can be logged like a plain answer.
 */
final class StreamedCompletion {
    private static final ObjectMapper JSON = new ObjectMapper();

    private String id = "";
    private final Map<Integer, StringBuilder> text = new TreeMap<>();
    private final Map<Integer, List<Double>> logprobs = new TreeMap<>();
    private final Map<Integer, Boolean> logprobsComplete = new TreeMap<>();
    private boolean done;
    /** Per choice, per call index: the call's id, name and arguments as their pieces arrive. */
    private final Map<Integer, Map<Integer, StringBuilder[]>> calls = new TreeMap<>();

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
            for (JsonNode tc : c.path("delta").path("tool_calls")) {
                StringBuilder[] call = calls.computeIfAbsent(i, k -> new TreeMap<>()).computeIfAbsent(tc.path("index").asInt(0),
                        k -> new StringBuilder[] {new StringBuilder(), new StringBuilder(), new StringBuilder()});
                call[0].append(tc.path("id").asText(""));
                call[1].append(tc.path("function").path("name").asText(""));
                call[2].append(tc.path("function").path("arguments").asText(""));
            }
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
            ObjectNode message = c.putObject("message").put("role", "assistant").put("content", t.toString());
            Map<Integer, StringBuilder[]> made = calls.get(i);
            if (made != null) {
                var out = message.putArray("tool_calls");
                made.values().forEach(call -> {
                    ObjectNode o2 = out.addObject().put("id", call[0].toString()).put("type", "function");
                    o2.putObject("function").put("name", call[1].toString()).put("arguments", call[2].toString());
                });
            }
            List<Double> lp = logprobs.get(i);
            if (lp != null && !lp.isEmpty() && logprobsComplete.getOrDefault(i, true)) {
                var content = c.putObject("logprobs").putArray("content");
                lp.forEach(x -> content.addObject().put("logprob", x));
            }
        });
        return o;
    }
}
