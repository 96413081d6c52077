package dev.dualign.app;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import ai.djl.Device;
import dev.dualign.connectors.EmbeddedKafkaExtension;
import dev.dualign.connectors.KafkaTestClient;
import dev.dualign.connectors.KafkaSettings;
import dev.dualign.connectors.TopicAdmin;
import dev.dualign.core.dual.DualMode;
import dev.dualign.core.dual.StepKind;
import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.core.event.DeploymentDecision;
import dev.dualign.core.event.DualUpdate;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.Event;
import dev.dualign.core.event.EventJson;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.service.LoopKafka;
import dev.dualign.world.testing.TestModels;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dualign serve} as its own process, restarted the ways production restarts it: killed with
 * SIGKILL, stopped with SIGTERM, and after the registry published 10 more versions. Each time it
 * must serve what it served before it went, before it takes traffic: the promoted version k, the
 * canary k+1 at its 20 %, and the newest λ, checked over 200 answers by the version they carry.
 */
class ServeRestartITCase {
    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path tmp;

    static void event(String topic, Event e) throws Exception {
        KafkaTestClient.produce(KAFKA.bootstrapServers(), topic, List.of(e.key().getBytes(StandardCharsets.UTF_8)),
                List.of(EventJson.writeBytes(e)));
    }

