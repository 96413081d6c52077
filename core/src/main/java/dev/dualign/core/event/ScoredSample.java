package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A response with its reward and named utilities: the unit every estimate and every dual step is
 * made of. The policy version tells which policy produced it, so estimates are never mixed across
 * versions. Only {@code promptId}, {@code reward} and {@code utilities} are required, so that a
 * plain file of scores (for {@code dualign dual}) is a valid stream.
 *
 * @param id response id (optional)
 * @param promptId the prompt this responds to; samples of one prompt form one group of the dual
 * @param prompt prompt text (optional)
 * @param response response text (optional)
 * @param policyVersion version of the policy that produced the response (optional)
 * @param logprob log π(y|x) under the producing policy (optional)
 * @param refLogprob log π_ref(y|x) under the reference policy (optional)
 * @param source {@code policy} or {@code reference} (optional)
 * @param timestamp epoch milliseconds (optional)
 * @param reward r(x, y)
 * @param utilities g_k(x, y) by constraint name
 */
@JsonPropertyOrder({"schema", "id", "promptId", "prompt", "response", "policyVersion", "logprob",
        "refLogprob", "source", "timestamp", "reward", "utilities"})
public record ScoredSample(
        String id,
        String promptId,
        String prompt,
        String response,
        Long policyVersion,
        Double logprob,
        Double refLogprob,
        String source,
        Long timestamp,
        double reward,
        Map<String, Double> utilities) implements Event {

    public ScoredSample {
        Objects.requireNonNull(promptId, "promptId");
        if (!Double.isFinite(reward)) {
            throw new InvalidEventException("reward", "must be a finite number, got " + reward);
        }
        Objects.requireNonNull(utilities, "utilities");
        for (Map.Entry<String, Double> e : utilities.entrySet()) {
            if (e.getValue() == null || !Double.isFinite(e.getValue())) {
                throw new InvalidEventException("utilities." + e.getKey(), "must be a finite number, got " + e.getValue());
            }
        }
        utilities = Collections.unmodifiableMap(new LinkedHashMap<>(utilities));
        if (logprob != null && !Double.isFinite(logprob)) {
            throw new InvalidEventException("logprob", "must be a finite number, got " + logprob);
        }
        if (refLogprob != null && !Double.isFinite(refLogprob)) {
            throw new InvalidEventException("refLogprob", "must be a finite number, got " + refLogprob);
        }
    }

    /** A minimal sample: what {@code dualign dual} needs. */
    public static ScoredSample of(String promptId, double reward, Map<String, Double> utilities) {
        return new ScoredSample(null, promptId, null, null, null, null, null, null, null, reward, utilities);
    }

    @Override
    public String key() {
        return promptId;
    }

    /** The named utility, or an error naming it when this sample lacks it. */
    public double utility(String name) {
        Double v = utilities.get(name);
        if (v == null) {
            throw new InvalidEventException("utilities." + name, "is required (named by a constraint) but missing");
        }
        return v;
    }

    public static ScoredSample fromJson(JsonFields f) {
        return new ScoredSample(
                f.optionalText("id"),
                f.requireText("promptId"),
                f.optionalText("prompt"),
                // a model may answer with nothing; the response event allows it, so must this
                f.has("response") ? f.requireString("response") : null,
                f.optionalLong("policyVersion"),
                f.optionalFinite("logprob"),
                f.optionalFinite("refLogprob"),
                f.optionalText("source"),
                f.optionalLong("timestamp"),
                f.requireFinite("reward"),
                f.requireNumberMap("utilities"));
    }

    public static ScoredSample fromJson(String json) {
        return fromJson(EventJson.parse(json));
    }

    public static ScoredSample fromJson(byte[] json) {
        return fromJson(EventJson.parse(json));
    }

    @Override
    public String toJson() {
        return new String(toJsonBytes(), StandardCharsets.UTF_8);
    }

    /**
     * The same bytes as Jackson's data binding writes for this record (field order, nulls left
     * out; {@code ScoredSampleTest} compares them), with the streaming generator: the job writes
     * one per response, and reflection-based binding was a tenth of its CPU.
     */
    @Override
    public byte[] toJsonBytes() {
        var out = new ByteArrayOutputStream(256 + (prompt == null ? 0 : prompt.length())
                + (response == null ? 0 : response.length()));
        try (JsonGenerator g = EventJson.mapper().getFactory().createGenerator(out)) {
            g.writeStartObject();
            g.writeNumberField("schema", schema());
            writeText(g, "id", id);
            writeText(g, "promptId", promptId);
            writeText(g, "prompt", prompt);
            writeText(g, "response", response);
            if (policyVersion != null) {
                g.writeNumberField("policyVersion", policyVersion);
            }
            if (logprob != null) {
                g.writeNumberField("logprob", logprob);
            }
            if (refLogprob != null) {
                g.writeNumberField("refLogprob", refLogprob);
            }
            writeText(g, "source", source);
            if (timestamp != null) {
                g.writeNumberField("timestamp", timestamp);
            }
            g.writeNumberField("reward", reward);
            g.writeObjectFieldStart("utilities");
            for (Map.Entry<String, Double> e : utilities.entrySet()) {
                g.writeNumberField(e.getKey(), e.getValue());
            }
            g.writeEndObject();
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static void writeText(JsonGenerator g, String name, String value)
            throws IOException {
        if (value != null) {
            g.writeStringField(name, value);
        }
    }
}
