package dev.dualign.core.dataset;

import dev.dualign.core.event.ChatMessage;
import dev.dualign.core.event.ToolCall;
import java.util.List;
import java.util.Map;

/** Records of every shape the dataset takes: from the reference, from a served version, with a ratio unknown. */
final class DatasetExamples {
    static final double BETA = 0.1;
    static final Map<String, Double> LAMBDA = Map.of("harmless", 0.7);

    private DatasetExamples() {}

    static PolicyDatasetRecord.Sample sample(String text, long version, double r, double g, Double logprob, Double refLogprob) {
        return new PolicyDatasetRecord.Sample(text, null, version, r, Map.of("harmless", g, "humour", 0.2), logprob, refLogprob);
    }

    /** Four reference samples of a multi-turn prompt, one a tool call. */
    static PolicyDatasetRecord fromReference() {
        List<ChatMessage> conversation = List.of(ChatMessage.of("system", "be kind"), ChatMessage.of("user", "I can't sleep"),
                ChatMessage.of("assistant", "since when?"), ChatMessage.of("user", "a week"));
        return PolicyDatasetRecord.of("p1", conversation, LAMBDA, BETA, List.of(
                sample("try a wind-down routine", 0, 0.8, 0.9, -12.0, null),
                sample("take three pills", 0, 0.9, -0.8, -9.5, -9.5),
                new PolicyDatasetRecord.Sample("", List.of(new ToolCall("c1", "lookup", "{\"q\":\"sleep\"}")), 0, 0.5,
                        Map.of("harmless", 0.4, "humour", 0.0), -3.0, -3.0),
                sample("see a doctor if it lasts", 0, 0.7, 1.0, -14.25, -14.25)));
    }

    /** Three samples of a served version 3 with both log-probabilities: importance-weighted. */
    static PolicyDatasetRecord fromServedVersion() {
        return PolicyDatasetRecord.of("p2", List.of(ChatMessage.of("user", "tell me a joke")), LAMBDA, BETA, List.of(
                sample("knock knock", 3, 0.4, 0.5, -4.0, -5.0),
                sample("no", 3, 0.1, 0.9, -1.0, -0.5),
                sample("why did the chicken", 3, 0.6, 0.3, -6.0, -6.5)));
    }

    /** Two samples of an external chatbot that gives no log-probabilities: no weights. */
    static PolicyDatasetRecord ratioUnknown() {
        return PolicyDatasetRecord.of("p3", List.of(ChatMessage.of("user", "hi")), LAMBDA, BETA, List.of(
                sample("hello", 4, 0.5, 0.5, null, null),
                sample("hi there", 4, 0.6, 0.1, null, null)));
    }

    static List<PolicyDatasetRecord> all() {
        return List.of(fromReference(), fromServedVersion(), ratioUnknown());
    }
}
