package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.dualign.core.dual.DualMode;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A request on {@code dualign.control} to train the next policy version with a given λ. Beyond
 * what the built-in fine-tuner reads (λ, base version, data topic), it carries what an outside
 * trainer needs to train the same objective and to check it trains on the right data: β, the
 * margins, the dataset file with its digest, and the estimates the step was decided on. Those
 * fields are optional, so a request written before them still reads.
 *
 * @param requestId unique id (the key)
 * @param lambda the λ to train with
 * @param baseVersion the version to start from
 * @param dataTopic topic holding the training data (e.g. {@code dualign.scored})
 * @param dataVersion policy version whose samples to train on (optional)
 * @param fromOffsets partition → first offset to read (optional)
 * @param toOffsets partition → offset to stop before (optional)
 * @param timestamp epoch milliseconds
 * @param beta the KL weight β of the objective, > 0 (optional)
 * @param margins constraint name → the absolute margin b it must keep (optional: absent while a
 *     relative margin is unresolved)
 * @param stableVersion the version serving now, which the new one must beat; may equal
 *     {@code baseVersion} (optional: unknown to the sender)
 * @param dataset the file of K scored responses per prompt to train on (optional)
 * @param estimates constraint name → the estimate the step was decided on (optional)
 * @param step the policy step that asked: {@code one-shot}, {@code iterative} or {@code primal-dual}
 *     (the job's {@code dual.mode}; optional)
 */
@JsonPropertyOrder({"schema", "requestId", "lambda", "baseVersion", "dataTopic", "dataVersion", "fromOffsets",
        "toOffsets", "timestamp", "beta", "margins", "stableVersion", "dataset", "estimates", "step"})
public record FineTuneRequest(String requestId, Map<String, Double> lambda, long baseVersion, String dataTopic,
        Long dataVersion, Map<String, Long> fromOffsets, Map<String, Long> toOffsets, long timestamp, Double beta,
        Map<String, Double> margins, Long stableVersion, Dataset dataset, Map<String, Estimate> estimates,
        DualMode step) implements Event {
    private static final Pattern HEX64 = Pattern.compile("[0-9a-f]{64}");

    public FineTuneRequest {
        Objects.requireNonNull(requestId, "requestId");
        lambda = Events.copyLambda(lambda);
        Objects.requireNonNull(dataTopic, "dataTopic");
        fromOffsets = fromOffsets == null ? null : Map.copyOf(fromOffsets);
        toOffsets = toOffsets == null ? null : Map.copyOf(toOffsets);
        if (beta != null && !(Double.isFinite(beta) && beta > 0)) {
            throw new InvalidEventException("beta", "must be a finite number > 0, got " + beta);
        }
        margins = margins == null ? null : copyFinite("margins", margins);
        if (stableVersion != null && stableVersion < 0) {
            throw new InvalidEventException("stableVersion", "must be ≥ 0, got " + stableVersion);
        }
        estimates = estimates == null ? null : Collections.unmodifiableMap(new LinkedHashMap<>(estimates));
        if (step == DualMode.MONITOR || step == DualMode.ENFORCE) {
            throw new InvalidEventException("step", "must be one-shot, iterative or primal-dual (a mode that fine-tunes), got " + step);
        }
    }

    /** A request with only what the built-in fine-tuner reads (as before the outside trainer's fields). */
    public FineTuneRequest(String requestId, Map<String, Double> lambda, long baseVersion, String dataTopic,
            Long dataVersion, Map<String, Long> fromOffsets, Map<String, Long> toOffsets, long timestamp) {
        this(requestId, lambda, baseVersion, dataTopic, dataVersion, fromOffsets, toOffsets, timestamp, null, null, null, null,
                null, null);
    }

    /** The same request with what the policy step decided it on (any may be null). */
    public FineTuneRequest decidedBy(DualMode byStep, Double withBeta, Map<String, Double> withMargins,
            Map<String, Estimate> onEstimates) {
        return new FineTuneRequest(requestId, lambda, baseVersion, dataTopic, dataVersion, fromOffsets, toOffsets, timestamp,
                withBeta, withMargins, stableVersion, dataset, onEstimates, byStep);
    }

    /** The same request naming the dataset to train on and the version serving now (either may be null). */
    public FineTuneRequest withData(Dataset file, Long stable) {
        return new FineTuneRequest(requestId, lambda, baseVersion, dataTopic, dataVersion, fromOffsets, toOffsets, timestamp,
                beta, margins, stable, file, estimates, step);
    }

    /**
     * The file a request trains on: where it is, its digest (a trainer refuses a file that does not
     * match), how many records it holds and their format.
     *
     * @param uri where a trainer reads it, e.g. {@code file:///data/dualign/req-7/policy.jsonl}
     * @param sha256 SHA-256 of the file's bytes (64 lower-case hex)
     * @param records lines in the file (≥ 0)
     * @param format what each line is, e.g. {@code dualign-policy-v1} (docs/events.md)
     */
    @JsonPropertyOrder({"uri", "sha256", "records", "format"})
    public record Dataset(String uri, String sha256, long records, String format) {
        public Dataset {
            if (uri == null || uri.isEmpty()) {
                throw new InvalidEventException("dataset.uri", "must be a non-empty URI");
            }
            try {
                new java.net.URI(uri);
            } catch (java.net.URISyntaxException e) {
                throw new InvalidEventException("dataset.uri", "must be a URI: " + e.getMessage());
            }
            if (sha256 == null || !HEX64.matcher(sha256).matches()) {
                throw new InvalidEventException("dataset.sha256", "must be 64 lower-case hex characters, got " + sha256);
            }
            if (records < 0) {
                throw new InvalidEventException("dataset.records", "must be ≥ 0, got " + records);
            }
            if (format == null || format.isEmpty()) {
                throw new InvalidEventException("dataset.format", "must be a non-empty string");
            }
        }

        static Dataset fromJson(JsonFields f) {
            try {
                return new Dataset(f.requireText("uri"), f.requireText("sha256"), f.requireLong("records"),
                        f.requireText("format"));
            } catch (InvalidEventException e) {
                throw e.field() != null && e.field().startsWith("dataset.") ? e : InvalidEventException.under("dataset", e);
            }
        }
    }

    @Override
    public String key() {
        return requestId;
    }

    private static Map<String, Double> copyFinite(String field, Map<String, Double> m) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (Map.Entry<String, Double> e : m.entrySet()) {
            if (e.getValue() == null || !Double.isFinite(e.getValue())) {
                throw new InvalidEventException(field + "." + e.getKey(), "must be a finite number, got " + e.getValue());
            }
            out.put(e.getKey(), e.getValue());
        }
        return Collections.unmodifiableMap(out);
    }

    public static FineTuneRequest fromJson(JsonFields f) {
        String step = f.optionalText("step");
        return new FineTuneRequest(f.requireText("requestId"), f.requireNumberMap("lambda"), f.requireLong("baseVersion"),
                f.requireText("dataTopic"), f.optionalLong("dataVersion"), f.optionalLongMap("fromOffsets"),
                f.optionalLongMap("toOffsets"), f.requireLong("timestamp"), f.optionalFinite("beta"),
                f.optionalNumberMap("margins"), f.optionalLong("stableVersion"),
                f.has("dataset") ? Dataset.fromJson(f.requireObject("dataset")) : null,
                f.has("estimates") ? f.requireObjectMap("estimates", Estimate::fromJson) : null,
                step == null ? null : Events.byKey(DualMode.class, "step", step));
    }
}
