package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A new policy version published to the registry, on {@code dualign.checkpoints}. The path is
 * relative to the registry and may not escape it; the sha256 lets the server refuse a tampered
 * or half-written version.
 *
 * @param version the new policy version
 * @param path registry-relative path of the version's directory
 * @param sha256 digest of the version's manifest (64 hex characters)
 * @param lambda λ it was trained with
 * @param parentVersion the version it was trained from
 * @param metrics training metrics (loss, KL, ...)
 * @param timestamp epoch milliseconds
 */
@JsonPropertyOrder({"schema", "version", "path", "sha256", "lambda", "parentVersion", "metrics", "timestamp"})
public record CheckpointEvent(long version, String path, String sha256, Map<String, Double> lambda, long parentVersion,
        Map<String, Double> metrics, long timestamp) implements Event {
    private static final Pattern HEX64 = Pattern.compile("[0-9a-f]{64}");

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
    }

    @Override
    public String key() {
        return Long.toString(version);
    }

    public static CheckpointEvent fromJson(JsonFields f) {
        return new CheckpointEvent(f.requireLong("version"), f.requireText("path"), f.requireText("sha256"),
                f.requireNumberMap("lambda"), f.requireLong("parentVersion"),
                f.has("metrics") ? f.requireNumberMap("metrics") : Map.of(), f.requireLong("timestamp"));
    }
}
