package dev.dualign.connectors.flink;

import dev.dualign.core.event.Event;
import java.nio.charset.StandardCharsets;
import org.apache.flink.connector.kafka.lineage.DefaultKafkaDatasetFacet;
import org.apache.flink.connector.kafka.lineage.DefaultKafkaDatasetIdentifier;
import org.apache.flink.connector.kafka.lineage.KafkaDatasetFacet;
import org.apache.flink.connector.kafka.lineage.KafkaDatasetFacetProvider;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;

/** Writes an event to its topic: key = the event's key (UTF-8), value = its JSON. */
public final class EventRecordSerializer<T extends Event> implements KafkaRecordSerializationSchema<T>,
        KafkaDatasetFacetProvider {
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

    /** The topic it writes: the sink's pooled transaction naming finds lingering transactions by it. */
    @Override
    public java.util.Optional<KafkaDatasetFacet> getKafkaDatasetFacet() {
        return java.util.Optional.of(new DefaultKafkaDatasetFacet(DefaultKafkaDatasetIdentifier.ofTopics(java.util.List.of(topic))));
    }
}
