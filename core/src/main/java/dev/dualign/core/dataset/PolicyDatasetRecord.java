package dev.dualign.core.dataset;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.dualign.core.dual.TiltWeights;
import dev.dualign.core.event.ChatMessage;
import dev.dualign.core.event.InvalidEventException;
import dev.dualign.core.event.JsonFields;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.event.ToolCall;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One prompt of a policy step's dataset with its K scored responses: the unit the step trains on
 * (the built-in one distils the weighted responses; {@link DpoView} pairs them). Everything a
 * trainer needs is in the record, so it needs neither the job's topics nor its scorers.
 *
 * @param promptId the prompt's id (as on {@code dualign.prompts})
 * @param messages the conversation the responses answer, oldest first, in the OpenAI chat format
 * @param lambda the λ every score is taken under
 * @param beta the KL weight β > 0 of the objective and of the weights
 * @param responses the K ≥ 1 responses
 */
@JsonPropertyOrder({"promptId", "messages", "lambda", "beta", "responses"})
public record PolicyDatasetRecord(String promptId, List<ChatMessage> messages, Map<String, Double> lambda, double beta,
        List<ScoredResponse> responses) {
    /** How far a written score may be from r + λ·g (relative to |s|, at least 1) before the record is refused. */
    static final double SCORE_TOLERANCE = 1e-9;
    /** How far the weights may sum from 1. */
    static final double WEIGHT_TOLERANCE = 1e-6;

    public PolicyDatasetRecord {
        if (promptId == null || promptId.isEmpty()) {
            throw new InvalidRecordException("promptId", "must be a non-empty string");
        }
        if (messages == null || messages.isEmpty()) {
            throw new InvalidRecordException("messages", "must hold at least one message");
        }
        messages = List.copyOf(messages);
        lambda = copyLambda(lambda);
        if (!(Double.isFinite(beta) && beta > 0)) {
            throw new InvalidRecordException("beta", "must be a finite number > 0, got " + beta);
        }
        if (responses == null || responses.isEmpty()) {
            throw new InvalidRecordException("responses", "must hold at least one response");
        }
        responses = List.copyOf(responses);
        checkScoresAndWeights(lambda, responses);
    }

    /**
     * A response before λ prices it: what the job knows of each of the K.
     *
     * @param text its text
     * @param toolCalls its tool calls, or null
     * @param version the version that sampled it
     * @param reward r
     * @param utilities every g
     * @param logprob log π under that version, or null
     * @param refLogprob log π_ref, or null
     */
    public record Sample(String text, List<ToolCall> toolCalls, long version, double reward, Map<String, Double> utilities,
            Double logprob, Double refLogprob) {
        /** A scored sample of the job's (no tool calls: {@link ScoredSample} does not keep them). */
        public static Sample of(ScoredSample s) {
            return new Sample(s.response() == null ? "" : s.response(), null, s.policyVersion() == null ? 0 : s.policyVersion(),
                    s.reward(), s.utilities(), s.logprob(), s.refLogprob());
        }
    }

    /**
     * The record of a prompt's K samples: each scored s = r + λ·g and weighted as the built-in step
     * weights it. All drawn from the reference (version 0): softmax(s/β). Otherwise the importance
     * ratio joins in, softmax(s/β + log π_ref − log π), with each response's own sampler; a reference
     * sample's log π_ref is its log π. When a log-probability that needs is unknown the weights are
     * null: no weight is better than a wrong one.
     */
    public static PolicyDatasetRecord of(String promptId, List<ChatMessage> messages, Map<String, Double> lambda, double beta,
            List<Sample> samples) {
        if (samples == null || samples.isEmpty()) {
            throw new InvalidRecordException("responses", "must hold at least one response");
        }
        Map<String, Double> l = copyLambda(lambda);
        int k = samples.size();
        double[] s = new double[k];
        double[] logRef = new double[k];
        double[] logQ = new double[k];
        boolean fromReference = true;
        boolean ratioKnown = true;
        List<ScoredResponse> out = new ArrayList<>();
        for (int i = 0; i < k; i++) {
            Sample x = samples.get(i);
            try {
                s[i] = ScoredResponse.score(x.reward(), x.utilities() == null ? Map.of() : x.utilities(), l);
                out.add(new ScoredResponse(x.text(), x.toolCalls(), x.version(), x.reward(), x.utilities(), s[i], x.logprob(),
                        x.refLogprob(), null));
            } catch (InvalidRecordException e) {
                throw InvalidRecordException.under("responses[" + i + "]", e.field(), e.getMessage());
            }
            fromReference &= x.version() == 0;
            Double ref = x.refLogprob() != null ? x.refLogprob() : x.version() == 0 ? x.logprob() : null;
            ratioKnown &= ref != null && x.logprob() != null;
            logRef[i] = ref == null ? Double.NaN : ref;
            logQ[i] = x.logprob() == null ? Double.NaN : x.logprob();
        }
        if (!(Double.isFinite(beta) && beta > 0)) {
            throw new InvalidRecordException("beta", "must be a finite number > 0, got " + beta);
        }
        double[] w = fromReference ? TiltWeights.fromReference(s, beta)
                : ratioKnown ? TiltWeights.fromSampler(s, beta, logRef, logQ) : null;
        if (w != null) {
            for (int i = 0; i < k; i++) {
                out.set(i, out.get(i).withWeight(w[i]));
            }
        }
        return new PolicyDatasetRecord(promptId, messages, l, beta, out);
    }

    private static Map<String, Double> copyLambda(Map<String, Double> lambda) {
        if (lambda == null) {
            throw new InvalidRecordException("lambda", "is required");
        }
        Map<String, Double> out = new LinkedHashMap<>();
        for (Map.Entry<String, Double> e : lambda.entrySet()) {
            Double v = e.getValue();
            if (v == null || !Double.isFinite(v) || v < 0) {
                throw new InvalidRecordException("lambda." + e.getKey(), "must be a finite number ≥ 0, got " + v);
            }
            out.put(e.getKey(), v);
        }
        return Collections.unmodifiableMap(out);
    }

    /** Each score is r + λ·g, and the weights are all there summing to 1 or all absent. */
    private static void checkScoresAndWeights(Map<String, Double> lambda, List<ScoredResponse> responses) {
        int weighted = 0;
        double sum = 0;
        for (int i = 0; i < responses.size(); i++) {
            ScoredResponse r = responses.get(i);
            String at = "responses[" + i + "]";
            double s;
            try {
                s = ScoredResponse.score(r.reward(), r.utilities(), lambda);
            } catch (InvalidRecordException e) {
                throw InvalidRecordException.under(at, e.field(), e.getMessage());
            }
            if (Math.abs(r.score() - s) > SCORE_TOLERANCE * Math.max(1, Math.abs(s))) {
                throw new InvalidRecordException(at + ".score", "must be r + λ·g = " + s + " under the record's λ, got " + r.score());
            }
            if (r.weight() != null) {
                weighted++;
                sum += r.weight();
            }
        }
        if (weighted != 0 && weighted != responses.size()) {
            throw new InvalidRecordException("responses", "weights must be given for all " + responses.size()
                    + " responses or none, got " + weighted);
        }
        if (weighted != 0 && Math.abs(sum - 1) > WEIGHT_TOLERANCE) {
            throw new InvalidRecordException("responses", "weights must sum to 1, got " + sum);
        }
    }

    /** The strict reader of one line; an error names the field. */
    public static PolicyDatasetRecord fromJson(JsonFields f) {
        try {
            List<ChatMessage> messages = f.optionalObjectList("messages", ChatMessage::fromJson);
            List<ScoredResponse> responses = f.optionalObjectList("responses", ScoredResponse::fromJson);
            return new PolicyDatasetRecord(f.requireText("promptId"), messages, f.requireNumberMap("lambda"),
                    f.requireFinite("beta"), responses);
        } catch (InvalidEventException e) {
            throw new InvalidRecordException(e.field(), e.getMessage().replaceFirst("^field '[^']*': ", ""));
        }
    }
}
