package dev.dualign.core.event;

import dev.dualign.core.config.EnumKeys;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Function;

/**
 * Every event type and its strict JSON reader, so the Kafka layer can (de)serialize any of them
 * by class without reflection tricks.
 */
public final class Events {
    private static final Map<Class<?>, Function<JsonFields, ?>> READERS = new LinkedHashMap<>();

    static {
        READERS.put(PromptEvent.class, PromptEvent::fromJson);
        READERS.put(ResponseEvent.class, ResponseEvent::fromJson);
        READERS.put(ScoredSample.class, ScoredSample::fromJson);
        READERS.put(DualUpdate.class, DualUpdate::fromJson);
        READERS.put(FineTuneRequest.class, FineTuneRequest::fromJson);
        READERS.put(CheckpointEvent.class, CheckpointEvent::fromJson);
        READERS.put(Alert.class, Alert::fromJson);
        READERS.put(VersionEstimate.class, VersionEstimate::fromJson);
        READERS.put(DeploymentDecision.class, DeploymentDecision::fromJson);
        READERS.put(DeadLetter.class, DeadLetter::fromJson);
    }

    private Events() {}

    /** Parses UTF-8 JSON bytes into {@code type}; any problem is an {@link InvalidEventException}. */
    public static <T> T parse(Class<T> type, byte[] json) {
        Function<JsonFields, ?> reader = READERS.get(type);
        if (reader == null) {
            throw new IllegalArgumentException("not an event type: " + type.getName());
        }
        JsonFields fields = EventJson.parse(json);
        try {
            return type.cast(reader.apply(fields));
        } catch (NullPointerException e) {
            // a record constructor's requireNonNull: the message is the field name
            throw new InvalidEventException(e.getMessage(), "is required");
        }
    }

    public static Set<Class<?>> types() {
        return READERS.keySet();
    }

    /** Scorer name → registry version (≥ 0), in order; null reads as none recorded. */
    static Map<String, Long> copyScorers(Map<String, Long> scorers) {
        if (scorers == null) {
            return Map.of();
        }
        Map<String, Long> out = new LinkedHashMap<>();
        for (Map.Entry<String, Long> e : scorers.entrySet()) {
            Long v = e.getValue();
            if (v == null || v < 0) {
                throw new InvalidEventException("scorers." + e.getKey(), "must be a registry version ≥ 0, got " + v);
            }
            out.put(e.getKey(), v);
        }
        return java.util.Collections.unmodifiableMap(out);
    }

    static Map<String, Double> copyLambda(Map<String, Double> lambda) {
        Objects.requireNonNull(lambda, "lambda");
        Map<String, Double> out = new LinkedHashMap<>();
        for (Map.Entry<String, Double> e : lambda.entrySet()) {
            Double v = e.getValue();
            if (v == null || !Double.isFinite(v) || v < 0) {
                throw new InvalidEventException("lambda." + e.getKey(), "must be a finite number ≥ 0, got " + v);
            }
            out.put(e.getKey(), v);
        }
        return java.util.Collections.unmodifiableMap(out);
    }

    /** The constant of {@code type} spelled {@code key} in the event's {@code field}, or an error naming the field. */
    static <E extends Enum<E>> E byKey(Class<E> type, String field, String key) {
        try {
            return EnumKeys.byKey(type, key);
        } catch (IllegalArgumentException e) {
            throw new InvalidEventException(field, e.getMessage());
        }
    }
}
