package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A new policy version published to the registry, on {@code dualign.checkpoints}. The path is
 * relative to the registry and may not escape it; the sha256 lets the server refuse a tampered
 * or half-written version. Any trainer may answer a fine-tune request with one: an outside
 * trainer names the request it answers and an {@link External} version the user's inference
 * server loads, since its weights never pass through Dualign.
 *
 * @param version the new policy version
 * @param path registry-relative path of the version's directory
 * @param sha256 digest of the version's manifest (64 hex characters)
 * @param lambda λ it was trained with
 * @param parentVersion the version it was trained from
 * @param metrics training metrics (loss, KL, ...)
 * @param timestamp epoch milliseconds
 * @param requestId the {@link FineTuneRequest#requestId} this version answers (optional: absent in
 *     checkpoints written before it, or published without a request)
 * @param external where the upstream inference server finds this version (optional: absent for a
 *     built-in version, which the policy server loads from the registry)
 */
@JsonPropertyOrder({"schema", "version", "path", "sha256", "lambda", "parentVersion", "metrics", "timestamp", "requestId",
        "external"})
public record CheckpointEvent(long version, String path, String sha256, Map<String, Double> lambda, long parentVersion,
        Map<String, Double> metrics, long timestamp, String requestId, External external) implements Event {
    private static final Pattern HEX64 = Pattern.compile("[0-9a-f]{64}");
    /** An adapter name: it becomes a request's {@code "model"} and a path segment of {@code /v1/models}. */
    private static final Pattern ADAPTER = Pattern.compile("[A-Za-z0-9_\\-][A-Za-z0-9._:\\-]{0,127}");
    /** A model id: as an adapter name, with {@code /} between segments ({@code org/model}). */
    private static final Pattern MODEL_ID = Pattern.compile("[A-Za-z0-9_\\-][A-Za-z0-9._:\\-]*(/[A-Za-z0-9_\\-][A-Za-z0-9._:\\-]*)*");

    public CheckpointEvent {
        if (version < 0) {
            throw new InvalidEventException("version", "must be ≥ 0, got " + version);
        }
        Objects.requireNonNull(path, "path");
        if (path.startsWith("/") || path.contains("\\") || path.contains("\0")
                || java.util.Arrays.asList(path.split("/")).contains("..")) {
            throw new InvalidEventException("path", "must be a relative path inside the registry, got " + path);
        }
        if (sha256 == null || !HEX64.matcher(sha256).matches()) {
            throw new InvalidEventException("sha256", "must be 64 lower-case hex characters, got " + sha256);
        }
        lambda = Events.copyLambda(lambda);
        metrics = metrics == null ? Map.of() : Map.copyOf(metrics);
        if (requestId != null && requestId.isEmpty()) {
            throw new InvalidEventException("requestId", "must not be empty");
        }
    }

    /** A built-in version that answers no recorded request (as written before the outside trainer's fields). */
    public CheckpointEvent(long version, String path, String sha256, Map<String, Double> lambda, long parentVersion,
            Map<String, Double> metrics, long timestamp) {
        this(version, path, sha256, lambda, parentVersion, metrics, timestamp, null, null);
    }

    /** The same checkpoint answering request {@code id} with the version {@code at} (either may be null). */
    public CheckpointEvent answering(String id, External at) {
        return new CheckpointEvent(version, path, sha256, lambda, parentVersion, metrics, timestamp, id, at);
    }

    /**
     * A version the user's inference server loads: a LoRA adapter by name and path (vLLM's and
     * SGLang's {@code lora_name} and {@code lora_path}), or a model the upstream already serves, by
     * its id. Requests reach it by {@code "model": <adapter or modelId>}.
     *
     * @param adapter the adapter's name, unique to this version (optional; with {@code path})
     * @param path where the upstream reads the adapter: a directory on its host or a hub id (with {@code adapter})
     * @param modelId the upstream model id that serves this version (optional)
     */
    @JsonPropertyOrder({"adapter", "path", "modelId"})
    public record External(String adapter, String path, String modelId) {
        public External {
            if (adapter != null && !ADAPTER.matcher(adapter).matches()) {
                throw new InvalidEventException("external.adapter", "must be 1–128 letters, digits or ._:- not starting "
                        + "with a dot, got " + adapter);
            }
            if ((adapter == null) != (path == null)) {
                throw new InvalidEventException(adapter == null ? "external.adapter" : "external.path",
                        "an adapter needs both its name (adapter) and where it is (path)");
            }
            if (path != null && (path.isBlank() || path.contains("\0"))) {
                throw new InvalidEventException("external.path", "must be a non-blank path or hub id");
            }
            if (modelId != null && !MODEL_ID.matcher(modelId).matches()) {
                throw new InvalidEventException("external.modelId", "must be a model id (letters, digits, ._:- and / "
                        + "between segments), got " + modelId);
            }
            if (adapter == null && modelId == null) {
                throw new InvalidEventException("external", "must name an adapter (adapter and path) or a model id");
            }
        }

        /** The {@code "model"} a request names to reach this version: the adapter's name, else the model id. */
        public String model() {
            return adapter != null ? adapter : modelId;
        }

        static External fromJson(JsonFields f) {
            try {
                return new External(f.optionalText("adapter"), f.optionalText("path"), f.optionalText("modelId"));
            } catch (InvalidEventException e) {
                throw e.field() != null && e.field().startsWith("external") ? e : InvalidEventException.under("external", e);
            }
        }
    }

    @Override
    public String key() {
        return Long.toString(version);
    }

    public static CheckpointEvent fromJson(JsonFields f) {
        return new CheckpointEvent(f.requireLong("version"), f.requireText("path"), f.requireText("sha256"),
                f.requireNumberMap("lambda"), f.requireLong("parentVersion"),
                f.has("metrics") ? f.requireNumberMap("metrics") : Map.of(), f.requireLong("timestamp"),
                f.optionalText("requestId"), f.has("external") ? External.fromJson(f.requireObject("external")) : null);
    }
}
