package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.Base64;
import java.util.Objects;

/**
 * A record that could not be processed, on {@code dualign.dlq}, with the reason and the original
 * bytes, so nothing is lost and the producer can be told what to fix.
 *
 * @param sourceTopic topic the record came from (the key)
 * @param partition its partition (−1 when not from Kafka)
 * @param offset its offset (−1 when not from Kafka)
 * @param raw the original value bytes, base64
 * @param error why it was refused
 * @param timestamp epoch milliseconds when it was refused
 */
@JsonPropertyOrder({"schema", "sourceTopic", "partition", "offset", "raw", "error", "timestamp"})
public record DeadLetter(String sourceTopic, int partition, long offset, String raw, String error, long timestamp)
        implements Event {
    public DeadLetter {
        Objects.requireNonNull(sourceTopic, "sourceTopic");
        Objects.requireNonNull(raw, "raw");
        Objects.requireNonNull(error, "error");
    }

    public static DeadLetter of(String sourceTopic, int partition, long offset, byte[] value, String error, long now) {
        return new DeadLetter(sourceTopic, partition, offset,
                Base64.getEncoder().encodeToString(value == null ? new byte[0] : value), error, now);
    }

    @Override
    public String key() {
        return sourceTopic;
    }

    /** The original bytes. */
    public byte[] rawBytes() {
        return Base64.getDecoder().decode(raw);
    }

    public static DeadLetter fromJson(JsonFields f) {
        String raw = f.requireString("raw");
        try {
            Base64.getDecoder().decode(raw);
        } catch (IllegalArgumentException e) {
            throw new InvalidEventException("raw", "must be base64");
        }
        return new DeadLetter(f.requireText("sourceTopic"), (int) f.requireLong("partition"), f.requireLong("offset"),
                raw, f.requireString("error"), f.requireLong("timestamp"));
    }
}
