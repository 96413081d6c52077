package dev.dualign.service;

import dev.dualign.core.event.Topic;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * How the server and the fine-tuner reach Kafka: the client properties (bootstrap servers plus any
 * pass-through security settings), the topic prefix (topics themselves are {@link Topic}) and the
 * group id they derive theirs from. Kept free of Flink so that {@code model-serving} needs only the
 * plain Kafka client.
 */
public record LoopKafka(Properties client, String groupId, String topicPrefix) {
    public String topic(Topic t) {
        return t.under(topicPrefix);
    }

    public String prompts() {
        return topic(Topic.PROMPTS);
    }

    public String responses() {
        return topic(Topic.RESPONSES);
    }

    public String scored() {
        return topic(Topic.SCORED);
    }

    public String dual() {
        return topic(Topic.DUAL);
    }

    public String control() {
        return topic(Topic.CONTROL);
    }

    public String checkpoints() {
        return topic(Topic.CHECKPOINTS);
    }

    public String alerts() {
        return topic(Topic.ALERTS);
    }

    public String estimates() {
        return topic(Topic.ESTIMATES);
    }

    public String decisions() {
        return topic(Topic.DECISIONS);
    }

    public String dlq() {
        return topic(Topic.DLQ);
    }

    /** A read_committed consumer of string keys and byte values; no auto-commit. */
    public KafkaConsumer<String, byte[]> consumer(String groupSuffix) {
        return consumer(groupSuffix, java.util.Map.of());
    }

    /** As {@link #consumer(String)}, with extra client properties (e.g. {@code max.poll.records}). */
    public KafkaConsumer<String, byte[]> consumer(String groupSuffix, java.util.Map<String, ?> extra) {
        Properties p = new Properties();
        p.putAll(client);
        p.putAll(extra);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, groupId + "-" + groupSuffix);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        return new KafkaConsumer<>(p);
    }

    /** An idempotent producer; transactional when {@code transactionalId} is given. */
    public KafkaProducer<String, byte[]> producer(String transactionalId) {
        return producer(transactionalId, java.util.Map.of());
    }

    /** As {@link #producer(String)}, with client properties of the caller's over the configured ones. */
    public KafkaProducer<String, byte[]> producer(String transactionalId, java.util.Map<String, ?> extra) {
        Properties p = new Properties();
        p.putAll(client);
        p.putAll(extra);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        if (transactionalId != null) {
            p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        }
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        return new KafkaProducer<>(p);
    }
}
