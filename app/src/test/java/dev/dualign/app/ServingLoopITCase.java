package dev.dualign.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.Device;
import dev.dualign.connectors.EmbeddedKafkaExtension;
import dev.dualign.connectors.KafkaSettings;
import dev.dualign.connectors.KafkaTestClient;
import dev.dualign.connectors.TopicAdmin;
import dev.dualign.core.event.EventJson;
import dev.dualign.core.event.Events;
import dev.dualign.core.event.PromptEvent;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.serving.HttpApi;
import dev.dualign.service.LoopKafka;
import dev.dualign.serving.LoopMonitor;
import dev.dualign.serving.PolicyServer;
import dev.dualign.serving.ServerSettings;
import dev.dualign.serving.ServingLoop;
import dev.dualign.world.testing.TestModels;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The policy server's Kafka mode against real failures of its peers: a predecessor that crashed
 * in the middle of a transaction, and a second live instance under the same name.
 */
class ServingLoopITCase {
    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    @TempDir
    static Path tmp;

    static ModelRegistry registry;

    @BeforeAll
    static void models() throws Exception {
        registry = TestModels.registryWithVersions(tmp.resolve("registry"), 0);
    }

    static LoopKafka topics(String prefix) {
        KafkaSettings k = KAFKA.settings(prefix).withGroupId("serve-" + prefix);
        TopicAdmin.ensure(k).requireOk();
        return Demo.loopKafka(k);
    }

