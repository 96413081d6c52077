package dev.dualign.connectors;

import dev.dualign.core.config.ConfigOption;
import java.util.List;

/** Every Kafka setting of Dualign; {@code conf/dualign.yaml} names the same keys under {@code kafka:}. */
public final class KafkaOptions {
    /** Client properties under this prefix are passed to every Kafka client unchanged (SASL, SSL, ...). */
    public static final String CLIENT_PROPERTIES_PREFIX = "kafka.properties.";

    public static final ConfigOption<String> BOOTSTRAP_SERVERS = ConfigOption.string("kafka.bootstrap.servers", "")
            .describe("Kafka cluster to use; empty starts the embedded single-node broker.");
    public static final ConfigOption<String> TOPIC_PREFIX = ConfigOption.string("kafka.topic-prefix", "dualign.")
            .check(p -> p.matches("[A-Za-z0-9._-]*"), "letters, digits, '.', '_' or '-'")
            .describe("Prefix of every topic name (dualign.responses, ...).");
    public static final ConfigOption<Integer> PARTITIONS = ConfigOption.integer("kafka.partitions", 2)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Partitions of each topic Dualign creates.");
    public static final ConfigOption<Integer> REPLICATION_FACTOR = ConfigOption.integer("kafka.replication-factor", 1)
            .check(v -> v >= 1 && v <= Short.MAX_VALUE, "an integer ≥ 1").describe("Replication factor of created topics.");
    public static final ConfigOption<String> DELIVERY = ConfigOption.choice("kafka.delivery", "exactly-once",
            "exactly-once", "at-least-once").describe("Guarantee of the Flink Kafka sinks.");
    public static final ConfigOption<String> TRANSACTIONAL_ID_PREFIX = ConfigOption.string("kafka.transactional-id-prefix",
            "dualign").check(p -> !p.isBlank(), "a non-empty string")
            .describe("Prefix of the exactly-once sinks' transactional ids; unique per job on a shared cluster.");
    public static final ConfigOption<Long> TRANSACTION_TIMEOUT_MS = ConfigOption.longInteger("kafka.transaction-timeout-ms",
            600_000L).check(v -> v >= 1000 && v <= 900_000, "between 1000 and 900000 (the broker's default maximum)")
            .describe("transaction.timeout.ms of exactly-once sinks; must exceed the checkpoint interval.");
    public static final ConfigOption<Integer> MAX_RECORD_BYTES = ConfigOption.integer("kafka.max-record-bytes", 1 << 20)
            .check(v -> v >= 64, "an integer ≥ 64").describe("Larger records are dead-lettered, not parsed.");
    public static final ConfigOption<String> GROUP_ID = ConfigOption.string("kafka.group-id", "dualign")
            .check(p -> !p.isBlank(), "a non-empty string").describe("Consumer group of the Flink sources.");

    public static final List<ConfigOption<?>> ALL = List.of(BOOTSTRAP_SERVERS, TOPIC_PREFIX, PARTITIONS,
            REPLICATION_FACTOR, DELIVERY, TRANSACTIONAL_ID_PREFIX, TRANSACTION_TIMEOUT_MS, MAX_RECORD_BYTES, GROUP_ID);

    private KafkaOptions() {}
}
