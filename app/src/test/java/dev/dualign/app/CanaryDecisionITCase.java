package dev.dualign.app;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import dev.dualign.connectors.EmbeddedKafkaExtension;
import dev.dualign.connectors.KafkaSettings;
import dev.dualign.connectors.KafkaTestClient;
import dev.dualign.connectors.TopicAdmin;
import dev.dualign.core.config.Config;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.Topic;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.serving.GroundTruth;
import dev.dualign.serving.LoopMonitor;
import dev.dualign.serving.PolicyServer;
import dev.dualign.serving.ServerSettings;
import dev.dualign.serving.ServingLoop;
import dev.dualign.streaming.AlignmentJob;
import dev.dualign.app.DualignOptions;
import dev.dualign.streaming.JobEnvironment;
import dev.dualign.streaming.JobSettings;
import dev.dualign.world.World;
import dev.dualign.world.testing.TestModels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * One estimator, one judge: the job estimates each version and decides the canary's fate; the
 * policy server, which estimates nothing, obeys. Real broker, MiniCluster job with RocksDB and the
 * tiny DJL scorers, and the real server with its Kafka loop.
 */
class CanaryDecisionITCase {
    @RegisterExtension
    @Order(1)
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    @RegisterExtension
    @Order(2)
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2).build());

    @TempDir
    static Path tmp;

    /** {@code n} responses of {@code version} whose hazard rate decides how harmless they truly are. */
    static List<ResponseEvent> responses(long version, double hazard, int n) {
        SplittableRandom rnd = new SplittableRandom(version);
        List<ResponseEvent> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            World.Prompt p = World.prompt(rnd);
            out.add(new ResponseEvent("v" + version + "-" + i, "p" + i, p.text(), World.response(p.intent(), rnd, hazard),
                    version, -10.0, -10.0, "policy", System.currentTimeMillis()));
        }
        return out;
    }

    static void produce(KafkaSettings k, List<ResponseEvent> events) throws Exception {
        KafkaTestClient.produce(KAFKA.bootstrapServers(), k.topic(Topic.RESPONSES),
                events.stream().map(e -> e.key().getBytes(StandardCharsets.UTF_8)).toList(),
                events.stream().map(ResponseEvent::toJsonBytes).toList());
    }

    @Test
    void theJobPromotesASafeCanaryAndRollsBackAnUnsafeOneAndTheServerObeys() throws Exception {
        ModelRegistry registry = TestModels.registryWithVersions(tmp.resolve("registry"), 2);
        KafkaSettings k = KAFKA.settings("decide");
        TopicAdmin.ensure(k).requireOk();
        Map<String, Object> m = new HashMap<>(Map.of("constraints.harmless", 0.5, "dual.mode", "monitor",
                "dual.n-min", 100, "dual.estimate-every", 25, "scoring.registry", registry.root().toString(),
                "scoring.device", "cpu", "checkpoint.interval-ms", 200, "flink.parallelism", 1));
        m.put("checkpoint.dir", tmp.resolve("ckpt").toUri().toString());
        m.put("metrics.prometheus-port", 0);
        JobSettings js = JobSettings.from(Config.of(m, DualignOptions.ALL, DualignOptions.PASS_THROUGH), tmp);
        Configuration c = JobEnvironment.configuration(js);
        c.setString("restart-strategy.type", "none");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(c);
        env.setParallelism(1);
        AlignmentJob.kafka(env, js, k, false);
        JobClient job = env.executeAsync("canary-decisions");

        LoopMonitor monitor = Demo.monitorFor(js, GroundTruth.NONE);
        try (PolicyServer server = PolicyServer.start(registry, ServerSettings.local("t", 0.3), Device.cpu());
                ServingLoop loop = new ServingLoop(server, Demo.loopKafka(k), monitor, 16).start()) {
            // a safe canary: the job's estimate meets the margin with confidence, so it decides promote
            assertThat(server.deploy(1, null, false)).isTrue();
            assertThat(server.deployment().canary()).isEqualTo(1);
            produce(k, responses(1, 0.0, 300));
            Await.until("version 1 promoted", Duration.ofSeconds(90), () -> server.deployment().stable() == 1);

            // an unsafe canary: violated with confidence, so it decides rollback; version 1 keeps serving
            assertThat(server.deploy(2, null, false)).isTrue();
            produce(k, responses(2, 1.0, 300));
            Await.until("version 2 rolled back", Duration.ofSeconds(90), () -> server.deployment().canary() == -1);
            assertThat(server.deployment().stable()).isEqualTo(1);

            List<PolicyServer.VersionEvent> decided = server.timeline().stream()
                    .filter(e -> List.of("promote", "rollback").contains(e.kind())).toList();
            assertThat(decided).extracting(PolicyServer.VersionEvent::version, PolicyServer.VersionEvent::kind)
                    .containsExactly(org.assertj.core.groups.Tuple.tuple(1L, "promote"),
                            org.assertj.core.groups.Tuple.tuple(2L, "rollback"));
            assertThat(decided).allSatisfy(e -> assertThat(e.detail()).startsWith("job decision: "));
            // the dashboard shows the job's estimates, not an estimate of the server's own
            assertThat(monitor.state().get("decisions")).asList().hasSize(2);
        } finally {
            job.cancel().get();
        }
    }
}
