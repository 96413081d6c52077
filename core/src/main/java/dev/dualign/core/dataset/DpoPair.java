package dev.dualign.core.dataset;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.dualign.core.event.ChatMessage;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * One preference pair in TRL's conversational DPO format, with the soft label the scores give:
 * under π_λ ∝ π_ref·exp(s/β) the chosen response is preferred with probability
 * p = σ((s_chosen − s_rejected)/β). A trainer that takes only hard labels draws one per pair with
 * {@link #drawn}; its expected loss is the soft-label loss.
 *
 * @param promptId the prompt's id (not read by TRL; for tracing a pair back to its record)
 * @param prompt the conversation, OpenAI messages
 * @param chosen the preferred response: one assistant message
 * @param rejected the other: one assistant message
 * @param scoreChosen s of the chosen response
 * @param scoreRejected s of the rejected one
 * @param pChosen the probability the chosen response is preferred, in [0, 1]
 */
@JsonPropertyOrder({"prompt_id", "prompt", "chosen", "rejected", "score_chosen", "score_rejected", "p_chosen"})
public record DpoPair(@JsonProperty("prompt_id") String promptId, List<ChatMessage> prompt, List<ChatMessage> chosen,
        List<ChatMessage> rejected, @JsonProperty("score_chosen") double scoreChosen,
        @JsonProperty("score_rejected") double scoreRejected, @JsonProperty("p_chosen") double pChosen) {
    public DpoPair {
        if (prompt == null || prompt.isEmpty()) {
            throw new InvalidRecordException("prompt", "must hold at least one message");
        }
        prompt = List.copyOf(prompt);
        chosen = oneAssistantMessage("chosen", chosen);
        rejected = oneAssistantMessage("rejected", rejected);
        if (!Double.isFinite(scoreChosen)) {
            throw new InvalidRecordException("score_chosen", "must be a finite number, got " + scoreChosen);
        }
        if (!Double.isFinite(scoreRejected)) {
            throw new InvalidRecordException("score_rejected", "must be a finite number, got " + scoreRejected);
        }
        if (!(pChosen >= 0 && pChosen <= 1)) {
            throw new InvalidRecordException("p_chosen", "must be a probability in [0, 1], got " + pChosen);
        }
    }

    /** σ(x) = 1/(1 + e^(−x)), without overflow for large |x|. */
    public static double sigmoid(double x) {
        return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
    }

    /** The pair the other way round: the rejected response chosen, with probability 1 − p. */
    public DpoPair swapped() {
        return new DpoPair(promptId, prompt, rejected, chosen, scoreRejected, scoreChosen, 1 - pChosen);
    }

    /**
     * A hard label drawn from the soft one: this pair with probability {@code pChosen}, else
     * {@link #swapped}. Trained on with the plain DPO loss, its expected gradient is the soft-label
     * loss's gradient.
     */
    public DpoPair drawn(RandomGenerator rng) {
        return rng.nextDouble() < pChosen ? this : swapped();
    }

    private static List<ChatMessage> oneAssistantMessage(String field, List<ChatMessage> m) {
        if (m == null || m.size() != 1 || !"assistant".equals(m.get(0).role())) {
            throw new InvalidRecordException(field, "must be exactly one assistant message, got "
                    + (m == null ? "none" : m.size() + " message(s)" + (m.isEmpty() ? "" : " starting with role " + m.get(0).role())));
        }
        return List.copyOf(m);
    }
}
