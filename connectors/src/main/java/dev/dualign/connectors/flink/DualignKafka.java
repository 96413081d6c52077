package dev.dualign.connectors.flink;

import dev.dualign.connectors.KafkaSettings;
import dev.dualign.core.event.Topic;
import dev.dualign.core.event.DeadLetter;
import dev.dualign.core.event.Event;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.sink.TransactionNamingStrategy;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.KafkaSourceBuilder;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.IsolationLevel;

/**
 * Flink sources and sinks for the Dualign topics, configured from {@link KafkaSettings}.
 * Sources read committed records only and dead-letter what they cannot parse; sinks are
 * exactly-once unless {@code kafka.delivery: at-least-once}.
 *
 * <pre>{@code
 * DualignKafka kafka = new DualignKafka(settings);
 * DualignKafka.Parsed<ResponseEvent> in = kafka.read(env, Topic.RESPONSES, ResponseEvent.class, false);
 * in.deadLetters().sinkTo(kafka.sink(Topic.DLQ, DeadLetter.class)).name("dlq").uid("dlq-sink");
 * }</pre>
 */
public final class DualignKafka {
    private final KafkaSettings settings;

    public DualignKafka(KafkaSettings settings) {
        if (settings.useEmbeddedBroker()) {
            throw new IllegalArgumentException("KafkaSettings without bootstrap servers: start the embedded broker "
                    + "and use settings.withBootstrapServers(...)");
        }
        this.settings = settings;
    }

    public KafkaSettings settings() {
        return settings;
    }

    /** Raw records of a topic, read_committed, from the group's committed offsets (earliest when none). */
    public KafkaSource<RawRecord> source(Topic topic, boolean bounded) {
        KafkaSourceBuilder<RawRecord> b = KafkaSource.<RawRecord>builder()
                .setBootstrapServers(settings.bootstrapServers())
                .setTopics(settings.topic(topic))
                .setGroupId(settings.groupId() + "-" + topic.suffix())
                .setStartingOffsets(OffsetsInitializer.committedOffsets(
                        org.apache.kafka.clients.consumer.OffsetResetStrategy.EARLIEST))
                .setDeserializer(new RawRecordDeserializer())
                .setProperties(clientProps(Map.of(
                        ConsumerConfig.ISOLATION_LEVEL_CONFIG, IsolationLevel.READ_COMMITTED.toString().toLowerCase())));
        if (bounded) {
            b.setBounded(OffsetsInitializer.latest());
        }
        return b.build();
    }

    /** Events of a topic and the dead letters of what could not be parsed. */
    public record Parsed<T>(SingleOutputStreamOperator<T> events, DataStream<DeadLetter> deadLetters) {}

    /**
     * Reads and parses a topic. Operators are named and given stable uids
     * ({@code source-<topic>}, {@code parse-<topic>}) so state survives upgrades.
     */
    public <T extends Event> Parsed<T> read(StreamExecutionEnvironment env, Topic topic, Class<T> type, boolean bounded) {
        DataStream<RawRecord> raw = env
                .fromSource(source(topic, bounded), WatermarkStrategy.noWatermarks(), "kafka-" + topic.suffix())
                .uid("source-" + topic.suffix());
        SingleOutputStreamOperator<T> events = raw
                .process(new ParseOrDeadLetter<>(type, settings.maxRecordBytes()), JsonTypeInfo.forRecord(type))
                .name("parse-" + topic.suffix())
                .uid("parse-" + topic.suffix());
        return new Parsed<>(events, events.getSideOutput(ParseOrDeadLetter.DEAD_LETTERS));
    }

    /** A sink writing events to their topic, keyed by the event's key. */
    public <T extends Event> KafkaSink<T> sink(Topic topic, Class<T> type) {
        Properties producer = clientProps(Map.of(
                ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, String.valueOf(settings.transactionTimeoutMs()),
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true",
                ProducerConfig.ACKS_CONFIG, "all"));
        return KafkaSink.<T>builder()
                .setBootstrapServers(settings.bootstrapServers())
                .setKafkaProducerConfig(producer)
                .setRecordSerializer(new EventRecordSerializer<>(settings.topic(topic)))
                .setDeliveryGuarantee(settings.exactlyOnce() ? DeliveryGuarantee.EXACTLY_ONCE : DeliveryGuarantee.AT_LEAST_ONCE)
                .setTransactionalIdPrefix(settings.transactionalIdPrefix() + "-" + topic.suffix())
                // reuse a small pool of transactional ids instead of a new one per checkpoint (the
                // default): the broker keeps every id it has seen for 7 days, ≈ 18,000 an hour at a
                // 2 s interval per sink and subtask. Lingering transactions are found by listing them.
                .setTransactionNamingStrategy(TransactionNamingStrategy.POOLING)
                .build();
    }

    /** Attaches a named, uid'd sink to a stream. */
    public <T extends Event> void write(DataStream<T> stream, Topic topic, Class<T> type) {
        stream.sinkTo(sink(topic, type)).name("sink-" + topic.suffix()).uid("sink-" + topic.suffix());
    }

    private Properties clientProps(Map<String, String> extra) {
        Properties p = settings.clientProperties(extra);
        p.remove("bootstrap.servers"); // set through the builder
        return p;
    }
}
