package dev.dualign.connectors;

import dev.dualign.core.event.Topic;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class TopicAdminITCase {
    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    @Test
    void shouldCreateEveryMissingTopicAndVerifyThemOnTheNextRun() {
        KafkaSettings s = KAFKA.settings("admin-a.");
        TopicAdmin.Report first = TopicAdmin.ensure(s);
        assertThat(first.created()).hasSize(Topic.values().length).contains("admin-a.responses", "admin-a.dlq");
        assertThat(first.ok()).isTrue();
        TopicAdmin.Report second = TopicAdmin.ensure(s);
        assertThat(second.created()).isEmpty();
        assertThat(second.verified()).hasSize(Topic.values().length);
    }

    @Test
    void shouldReportATopicWithFewerPartitionsThanConfigured() throws Exception {
        KafkaSettings s = KAFKA.settings("admin-b.");
        try (Admin admin = Admin.create(s.clientProperties(Map.of()))) {
            admin.createTopics(List.of(new NewTopic("admin-b.responses", 1, (short) 1))).all().get();
        }
        KafkaSettings wantsThree = new KafkaSettings(s.bootstrapServers(), "admin-b.", 3, 1, true, "t", 60000,
                1 << 20, "g", Map.of());
        TopicAdmin.Report report = TopicAdmin.ensure(wantsThree, List.of(Topic.RESPONSES, Topic.SCORED));
        assertThat(report.ok()).isFalse();
        assertThat(report.problems()).singleElement().asString()
                .contains("admin-b.responses").contains("1 partition").contains("configured 3");
        assertThat(report.created()).containsExactly("admin-b.scored");
        assertThatThrownBy(report::requireOk).hasMessageContaining("admin-b.responses");
    }

    static String cleanupPolicy(Admin admin, String topic) throws Exception {
        org.apache.kafka.common.config.ConfigResource r = new org.apache.kafka.common.config.ConfigResource(
                org.apache.kafka.common.config.ConfigResource.Type.TOPIC, topic);
        return admin.describeConfigs(List.of(r)).all().get().get(r).get("cleanup.policy").value();
    }

    @Test
    void theStateTopicsAreCompactedWhenMadeAndMadeCompactedWhenTheyWereNot() throws Exception {
        KafkaSettings s = KAFKA.settings("admin-c.");
        try (Admin admin = Admin.create(s.clientProperties(Map.of()))) {
            // made before they were compacted: deleted by age, so a restarted server would lose its state
            admin.createTopics(List.of(new NewTopic("admin-c.decisions", s.partitions(), (short) 1))).all().get();
            assertThat(cleanupPolicy(admin, "admin-c.decisions")).isEqualTo("delete");
            TopicAdmin.Report r = TopicAdmin.ensure(s);
            assertThat(r.ok()).as(r.problems().toString()).isTrue();
            for (Topic t : Topic.values()) {
                assertThat(cleanupPolicy(admin, s.topic(t))).as(t.name()).isEqualTo(t.compacted() ? "compact" : "delete");
            }
            assertThat(List.of(Topic.values()).stream().filter(Topic::compacted))
                    .containsExactlyInAnyOrder(Topic.DUAL, Topic.CHECKPOINTS, Topic.DECISIONS);
        }
    }
}