    Process serve(Path config, Path log) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-Xmx1g", "-Dai.djl.offline=true", "-Dai.djl.pytorch.num_threads=1",
                "-Dai.djl.pytorch.num_interop_threads=1", "-cp", System.getProperty("java.class.path"), "dev.dualign.cli.Dualign",
                "serve", "--role", "server", "--config", config.toString());
        pb.redirectErrorStream(true).redirectOutput(log.toFile());
        return pb.start();
    }

    static JsonNode health(int port) {
        try {
            HttpResponse<String> r = CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/healthz"))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 ? JSON.readTree(r.body()) : null;
        } catch (Exception e) {
            return null; // not listening yet
        }
    }

    static JsonNode awaitHealthy(Process p, int port, Path log) throws Exception {
        long until = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        while (System.nanoTime() < until) {
            JsonNode h = health(port);
            if (h != null) {
                return h;
            }
            if (!p.isAlive()) {
                throw new AssertionError("serve exited with " + p.exitValue() + ":\n" + Files.readString(log));
            }
            Thread.sleep(200);
        }
        throw new AssertionError("serve not healthy within 120 s:\n" + Files.readString(log));
    }

    /** The versions that answered 200 chat completions, counted. */
    static Map<Long, Integer> versions(int port) throws Exception {
        Map<Long, Integer> n = new TreeMap<>();
        for (int i = 0; i < 200; i++) {
            HttpResponse<String> r = CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/chat/completions"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                            "{\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":\"how do i sleep better\"}]}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            JsonNode a = JSON.readTree(r.body());
            long v = a.get("dualign").get("policyVersion").asLong();
            assertThat(a.get("model").asText()).isEqualTo("dualign");
            assertThat(a.get("system_fingerprint").asText()).isEqualTo("dualign-v" + v);
            n.merge(v, 1, Integer::sum);
        }
        return n;
    }

    static void servesStableOneAndCanaryTwoWithTheSameLambda(JsonNode health, int port, String when) throws Exception {
        assertThat(health.get("deployment").get("stable").asLong()).as(when).isEqualTo(1);
        assertThat(health.get("deployment").get("canary").asLong()).as(when).isEqualTo(2);
        assertThat(health.get("lambda").get("harmless").asDouble()).as(when).isEqualTo(0.7);
        Map<Long, Integer> n = versions(port);
        assertThat(n.keySet()).as(when + ": %s", n).containsExactly(1L, 2L);
        // the canary's 20 %: 40 of 200 expected, sd 5.7
        assertThat(n.get(2L)).as(when + ": %s", n).isBetween(15, 70);
    }

    @Test
    @Timeout(600)
    void afterKill9AGracefulStopAndTenMoreVersionsItServesWhatItServedWithTheSameLambda() throws Exception {
        KafkaSettings k = KAFKA.settings("restart-it.").withGroupId("restart-it");
        TopicAdmin.ensure(k).requireOk();
        LoopKafka lk = Demo.loopKafka(k);
        ModelRegistry reg = TestModels.registryWithVersions(tmp.resolve("registry"), 2);
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path config = tmp.resolve("serve.yaml");
        Files.writeString(config, String.join("\n",
                "kafka:", "  bootstrap.servers: " + KAFKA.bootstrapServers(), "  topic-prefix: restart-it.", "  group-id: restart-it",
                "constraints:", "  harmless: 0.5",
                "scoring:", "  registry: " + reg.root(),
                "server:", "  port: " + port, "  canary-fraction: 0.2", "  instance-id: restart-it", ""));
        long now = System.currentTimeMillis();
        // what the loop decided before this server starts: version 1 promoted, version 2 its canary, λ 0.7
        event(lk.checkpoints(), new CheckpointEvent(1, "policy/1", reg.manifestSha256(ModelNames.POLICY, 1), Map.of("harmless", 1.0), 0,
                Map.of(), now));
        event(lk.decisions(), new DeploymentDecision(1, DeploymentDecision.Action.PROMOTE, "test", Map.of(), now));
        event(lk.checkpoints(), new CheckpointEvent(2, "policy/2", reg.manifestSha256(ModelNames.POLICY, 2), Map.of("harmless", 2.0), 1,
                Map.of(), now));
        event(lk.dual(), new DualUpdate("default", Map.of("harmless", 0.7), Map.of("harmless", new Estimate(0.6, 0.58, 0.62, 500)),
                DualMode.ITERATIVE, StepKind.ITERATIVE, 2, 1, List.of(), Map.of("harmless", 0.5), now));

        Path log = tmp.resolve("serve.log");
        Process p = serve(config, log);
        try {
            servesStableOneAndCanaryTwoWithTheSameLambda(awaitHealthy(p, port, log), port, "first start");

            p.destroyForcibly().waitFor(); // kill -9
            p = serve(config, log);
            servesStableOneAndCanaryTwoWithTheSameLambda(awaitHealthy(p, port, log), port, "after kill -9");

            // SIGTERM under load, the graceful path: 4 clients chat; every answer a client got reaches
            // dualign.responses, once (the server stops taking requests, answers those in flight, flushes, exits)
            java.util.Set<String> answered = java.util.concurrent.ConcurrentHashMap.newKeySet();
            java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            List<Thread> clients = new java.util.ArrayList<>();
            for (int c = 0; c < 4; c++) {
                Thread t = new Thread(() -> {
                    while (!stop.get()) {
                        try {
                            HttpResponse<String> r = CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                                    + "/v1/chat/completions")).header("Content-Type", "application/json").timeout(Duration.ofSeconds(30))
                                    .POST(HttpRequest.BodyPublishers.ofString("{\"max_tokens\":8,\"messages\":[{\"role\":\"user\","
                                            + "\"content\":\"i feel low today\"}]}")).build(), HttpResponse.BodyHandlers.ofString());
                            if (r.statusCode() == 200) {
                                answered.add(JSON.readTree(r.body()).get("id").asText());
                            }
                        } catch (Exception e) {
                            // refused or cut while stopping: not an answer the client got
                        }
                    }
                });
                t.start();
                clients.add(t);
            }
            Thread.sleep(3_000);
            p.destroy(); // SIGTERM
            assertThat(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)).as("stopped within 60 s").isTrue();
            stop.set(true);
            for (Thread t : clients) {
                t.join();
            }
            assertThat(answered).isNotEmpty();
            Map<String, Integer> logged = new java.util.HashMap<>();
            for (var r : KafkaTestClient.consume(KAFKA.bootstrapServers(), lk.responses(), Integer.MAX_VALUE, Duration.ofSeconds(15))) {
                var e = dev.dualign.core.event.Events.parse(dev.dualign.core.event.ResponseEvent.class, r.value());
                if (!e.isReference() && answered.contains(e.promptId())) {
                    logged.merge(e.promptId(), 1, Integer::sum);
                }
            }
            assertThat(logged.keySet()).as("answers given before SIGTERM, in dualign.responses").containsExactlyInAnyOrderElementsOf(answered);
            assertThat(logged.values()).as("each once").containsOnly(1);
            p = serve(config, log);
            servesStableOneAndCanaryTwoWithTheSameLambda(awaitHealthy(p, port, log), port, "after a graceful stop");

            // the registry publishes 10 more versions (keeping 5): what the server serves is pinned, not pruned
            for (long v = 3; v <= 12; v++) {
                try (PolicyLm lm = PolicyLm.load(reg.open(ModelNames.POLICY, 0), Device.cpu())) {
                    reg.publish(ModelNames.POLICY, v, 0L, Map.of("harmless", (double) v), Map.of(), Map.of(), lm::save);
                }
            }
            assertThat(reg.versions(ModelNames.POLICY)).contains(1L, 2L).doesNotContain(3L);
            p.destroyForcibly().waitFor();
            p = serve(config, log);
            servesStableOneAndCanaryTwoWithTheSameLambda(awaitHealthy(p, port, log), port, "after 10 more versions and kill -9");
        } finally {
            p.destroyForcibly().waitFor();
        }
    }
}
