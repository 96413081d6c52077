package dev.dualign.core.dataset;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.dualign.core.event.InvalidEventException;
import dev.dualign.core.event.JsonFields;
import dev.dualign.core.event.ToolCall;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One of the K responses to a prompt in a {@link PolicyDatasetRecord}: its scores under the
 * request's λ and its weight in the built-in step, so an outside trainer needs no scorer of its own.
 *
 * @param text the response's text ("" for a turn that only calls tools)
 * @param toolCalls the tool calls it made, or null
 * @param version the policy version that sampled it (0 = the reference)
 * @param reward r
 * @param utilities every constraint utility g by name
 * @param score s = r + Σ λ_i·g_i under the record's λ
 * @param logprob log π(y|x) under the version that sampled it, or null when that version cannot tell
 * @param refLogprob log π_ref(y|x), or null when unknown
 * @param weight its self-normalised weight exp(s/β) among the K, with the importance ratio
 *     π_ref/π when not sampled by the reference ({@link dev.dualign.core.dual.TiltWeights}); null
 *     when that ratio is unknown
 */
@JsonPropertyOrder({"text", "toolCalls", "version", "reward", "utilities", "score", "logprob", "refLogprob", "weight"})
public record ScoredResponse(String text, List<ToolCall> toolCalls, long version, double reward, Map<String, Double> utilities,
        double score, @JsonInclude(JsonInclude.Include.ALWAYS) Double logprob, @JsonInclude(JsonInclude.Include.ALWAYS) Double refLogprob,
        @JsonInclude(JsonInclude.Include.ALWAYS) Double weight) {
    public ScoredResponse {
        if (text == null) {
            throw new InvalidRecordException("text", "is required (may be empty)");
        }
        toolCalls = toolCalls == null || toolCalls.isEmpty() ? null : List.copyOf(toolCalls);
        if (version < 0) {
            throw new InvalidRecordException("version", "must be ≥ 0, got " + version);
        }
        finite("reward", reward);
        if (utilities == null) {
            throw new InvalidRecordException("utilities", "is required");
        }
        Map<String, Double> u = new LinkedHashMap<>();
        for (Map.Entry<String, Double> e : utilities.entrySet()) {
            if (e.getValue() == null) {
                throw new InvalidRecordException("utilities." + e.getKey(), "must be a finite number, got null");
            }
            finite("utilities." + e.getKey(), e.getValue());
            u.put(e.getKey(), e.getValue());
        }
        utilities = Collections.unmodifiableMap(u);
        finite("score", score);
        logProbability("logprob", logprob);
        logProbability("refLogprob", refLogprob);
        if (weight != null && !(weight >= 0 && weight <= 1)) {
            throw new InvalidRecordException("weight", "must be in [0, 1], got " + weight);
        }
    }

    /** s = r + Σ λ_i·g_i; every λ must name one of {@code utilities}. */
    public static double score(double reward, Map<String, Double> utilities, Map<String, Double> lambda) {
        double s = reward;
        for (Map.Entry<String, Double> l : lambda.entrySet()) {
            Double g = utilities.get(l.getKey());
            if (g == null) {
                throw new InvalidRecordException("utilities." + l.getKey(), "is required (λ names it) but missing");
            }
            s += l.getValue() * g;
        }
        return s;
    }

    /** The same response with its weight among the K. */
    ScoredResponse withWeight(Double w) {
        return new ScoredResponse(text, toolCalls, version, reward, utilities, score, logprob, refLogprob, w);
    }

    /** Whether {@code other} says the same (no preference can be learnt between the two). */
    boolean sameAnswer(ScoredResponse other) {
        return text.equals(other.text) && java.util.Objects.equals(toolCalls, other.toolCalls);
    }

    private static void finite(String field, double v) {
        if (!Double.isFinite(v)) {
            throw new InvalidRecordException(field, "must be a finite number, got " + v);
        }
    }

    private static void logProbability(String field, Double v) {
        if (v != null && (!Double.isFinite(v) || v > 0)) {
            throw new InvalidRecordException(field, "must be a finite log-probability ≤ 0, got " + v);
        }
    }

    static ScoredResponse fromJson(String path, JsonFields f) {
        try {
            return new ScoredResponse(f.requireString("text"), f.optionalObjectList("toolCalls", ToolCall::fromJson),
                    f.requireLong("version"), f.requireFinite("reward"), f.requireNumberMap("utilities"),
                    f.requireFinite("score"), f.optionalFinite("logprob"), f.optionalFinite("refLogprob"),
                    f.optionalFinite("weight"));
        } catch (InvalidEventException e) {
            throw InvalidRecordException.under(path, e.field(), e.getMessage());
        } catch (InvalidRecordException e) {
            throw InvalidRecordException.under(path, e.field(), e.getMessage());
        }
    }
}
