package dev.dualign.connectors;

import dev.dualign.core.event.Topic;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Creates missing topics with the configured partitions and replication, and verifies existing
 * ones: a topic with fewer partitions than configured is reported, never silently used.
 */
public final class TopicAdmin {
    private TopicAdmin() {}

    /** What {@link #ensure} found and did. */
    public record Report(List<String> created, List<String> verified, List<String> problems) {
        public boolean ok() {
            return problems.isEmpty();
        }

        /** Throws naming every problem, for start-up checks. */
        public Report requireOk() {
            if (!ok()) {
                throw new IllegalStateException("Kafka topics do not match the configuration: " + String.join("; ", problems));
            }
            return this;
        }
    }

    /**
     * Fails with a message naming the servers unless the cluster answers within {@code timeout}:
     * a consumer pointed at a dead address would otherwise retry (and log) for ever.
     */
    public static void requireReachable(KafkaSettings settings, java.time.Duration timeout) {
        Admin admin = Admin.create(settings.clientProperties(Map.of()));
        try {
            admin.describeCluster().clusterId().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while connecting to Kafka", e);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new KafkaUnreachableException("cannot reach Kafka at " + settings.bootstrapServers() + ": no answer within "
                    + timeout.toSeconds() + " s", e);
        } catch (java.util.concurrent.ExecutionException e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new KafkaUnreachableException("cannot reach Kafka at " + settings.bootstrapServers() + ": "
                    + (cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage()), e);
        } finally {
            admin.close(java.time.Duration.ofSeconds(1));
        }
    }

    public static Report ensure(KafkaSettings settings) {
        return ensure(settings, List.of(Topic.values()));
    }

    public static Report ensure(KafkaSettings settings, Collection<Topic> topics) {
        try (Admin admin = Admin.create(settings.clientProperties(Map.of()))) {
            return ensure(admin, settings, topics);
        }
    }

    public static Report ensure(Admin admin, KafkaSettings settings, Collection<Topic> topics) {
        List<String> created = new ArrayList<>();
        List<String> verified = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        try {
            Set<String> existing = admin.listTopics().names().get(30, TimeUnit.SECONDS);
            List<NewTopic> missing = new ArrayList<>();
            List<String> compacted = topics.stream().filter(Topic::compacted).map(settings::topic).toList();
            for (Topic t : topics) {
                String name = settings.topic(t);
                if (!existing.contains(name)) {
                    NewTopic nt = new NewTopic(name, settings.partitions(), (short) settings.replicationFactor());
                    if (t.compacted()) {
                        nt.configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT));
                    }
                    missing.add(nt);
                }
            }
            for (NewTopic nt : missing) {
                try {
                    admin.createTopics(List.of(nt)).all().get(30, TimeUnit.SECONDS);
                    created.add(nt.name());
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        problems.add(nt.name() + ": cannot create: " + e.getCause().getMessage());
                    }
                }
            }
            List<String> toCheck = topics.stream().map(settings::topic).filter(n -> !created.contains(n)).toList();
            if (!toCheck.isEmpty()) {
                Map<String, TopicDescription> d = admin.describeTopics(toCheck).allTopicNames().get(30, TimeUnit.SECONDS);
                for (String name : toCheck) {
                    TopicDescription td = d.get(name);
                    int have = td.partitions().size();
                    int replicas = td.partitions().get(0).replicas().size();
                    if (have < settings.partitions()) {
                        problems.add(name + " has " + have + " partition" + (have == 1 ? "" : "s") + ", configured "
                                + settings.partitions() + " (kafka.partitions): add partitions or lower the setting");
                    } else if (replicas < settings.replicationFactor()) {
                        problems.add(name + " has replication factor " + replicas + ", configured "
                                + settings.replicationFactor() + " (kafka.replication-factor)");
                    } else {
                        verified.add(name);
                    }
                }
                compact(admin, toCheck.stream().filter(compacted::contains).toList(), problems);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while checking Kafka topics", e);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("cannot reach Kafka at " + settings.bootstrapServers()
                    + " to check topics: no answer within 30 s", e);
        } catch (Exception e) {
            throw new IllegalStateException("cannot reach Kafka at " + settings.bootstrapServers() + " to check topics: "
                    + e.getMessage(), e);
        }
        return new Report(List.copyOf(created), List.copyOf(verified), List.copyOf(problems));
    }

    /**
     * Makes existing state topics compacted (a topic made before they were, or by hand): otherwise
     * their records age out and a restarted server no longer finds what it served.
     */
    private static void compact(Admin admin, List<String> names, List<String> problems) throws Exception {
        if (names.isEmpty()) {
            return;
        }
        List<ConfigResource> rs = names.stream().map(n -> new ConfigResource(ConfigResource.Type.TOPIC, n)).toList();
        Map<ConfigResource, Config> configs = admin.describeConfigs(rs).all().get(30, TimeUnit.SECONDS);
        for (ConfigResource r : rs) {
            ConfigEntry policy = configs.get(r).get(TopicConfig.CLEANUP_POLICY_CONFIG);
            if (policy != null && policy.value() != null && policy.value().contains(TopicConfig.CLEANUP_POLICY_COMPACT)) {
                continue;
            }
            try {
                admin.incrementalAlterConfigs(Map.of(r, List.of(new AlterConfigOp(
                        new ConfigEntry(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT), AlterConfigOp.OpType.SET))))
                        .all().get(30, TimeUnit.SECONDS);
                org.slf4j.LoggerFactory.getLogger(TopicAdmin.class).info("topic {} is now compacted (was cleanup.policy={})", r.name(),
                        policy == null ? "unset" : policy.value());
            } catch (ExecutionException e) {
                problems.add(r.name() + " must be compacted (cleanup.policy=compact) and could not be changed: "
                        + e.getCause().getMessage());
            }
        }
    }
}
