package dev.dualign.connectors.flink;

import java.util.Arrays;
import java.util.Objects;

/**
 * A Kafka record exactly as read, before any parsing. Sources emit these so that a malformed
 * record can never fail the source: parsing happens in {@link ParseOrDeadLetter}, which
 * dead-letters what it cannot read. A mutable POJO so Flink serializes it without Kryo.
 */
public final class RawRecord {
    public String topic;
    public int partition;
    public long offset;
    public long timestamp;
    public byte[] key;
    public byte[] value;

    public RawRecord() {}

    public RawRecord(String topic, int partition, long offset, long timestamp, byte[] key, byte[] value) {
        this.topic = topic;
        this.partition = partition;
        this.offset = offset;
        this.timestamp = timestamp;
        this.key = key;
        this.value = value;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RawRecord r && partition == r.partition && offset == r.offset && timestamp == r.timestamp
                && Objects.equals(topic, r.topic) && Arrays.equals(key, r.key) && Arrays.equals(value, r.value);
    }

    @Override
    public int hashCode() {
        return Objects.hash(topic, partition, offset);
    }

    @Override
    public String toString() {
        return topic + "/" + partition + "@" + offset;
    }
}
