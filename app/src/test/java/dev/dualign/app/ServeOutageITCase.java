package dev.dualign.app;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dualign.connectors.EmbeddedKafka;
import dev.dualign.connectors.KafkaSettings;
import dev.dualign.connectors.KafkaTestClient;
import dev.dualign.connectors.TopicAdmin;
import dev.dualign.core.event.Events;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.service.LoopKafka;
import dev.dualign.serving.HttpApi;
import dev.dualign.serving.LoopMonitor;
import dev.dualign.serving.PolicyServer;
import dev.dualign.serving.ServerSettings;
import dev.dualign.serving.ServingLoop;
import dev.dualign.world.testing.TestModels;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The broker down for 150 s (longer than the producer's 120 s delivery timeout) while 4 clients
 * chat with the policy server: chat goes on, {@code /healthz} says what is wrong, goes back to 200
 * within 30 s of the broker's return, and every answer given meanwhile reaches
 * {@code dualign.responses} exactly once.
 */
class ServeOutageITCase {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    @Timeout(600)
    void answersGivenDuringA150SecondOutageAreWrittenOnceAndHealthRecovers() throws Exception {
        int kafkaPort;
        try (ServerSocket s = new ServerSocket(0)) {
            kafkaPort = s.getLocalPort();
        }
        Path logs = dir.resolve("kafka");
        EmbeddedKafka broker = EmbeddedKafka.start(logs, kafkaPort);
        KafkaSettings k = KafkaSettings.defaults().withBootstrapServers(broker.bootstrapServers()).withTopicPrefix("outage.")
                .withGroupId("outage");
        TopicAdmin.ensure(k).requireOk();
        LoopKafka lk = Demo.loopKafka(k);
        ModelRegistry reg = TestModels.registryWithVersions(dir.resolve("registry"), 0);
        LoopMonitor monitor = new LoopMonitor(dev.dualign.core.dual.DualMode.MONITOR, Map.of("harmless", 0.5),
                dev.dualign.serving.GroundTruth.NONE, LoopMonitor.Bands.of(0.95, true));
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        Set<String> answered = ConcurrentHashMap.newKeySet();
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> clients = new ArrayList<>();
        try (PolicyServer server = PolicyServer.start(reg, ServerSettings.local("t", 0.0), Device.cpu());
                ServingLoop loop = new ServingLoop(server, lk, monitor, 16, "outage");
                HttpApi api = new HttpApi(server, loop.httpSink(), null, loop::problem)) {
            loop.start();
            URI chat = URI.create(api.url() + "v1/chat/completions");
            URI healthz = URI.create(api.url() + "healthz");
            for (int c = 0; c < 4; c++) {
                Thread t = new Thread(() -> {
                    while (!stop.get()) {
                        try {
                            HttpResponse<String> r = client.send(HttpRequest.newBuilder(chat).header("Content-Type", "application/json")
                                    .POST(HttpRequest.BodyPublishers.ofString("{\"max_tokens\":6,\"messages\":[{\"role\":\"user\","
                                            + "\"content\":\"i cannot sleep\"}]}")).build(), HttpResponse.BodyHandlers.ofString());
                            assertThat(r.statusCode()).as(r.body()).isEqualTo(200); // chat does not need the broker
                            answered.add(JSON.readTree(r.body()).get("id").asText());
                            Thread.sleep(200);
                        } catch (InterruptedException e) {
                            return;
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    }
                });
                t.setDaemon(true);
                t.start();
                clients.add(t);
            }
            Thread.sleep(5_000);
            broker.close();
            Thread.sleep(150_000);
            assertThat(clients).allMatch(Thread::isAlive); // every client got every answer while the broker was down
            HttpResponse<String> during = client.send(HttpRequest.newBuilder(healthz).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(during.statusCode()).as("/healthz while answers wait for Kafka").isEqualTo(503);
            broker = EmbeddedKafka.start(logs, kafkaPort);
            Await.until("/healthz to be 200 within 30 s of the broker's return", Duration.ofSeconds(30), () -> {
                try {
                    return client.send(HttpRequest.newBuilder(healthz).build(), HttpResponse.BodyHandlers.ofString()).statusCode() == 200;
                } catch (Exception e) {
                    return false;
                }
            });
            stop.set(true);
            for (Thread t : clients) {
                t.join(30_000);
            }
            Await.until("the last answers to be written", Duration.ofSeconds(30), () -> loop.problem() == null);
        } finally {
            stop.set(true);
        }
        try {
            assertThat(answered).hasSizeGreaterThan(100);
            Map<String, Integer> logged = new HashMap<>();
            for (var r : KafkaTestClient.consume(broker.bootstrapServers(), lk.responses(), Integer.MAX_VALUE, Duration.ofSeconds(20))) {
                ResponseEvent e = Events.parse(ResponseEvent.class, r.value());
                if (!e.isReference()) {
                    logged.merge(e.promptId(), 1, Integer::sum);
                }
            }
            assertThat(logged.keySet()).as("every answer a client got").containsAll(answered);
            assertThat(logged).as("each exactly once").allSatisfy((id, n) -> assertThat(n).isEqualTo(1));
        } finally {
            broker.close();
        }
    }
}