    static void prompts(LoopKafka lk, String prefix, int n) throws Exception {
        List<byte[]> keys = new ArrayList<>();
        List<byte[]> values = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            PromptEvent p = new PromptEvent(prefix + "-q" + i, "how do i sleep better", "s" + i, System.currentTimeMillis());
            keys.add(p.key().getBytes(StandardCharsets.UTF_8));
            values.add(EventJson.writeBytes(p));
        }
        KafkaTestClient.produce(KAFKA.bootstrapServers(), lk.prompts(), keys, values);
    }

    static LoopMonitor monitor() {
        return new LoopMonitor(dev.dualign.core.dual.DualMode.MONITOR, java.util.Map.of("harmless", 0.5),
                dev.dualign.serving.GroundTruth.NONE, LoopMonitor.Bands.of(0.95, true));
    }

    @Test
    void aRestartedServerAbortsTheTransactionItsCrashedPredecessorLeftOpen() throws Exception {
        LoopKafka lk = topics("restart.");
        LoopMonitor monitor = monitor();
        try (PolicyServer server = PolicyServer.start(registry, ServerSettings.local("t", 0.0), Device.cpu())) {
            ServingLoop loop = new ServingLoop(server, lk, monitor, 16, "node-a");
            // the instance that ran as node-a before crashed with a transaction open: a response written, never committed
            KafkaProducer<String, byte[]> crashed = lk.producer(loop.transactionalId());
            crashed.initTransactions();
            crashed.beginTransaction();
            ResponseEvent half = new ResponseEvent("half", "q", "how do i sleep", "never committed", 0, -1.0, -1.0, "policy", 1L);
            crashed.send(new ProducerRecord<>(lk.responses(), half.key(), EventJson.writeBytes(half))).get();
            try (ServingLoop restarted = loop.start()) {
                prompts(lk, "restart", 1);
                // read_committed: the open transaction would hide this answer until it timed out (60 s);
                // the restarted instance, under the same name, aborted it when it started
                List<ConsumerRecord<byte[], byte[]>> out = KafkaTestClient.consume(KAFKA.bootstrapServers(), lk.responses(), 1,
                        Duration.ofSeconds(20));
                assertThat(out).hasSize(1);
                ResponseEvent r = Events.parse(ResponseEvent.class, out.get(0).value());
                assertThat(r.promptId()).isEqualTo("restart-q0");
                assertThat(restarted.problem()).isNull();
            }
            assertThatThrownBy(crashed::commitTransaction).as("the crashed instance's producer is fenced")
                    .isInstanceOf(org.apache.kafka.common.KafkaException.class);
            crashed.close(Duration.ZERO);
        }
    }

    @Test
    void aSecondLiveInstanceUnderTheSameNameStopsTheFirstAndItsHealthCheckSaysWhy() throws Exception {
        LoopKafka lk = topics("twins.");
        LoopMonitor monitor = monitor();
        HttpClient client = HttpClient.newHttpClient();
        try (PolicyServer a = PolicyServer.start(registry, ServerSettings.local("t", 0.0), Device.cpu());
                PolicyServer b = PolicyServer.start(registry, ServerSettings.local("t", 0.0), Device.cpu());
                ServingLoop first = new ServingLoop(a, lk, monitor, 16, "twin").start();
                HttpApi api = new HttpApi(a, null, null, first::problem)) {
            HttpRequest health = HttpRequest.newBuilder(URI.create(api.url() + "healthz")).GET().build();
            assertThat(client.send(health, HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
            try (ServingLoop second = new ServingLoop(b, lk, monitor, 16, "twin").start()) {
                // prompts on every partition: the first instance meets the fencing at its next commit
                prompts(lk, "twins", 30);
                Await.until("the first instance to notice it was fenced", Duration.ofSeconds(90), () -> first.problem() != null);
                assertThat(first.problem()).contains("another server instance").contains("server.instance-id");
                HttpResponse<String> r = client.send(health, HttpResponse.BodyHandlers.ofString());
                assertThat(r.statusCode()).isEqualTo(503);
                assertThat(r.body()).contains("degraded").contains("server.instance-id");
                // nothing is lost: the second instance answers every prompt, the first one's uncommitted ones too
                List<String> answered = KafkaTestClient.consume(KAFKA.bootstrapServers(), lk.responses(), 30,
                        Duration.ofSeconds(60)).stream().map(x -> Events.parse(ResponseEvent.class, x.value()).promptId()).toList();
                assertThat(answered).hasSize(30).doesNotHaveDuplicates();
                assertThat(second.problem()).isNull();
            }
        }
    }

    static void event(String topic, dev.dualign.core.event.Event e) throws Exception {
        KafkaTestClient.produce(KAFKA.bootstrapServers(), topic, List.of(e.key().getBytes(StandardCharsets.UTF_8)),
                List.of(EventJson.writeBytes(e)));
    }

    static void bothAt(PolicyServer a, PolicyServer b, long stable, long canary) throws InterruptedException {
        Await.until("two replicas at stable " + stable + ", canary " + canary, Duration.ofSeconds(60), () ->
                a.deployment().stable() == stable && a.deployment().canary() == canary
                && b.deployment().stable() == stable && b.deployment().canary() == canary);
    }

    @Test
    void twoReplicasShareThePromptsRouteAlikeAndFollowAPromoteAndARollback() throws Exception {
        LoopKafka lk = topics("replicas.");
        ModelRegistry reg = TestModels.registryWithVersions(tmp.resolve("replicas-registry"), 2);
        ServerSettings settings = ServerSettings.local("t", 0.5);
        try (PolicyServer a = PolicyServer.start(reg, settings, Device.cpu());
                PolicyServer b = PolicyServer.start(reg, settings, Device.cpu());
                ServingLoop la = new ServingLoop(a, lk, monitor(), 16, "replica-a").start();
                ServingLoop lb = new ServingLoop(b, lk, monitor(), 16, "replica-b").start()) {
            // version 1 is announced once, on the broadcast topic: both replicas make it their canary
            event(lk.checkpoints(), new dev.dualign.core.event.CheckpointEvent(1, "policy/1",
                    reg.manifestSha256(dev.dualign.model.registry.ModelNames.POLICY, 1), java.util.Map.of("harmless", 1.0), 0,
                    java.util.Map.of(), System.currentTimeMillis()));
            bothAt(a, b, 0, 1);

            // canary routing is a function of the prompt's id: both replicas send each prompt to the same version
            List<PolicyServer.Prompt> same = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                same.add(new PolicyServer.Prompt("route-" + i, "how do i sleep better"));
            }
            List<Long> byA = a.answer(same).stream().map(ResponseEvent::policyVersion).toList();
            List<Long> byB = b.answer(same).stream().map(ResponseEvent::policyVersion).toList();
            assertThat(byB).isEqualTo(byA);
            assertThat(byA).contains(0L, 1L);

            // Kafka mode: one consumer group, so the replicas share the prompts and answer each once
            int sent = 0;
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while ((la.answered() == 0 || lb.answered() == 0) && System.nanoTime() < deadline) {
                prompts(lk, "shared" + sent, 10);
                sent += 10;
                Thread.sleep(2000);
            }
            assertThat(la.answered()).as("answered by replica a").isPositive();
            assertThat(lb.answered()).as("answered by replica b").isPositive();
            int total = sent;
            List<String> answered = KafkaTestClient.consume(KAFKA.bootstrapServers(), lk.responses(), total,
                    Duration.ofSeconds(60)).stream().map(x -> Events.parse(ResponseEvent.class, x.value()).promptId()).toList();
            assertThat(answered).hasSize(total).doesNotHaveDuplicates();

            // the job's decisions reach every replica
            event(lk.decisions(), new dev.dualign.core.event.DeploymentDecision(1,
                    dev.dualign.core.event.DeploymentDecision.Action.PROMOTE, "test", java.util.Map.of(), System.currentTimeMillis()));
            bothAt(a, b, 1, -1);
            event(lk.checkpoints(), new dev.dualign.core.event.CheckpointEvent(2, "policy/2",
                    reg.manifestSha256(dev.dualign.model.registry.ModelNames.POLICY, 2), java.util.Map.of("harmless", 2.0), 1,
                    java.util.Map.of(), System.currentTimeMillis()));
            bothAt(a, b, 1, 2);
            // a third replica started now (a scale-up, a restart) serves what the others serve, not its
            // initial version: it reads the history of announcements and decisions first
            try (PolicyServer c = PolicyServer.start(reg, settings, Device.cpu());
                    ServingLoop lc = new ServingLoop(c, lk, monitor(), 16, "replica-c").start()) {
                bothAt(c, a, 1, 2);
                event(lk.decisions(), new dev.dualign.core.event.DeploymentDecision(2,
                        dev.dualign.core.event.DeploymentDecision.Action.ROLLBACK, "test", java.util.Map.of(),
                        System.currentTimeMillis()));
                bothAt(a, b, 1, -1);
                bothAt(c, a, 1, -1);
                assertThat(lc.problem()).isNull();
            }
            assertThat(la.problem()).isNull();
            assertThat(lb.problem()).isNull();
        }
    }

    @Test
    void aRestartedServerLoadsItsStableVersionCanaryAndLambdaBeforeItTakesTraffic() throws Exception {
        LoopKafka lk = topics("reload.");
        ModelRegistry reg = TestModels.registryWithVersions(tmp.resolve("reload-registry"), 2);
        // every prompt would be sampled for the reference until λ(0) is known
        ServerSettings settings = new ServerSettings("127.0.0.1", 0, "t", 0.5, 0, 1.0, 4, 40, 1.0, 30_000, 0, 1, 64,
                ServerSettings.DEFAULT_MODEL, null);
        long now = System.currentTimeMillis();
        event(lk.checkpoints(), new dev.dualign.core.event.CheckpointEvent(1, "policy/1",
                reg.manifestSha256(dev.dualign.model.registry.ModelNames.POLICY, 1), java.util.Map.of("harmless", 1.0), 0,
                java.util.Map.of(), now));
        event(lk.decisions(), new dev.dualign.core.event.DeploymentDecision(1,
                dev.dualign.core.event.DeploymentDecision.Action.PROMOTE, "test", java.util.Map.of(), now));
        event(lk.checkpoints(), new dev.dualign.core.event.CheckpointEvent(2, "policy/2",
                reg.manifestSha256(dev.dualign.model.registry.ModelNames.POLICY, 2), java.util.Map.of("harmless", 2.0), 1,
                java.util.Map.of(), now));
        dev.dualign.core.event.Estimate est = new dev.dualign.core.event.Estimate(0.6, 0.58, 0.62, 500);
        for (double lambda : new double[] {0.4, 0.7}) { // the newest counts
            event(lk.dual(), new dev.dualign.core.event.DualUpdate("default", java.util.Map.of("harmless", lambda),
                    java.util.Map.of("harmless", est), dev.dualign.core.dual.DualMode.ITERATIVE, dev.dualign.core.dual.StepKind.ITERATIVE,
                    lambda == 0.4 ? 1 : 2, 1, List.of(), java.util.Map.of("harmless", 0.5), now + (long) (lambda * 10)));
        }
        try (PolicyServer c = PolicyServer.start(reg, settings, Device.cpu())) {
            ServingLoop lc = new ServingLoop(c, lk, monitor(), 16, "reloaded");
            try (dev.dualign.serving.HttpApi api = new dev.dualign.serving.HttpApi(c, null, null, lc::problem)) {
                java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
                java.net.URI base = java.net.URI.create(api.url());
                // before the state is loaded: not ready, and no answer from the reference
                java.net.http.HttpResponse<String> health = http.send(java.net.http.HttpRequest.newBuilder(base.resolve("healthz")).build(),
                        java.net.http.HttpResponse.BodyHandlers.ofString());
                assertThat(health.statusCode()).isEqualTo(503);
                assertThat(health.body()).contains("loading");
                java.net.http.HttpResponse<String> early = http.send(java.net.http.HttpRequest.newBuilder(base.resolve("v1/chat"))
                        .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"prompt\":\"how do i sleep better\"}")).build(),
                        java.net.http.HttpResponse.BodyHandlers.ofString());
                assertThat(early.statusCode()).isEqualTo(503);
                assertThat(early.headers().firstValue("Retry-After")).isPresent();

                try (ServingLoop started = lc.start()) {
                    // loaded before start() returned: the promoted version, its canary, the newest λ
                    assertThat(c.deployment().stable()).isEqualTo(1);
                    assertThat(c.deployment().canary()).isEqualTo(2);
                    assertThat(c.lambda()).containsEntry("harmless", 0.7);
                    for (int i = 0; i < 50; i++) {
                        assertThat(c.sampledForReference("p" + i)).as("λ(0) was set before the restart: no reference sampling").isFalse();
                    }
                    assertThat(http.send(java.net.http.HttpRequest.newBuilder(base.resolve("healthz")).build(),
                            java.net.http.HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
                    java.net.http.HttpResponse<String> chat = http.send(java.net.http.HttpRequest.newBuilder(base.resolve("v1/chat"))
                            .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"prompt\":\"how do i sleep better\"}")).build(),
                            java.net.http.HttpResponse.BodyHandlers.ofString());
                    assertThat(chat.statusCode()).isEqualTo(200);
                    assertThat(chat.body()).containsPattern("\"policyVersion\":[12]");
                }
            }
        }
    }
}
