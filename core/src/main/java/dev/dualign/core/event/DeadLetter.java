package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.Base64;
import java.util.Objects;

/**
 * A record that could not be processed, on {@code dualign.dlq}, with the reason and the original
 * bytes, so nothing is lost and the producer can be told what to fix. A record longer than
 * {@link #MAX_RAW_BYTES} keeps only its first bytes here, with its full size and SHA-256: a dead
 * letter must always fit through Kafka's default 1 MiB request limit, or the sink that writes it
 * fails and the job restarts onto the same record for ever. The whole record stays where
 * {@code sourceTopic}/{@code partition}/{@code offset} say.
 *
 * @param sourceTopic topic the record came from (the key)
 * @param partition its partition (−1 when not from Kafka)
 * @param offset its offset (−1 when not from Kafka)
 * @param raw the original value bytes (at most {@link #MAX_RAW_BYTES} of them), base64
 * @param error why it was refused
 * @param timestamp epoch milliseconds when it was refused
 * @param rawSize the original size in bytes, when {@code raw} was truncated (else null)
 * @param rawSha256 the SHA-256 of the whole original, hex, when {@code raw} was truncated (else null)
 */
@JsonPropertyOrder({"schema", "sourceTopic", "partition", "offset", "raw", "error", "timestamp", "rawSize", "rawSha256"})
public record DeadLetter(String sourceTopic, int partition, long offset, String raw, String error, long timestamp,
        Long rawSize, String rawSha256) implements Event {
    /** The most original bytes a dead letter carries: base64 (+33 %) plus the rest stays far below 1 MiB. */
    public static final int MAX_RAW_BYTES = 64 * 1024;
    /** The longest reason kept. */
    public static final int MAX_ERROR_CHARS = 4096;

    public DeadLetter {
        Objects.requireNonNull(sourceTopic, "sourceTopic");
        Objects.requireNonNull(raw, "raw");
        Objects.requireNonNull(error, "error");
    }

    public static DeadLetter of(String sourceTopic, int partition, long offset, byte[] value, String error, long now) {
        byte[] v = value == null ? new byte[0] : value;
        String why = error.length() <= MAX_ERROR_CHARS ? error : error.substring(0, MAX_ERROR_CHARS) + "…";
        if (v.length <= MAX_RAW_BYTES) {
            return new DeadLetter(sourceTopic, partition, offset, Base64.getEncoder().encodeToString(v), why, now, null, null);
        }
        byte[] head = java.util.Arrays.copyOf(v, MAX_RAW_BYTES);
        return new DeadLetter(sourceTopic, partition, offset, Base64.getEncoder().encodeToString(head), why, now,
                (long) v.length, sha256(v));
    }

    /** Whether {@code raw} holds only the first {@link #MAX_RAW_BYTES} of the original. */
    public boolean truncated() {
        return rawSize != null;
    }

    private static String sha256(byte[] v) {
        try {
            return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(v));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
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
                raw, f.requireString("error"), f.requireLong("timestamp"), f.optionalLong("rawSize"),
                f.optionalText("rawSha256"));
    }
}
