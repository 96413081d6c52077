package dev.dualign.connectors;

import dev.dualign.core.event.Topic;
import dev.dualign.core.config.Config;
import java.io.Serializable;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

/**
 * Resolved Kafka settings: where the cluster is, how topics are named and made, and how sinks
 * deliver. Serializable so Flink functions can carry it.
 *
 * @param bootstrapServers the cluster; empty means "start the embedded broker"
 * @param topicPrefix prefix of every topic name
 * @param partitions partitions of created topics
 * @param replicationFactor replication factor of created topics
 * @param exactlyOnce whether sinks are transactional
 * @param transactionalIdPrefix prefix of sink transactional ids
 * @param transactionTimeoutMs transaction.timeout.ms of exactly-once sinks
 * @param maxRecordBytes larger records are dead-lettered
 * @param groupId consumer group of sources
 * @param clientProperties pass-through client properties (SASL/SSL, ...)
 */
public record KafkaSettings(String bootstrapServers, String topicPrefix, int partitions, int replicationFactor,
        boolean exactlyOnce, String transactionalIdPrefix, long transactionTimeoutMs, int maxRecordBytes, String groupId,
        Map<String, String> clientProperties) implements Serializable {

    public KafkaSettings {
        clientProperties = Map.copyOf(new TreeMap<>(clientProperties));
    }

    public static KafkaSettings from(Config c) {
        return new KafkaSettings(c.get(KafkaOptions.BOOTSTRAP_SERVERS).trim(), c.get(KafkaOptions.TOPIC_PREFIX),
                c.get(KafkaOptions.PARTITIONS), c.get(KafkaOptions.REPLICATION_FACTOR),
                c.get(KafkaOptions.DELIVERY).equals("exactly-once"), c.get(KafkaOptions.TRANSACTIONAL_ID_PREFIX),
                c.get(KafkaOptions.TRANSACTION_TIMEOUT_MS), c.get(KafkaOptions.MAX_RECORD_BYTES),
                c.get(KafkaOptions.GROUP_ID), c.withPrefix(KafkaOptions.CLIENT_PROPERTIES_PREFIX));
    }

    public static KafkaSettings defaults() {
        return from(Config.defaults());
    }

    public boolean useEmbeddedBroker() {
        return bootstrapServers.isEmpty();
    }

    public KafkaSettings withBootstrapServers(String servers) {
        return new KafkaSettings(servers, topicPrefix, partitions, replicationFactor, exactlyOnce, transactionalIdPrefix,
                transactionTimeoutMs, maxRecordBytes, groupId, clientProperties);
    }

    public KafkaSettings withTopicPrefix(String prefix) {
        return new KafkaSettings(bootstrapServers, prefix, partitions, replicationFactor, exactlyOnce,
                transactionalIdPrefix, transactionTimeoutMs, maxRecordBytes, groupId, clientProperties);
    }

    public KafkaSettings withGroupId(String group) {
        return new KafkaSettings(bootstrapServers, topicPrefix, partitions, replicationFactor, exactlyOnce, transactionalIdPrefix,
                transactionTimeoutMs, maxRecordBytes, group, clientProperties);
    }

    public KafkaSettings withExactlyOnce(boolean eos) {
        return new KafkaSettings(bootstrapServers, topicPrefix, partitions, replicationFactor, eos, transactionalIdPrefix,
                transactionTimeoutMs, maxRecordBytes, groupId, clientProperties);
    }

    public String topic(Topic t) {
        return topicPrefix + t.suffix();
    }

    /** Client properties for a plain Kafka client: the pass-through ones plus the bootstrap servers. */
    public Properties clientProperties(Map<String, String> extra) {
        if (useEmbeddedBroker()) {
            throw new IllegalStateException("no bootstrap servers: start the embedded broker first");
        }
        Properties p = new Properties();
        p.putAll(clientProperties);
        p.put("bootstrap.servers", bootstrapServers);
        p.putAll(extra);
        return p;
    }
}
