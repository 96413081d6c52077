package dev.dualign.connectors.flink;

import dev.dualign.core.event.Event;
import java.nio.charset.StandardCharsets;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;

/** Writes an event to its topic: key = the event's key (UTF-8), value = its JSON. */
public final class EventRecordSerializer<T extends Event> implements KafkaRecordSerializationSchema<T> {
    private static final long serialVersionUID = 1L;
    private final String topic;

    public EventRecordSerializer(String topic) {
        this.topic = topic;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(T event, KafkaSinkContext ctx, Long timestamp) {
        return new ProducerRecord<>(topic, null, timestamp, event.key().getBytes(StandardCharsets.UTF_8),
                event.toJsonBytes());
    }
}
