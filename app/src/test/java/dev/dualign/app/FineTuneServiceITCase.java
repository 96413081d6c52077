package dev.dualign.app;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import dev.dualign.connectors.EmbeddedKafkaExtension;
import dev.dualign.connectors.KafkaSettings;
import dev.dualign.connectors.KafkaTestClient;
import dev.dualign.connectors.TopicAdmin;
import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.core.event.DeadLetter;
import dev.dualign.core.event.EventJson;
import dev.dualign.core.event.Events;
import dev.dualign.core.event.FineTuneRequest;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.finetune.FineTuneService;
import dev.dualign.finetune.FineTuneSettings;
import dev.dualign.finetune.FineTuner;
import dev.dualign.model.lm.Generation;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.lm.Sampling;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.model.scorer.ScorerSet;
import dev.dualign.service.LoopKafka;
import dev.dualign.model.text.WordTokenizer;
import dev.dualign.world.World;
import dev.dualign.world.bootstrap.Bootstrap;
import dev.dualign.world.testing.TestModels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The fine-tuner as a Kafka service with the real tiny models: a request on the control topic
 * becomes a registry version and a checkpoint event; a superseded request is skipped; a request it
 * cannot serve and a diverged run go to the dead-letter topic and publish nothing.
 */
class FineTuneServiceITCase {
    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    private record Setup(ModelRegistry registry, KafkaSettings kafka, LoopKafka loop) {}

    private static Setup setup(String prefix) throws Exception {
        Setup s = untouched(prefix);
        TopicAdmin.ensure(s.kafka()).requireOk();
        KafkaTestClient.produce(KAFKA.bootstrapServers(), s.loop().scored(), null, traffic(s.registry(), 4));
        return s;
    }

    /** A registry with the test models, and the names of topics not created yet. */
    private static Setup untouched(String prefix) throws Exception {
        Path dir = Files.createDirectories(Path.of("target/tmp/finetune-" + prefix + System.nanoTime()));
        TestModels.copyTree(TestModels.registry(), dir);
        ModelRegistry registry = new ModelRegistry(dir);
        KafkaSettings k = KAFKA.settings(prefix).withGroupId("test-" + prefix);
        return new Setup(registry, k, Demo.loopKafka(k));
    }

    /** Scored traffic of the reference: two responses for some prompts, one for the others. */
    private static List<byte[]> traffic(ModelRegistry registry, long seed) throws Exception {
        List<byte[]> values = new ArrayList<>();
        try (WordTokenizer tok = WordTokenizer.load(registry.open(ModelNames.TOKENIZER, 0).resolve("tokenizer.json"));
                PolicyLm ref = PolicyLm.load(registry.open(ModelNames.POLICY, 0), Device.cpu());
                ScorerSet scorers = ScorerSet.open(registry, List.of("harmless"), Device.cpu())) {
            SplittableRandom rnd = new SplittableRandom(seed);
            List<World.Prompt> prompts = new ArrayList<>();
            for (int i = 0; i < 120; i++) {
                World.Prompt p = World.prompt(rnd);
                prompts.add(p);
                if (i % 2 == 0) {
                    prompts.add(p);
                }
            }
            List<Generation> gens = ref.generate(prompts.stream().map(p -> tok.encode(p.text())).toList(),
                    Sampling.plain(30, 9), ref);
            List<Scorer.PromptResponse> batch = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                batch.add(new Scorer.PromptResponse(prompts.get(i).text(), tok.decode(gens.get(i).tokens())));
            }
            Map<String, double[]> s = scorers.score(batch);
            for (int i = 0; i < prompts.size(); i++) {
                ScoredSample x = new ScoredSample("r" + seed + "-" + i, "p" + i, prompts.get(i).text(), batch.get(i).response(), 0L,
                        gens.get(i).logprob(), gens.get(i).refLogprob(), "policy", 1L, s.get("reward")[i],
                        Map.of("harmless", s.get("harmless")[i]));
                values.add(EventJson.writeBytes(x));
            }
        }
        return values;
    }

    private static void request(Setup s, FineTuneRequest r) throws Exception {
        KafkaTestClient.produce(KAFKA.bootstrapServers(), s.loop().control(), List.of(r.key().getBytes(StandardCharsets.UTF_8)),
                List.of(EventJson.writeBytes(r)));
    }

    private static FineTuneSettings settings(double maxKl) {
        return new FineTuneSettings(List.of("harmless"), 0.1, 1, 32, 1e-3f, maxKl, 200, 32, 30, 5000, 3);
    }

    @Test
    void aRequestBecomesARegistryVersionAndACheckpointEventAndASupersededOneIsSkipped() throws Exception {
        Setup s = setup("ok.");
        dev.dualign.service.ServiceMetrics metrics = new dev.dualign.service.ServiceMetrics();
        try (FineTuner tuner = new FineTuner(s.registry(), Device.cpu(), settings(30));
                FineTuneService service = new FineTuneService(tuner, s.loop()).registerMetrics(metrics).start();
                dev.dualign.service.OpsSurface.Endpoint endpoint = new dev.dualign.service.OpsSurface(metrics, service::problem)
                        .serve("127.0.0.1", 0)) {
            request(s, new FineTuneRequest("req-1", Map.of("harmless", 2.0), 0, s.loop().scored(), 0L, null, null, 1));
            List<ConsumerRecord<byte[], byte[]>> out = KafkaTestClient.consume(KAFKA.bootstrapServers(), s.loop().checkpoints(),
                    1, Duration.ofSeconds(180));
            assertThat(out).hasSize(1);
            CheckpointEvent c = Events.parse(CheckpointEvent.class, out.get(0).value());
            assertThat(c.version()).isEqualTo(1);
            assertThat(c.path()).isEqualTo("policy/1");
            assertThat(c.parentVersion()).isEqualTo(0);
            assertThat(c.lambda()).containsEntry("harmless", 2.0);
            assertThat(c.sha256()).isEqualTo(s.registry().manifestSha256(ModelNames.POLICY, 1));
            assertThat(c.metrics()).containsKeys("loss", "pairs", "meanLogRatio", "eval.harmless");
            assertThat(c.metrics().get("pairs")).isGreaterThanOrEqualTo(32.0);
            var manifest = s.registry().manifest(ModelNames.POLICY, 1);
            assertThat(manifest.lambda()).containsEntry("harmless", 2.0);
            assertThat(manifest.parentVersion()).isEqualTo(0L);
            s.registry().open(ModelNames.POLICY, 1, c.sha256()); // verifies every file

            // measured on version 0, but version 1 already exists: superseded, skipped, nothing published
            request(s, new FineTuneRequest("req-stale", Map.of("harmless", 1.0), 0, s.loop().scored(), 0L, null, null, 2));
            long deadline = System.currentTimeMillis() + 60_000;
            while (service.skipped() == 0 && System.currentTimeMillis() < deadline) {
                Thread.sleep(100);
            }
            assertThat(service.skipped()).isEqualTo(1);
            assertThat(s.registry().versions(ModelNames.POLICY)).containsExactly(0L, 1L);

            // a request it cannot serve (no λ for the constraint) is dead-lettered with the reason
            request(s, new FineTuneRequest("req-bad", Map.of("humour", 1.0), 1, s.loop().scored(), 1L, null, null, 3));
            List<ConsumerRecord<byte[], byte[]>> dlq = KafkaTestClient.consume(KAFKA.bootstrapServers(), s.loop().dlq(), 1,
                    Duration.ofSeconds(60));
            assertThat(dlq).hasSize(1);
            DeadLetter d = Events.parse(DeadLetter.class, dlq.get(0).value());
            assertThat(d.error()).contains("req-bad").contains("no λ for constraint 'harmless'");
            assertThat(d.sourceTopic()).isEqualTo(s.loop().control());
            assertThat(s.registry().versions(ModelNames.POLICY)).containsExactly(0L, 1L);
            assertThat(service.published()).isEqualTo(1);

            // the fine-tuner alone is scraped and probed on its own endpoint
            java.net.http.HttpClient client = java.net.http.HttpClient.newHttpClient();
            String base = "http://127.0.0.1:" + endpoint.port();
            String scraped = client.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(base + "/metrics")).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString()).body();
            assertThat(scraped).contains("dualign_finetune_runs_total{outcome=\"published\"} 1\n")
                    .contains("dualign_finetune_runs_total{outcome=\"skipped\"} 1\n")
                    .contains("dualign_finetune_runs_total{outcome=\"failed\"} 1\n")
                    .contains("dualign_dead_letters_total{component=\"finetuner\"} 1\n")
                    .contains("dualign_finetune_duration_seconds_count 1\n")
                    .contains("dualign_healthy{component=\"finetuner\"} 1\n");
            assertThat(client.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(base + "/healthz")).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
        }
    }

    @Test
    void aRequestNamingADatasetTrainsOnThatFileAndOneWhoseFileIsNotTheOneNamedIsRefused() throws Exception {
        Setup s = untouched("dataset.");
        TopicAdmin.ensure(s.kafka()).requireOk(); // no traffic on the scored topic: the file is the only data
        Map<String, java.util.List<ScoredSample>> byPrompt = new java.util.LinkedHashMap<>();
        for (byte[] v : traffic(s.registry(), 4)) {
            ScoredSample x = Events.parse(ScoredSample.class, v);
            byPrompt.computeIfAbsent(x.promptId(), k -> new ArrayList<>()).add(x);
        }
        Path file = Files.createDirectories(Path.of("target/tmp/datasets-" + System.nanoTime())).resolve("req-d1.jsonl");
        var written = dev.dualign.core.dataset.PolicyDataset.write(file, dev.dualign.core.dataset.PolicyDataset.records(
                new ArrayList<>(byPrompt.values()), Map.of("harmless", 2.0), 0.1));
        try (FineTuner tuner = new FineTuner(s.registry(), Device.cpu(), settings(30));
                FineTuneService service = new FineTuneService(tuner, s.loop()).start()) {
            request(s, new FineTuneRequest("req-d1", Map.of("harmless", 2.0), 0, s.loop().scored(), 0L, null, null, 1)
                    .withData(written.ref(), null));
            List<ConsumerRecord<byte[], byte[]>> out = KafkaTestClient.consume(KAFKA.bootstrapServers(), s.loop().checkpoints(),
                    1, Duration.ofSeconds(180));
            assertThat(out).hasSize(1);
            CheckpointEvent c = Events.parse(CheckpointEvent.class, out.get(0).value());
            assertThat(c.requestId()).isEqualTo("req-d1");
            assertThat(c.metrics().get("pairs")).as("pairs from the file's prompts").isGreaterThanOrEqualTo(32.0);

            // the same file under another digest: refused with the reason, nothing trained or published
            String other = (written.sha256().charAt(0) == '0' ? "1" : "0") + written.sha256().substring(1);
            request(s, new FineTuneRequest("req-d2", Map.of("harmless", 1.0), 1, s.loop().scored(), 1L, null, null, 2)
                    .withData(new FineTuneRequest.Dataset(written.ref().uri(), other, written.records(), written.format()), null));
            List<ConsumerRecord<byte[], byte[]>> dlq = KafkaTestClient.consume(KAFKA.bootstrapServers(), s.loop().dlq(), 1,
                    Duration.ofSeconds(60));
            assertThat(dlq).hasSize(1);
            DeadLetter d = Events.parse(DeadLetter.class, dlq.get(0).value());
            assertThat(d.error()).contains("req-d2").contains("sha256 is " + written.sha256()).contains(other);
            assertThat(s.registry().versions(ModelNames.POLICY)).containsExactly(0L, 1L);
            assertThat(service.published()).isEqualTo(1);
        }
    }

    @Test
    void oneFineTunerIsActiveAndAStandbyTakesOverWhenItLeaves() throws Exception {
        Setup s = setup("lease.");
        try (FineTuner ta = new FineTuner(s.registry(), Device.cpu(), settings(30));
                FineTuner tb = new FineTuner(s.registry(), Device.cpu(), settings(30))) {
            FineTuneService a = new FineTuneService(ta, s.loop()).start();
            FineTuneService b = null;
            try {
                Await.until("the first fine-tuner holds the lease", Duration.ofSeconds(60), a::active);
                b = new FineTuneService(tb, s.loop()).start();
                for (int i = 0; i < 25; i++) { // the second stands by while the first lives
                    Thread.sleep(200);
                    assertThat(a.active()).isTrue();
                    assertThat(b.active()).isFalse();
                }
                assertThat(b.status()).startsWith("standby");
                request(s, new FineTuneRequest("req-a", Map.of("harmless", 2.0), 0, s.loop().scored(), 0L, null, null, 1));
                KafkaTestClient.consume(KAFKA.bootstrapServers(), s.loop().checkpoints(), 1, Duration.ofSeconds(180));
                assertThat(a.published()).isEqualTo(1);
                assertThat(b.published()).isZero();

                a.close(); // leaves the group: the standby takes over at once, not after a session timeout
                FineTuneService standby = b;
                Await.until("the standby takes over", Duration.ofSeconds(30), standby::active);
                request(s, new FineTuneRequest("req-b", Map.of("harmless", 1.0), 1, s.loop().scored(), 0L, null, null, 2));
                List<ConsumerRecord<byte[], byte[]>> out = KafkaTestClient.consume(KAFKA.bootstrapServers(),
                        s.loop().checkpoints(), 2, Duration.ofSeconds(180));
                assertThat(out).hasSize(2);
                assertThat(Events.parse(CheckpointEvent.class, out.get(1).value()).version()).isEqualTo(2);
                assertThat(b.published()).isEqualTo(1);
                // each request trained once, by one of them
                assertThat(s.registry().versions(ModelNames.POLICY)).containsExactly(0L, 1L, 2L);
            } finally {
                a.close();
                if (b != null) {
                    b.close();
                }
            }
        }
    }

    @Test
    void aDivergedRunPublishesNothingAndSaysWhyOnTheDeadLetterTopic() throws Exception {
        Setup s = setup("diverge.");
        // a KL bound no DPO step can respect: the run counts as diverged
        try (FineTuner tuner = new FineTuner(s.registry(), Device.cpu(), settings(1e-6));
                FineTuneService service = new FineTuneService(tuner, s.loop()).start()) {
            request(s, new FineTuneRequest("req-far", Map.of("harmless", 5.0), 0, s.loop().scored(), 0L, null, null, 1));
            List<ConsumerRecord<byte[], byte[]>> dlq = KafkaTestClient.consume(KAFKA.bootstrapServers(), s.loop().dlq(), 1,
                    Duration.ofSeconds(180));
            assertThat(dlq).hasSize(1);
            DeadLetter d = Events.parse(DeadLetter.class, dlq.get(0).value());
            assertThat(d.error()).contains("req-far").contains("nothing published").contains("too far from the reference");
            assertThat(Events.parse(FineTuneRequest.class, java.util.Base64.getDecoder().decode(d.raw())).requestId())
                    .isEqualTo("req-far");
            assertThat(s.registry().versions(ModelNames.POLICY)).containsExactly(0L);
            assertThat(KafkaTestClient.consume(KAFKA.bootstrapServers(), s.loop().checkpoints(), 1, Duration.ofSeconds(2)))
                    .isEmpty();
            assertThat(service.failed()).isEqualTo(1);
        }
    }

    @Test
    void aRequestPublishedBeforeACrashIsAnnouncedAgainNotTrainedTwice() throws Exception {
        Setup s = setup("crash.");
        FineTuneRequest req = new FineTuneRequest("req-crash", Map.of("harmless", 2.0), 0, s.loop().scored(), 0L, null, null, 1);
        request(s, req);
        try (FineTuner tuner = new FineTuner(s.registry(), Device.cpu(), settings(30))) {
            // what a service that died between publishing and announcing/committing left behind
            List<ScoredSample> data = KafkaTestClient.consume(KAFKA.bootstrapServers(), s.loop().scored(), 180,
                    Duration.ofSeconds(30)).stream().map(r -> Events.parse(ScoredSample.class, r.value())).toList();
            assertThat(tuner.train(req, data, step -> { }).version()).isEqualTo(1);
            try (FineTuneService service = new FineTuneService(tuner, s.loop()).start()) {
                List<ConsumerRecord<byte[], byte[]>> out = KafkaTestClient.consume(KAFKA.bootstrapServers(),
                        s.loop().checkpoints(), 1, Duration.ofSeconds(120));
                assertThat(out).hasSize(1);
                CheckpointEvent c = Events.parse(CheckpointEvent.class, out.get(0).value());
                assertThat(c.version()).isEqualTo(1);
                assertThat(c.sha256()).isEqualTo(s.registry().manifestSha256(ModelNames.POLICY, 1));
                assertThat(c.lambda()).containsEntry("harmless", 2.0);
                assertThat(s.registry().versions(ModelNames.POLICY)).containsExactly(0L, 1L);
                assertThat(service.attempts()).isZero();
            }
        }
    }

    @Test
    void aRequestWaitingForTrafficIsTriedAgainOnlyWhenMoreTrafficCame() throws Exception {
        Setup s = setup("wait.");
        // 400 pairs needed: the 180 responses cannot make them
        FineTuneSettings needsMore = new FineTuneSettings(List.of("harmless"), 0.1, 1, 32, 1e-3f, 30, 500, 400, 30, 5000, 3);
        try (FineTuner tuner = new FineTuner(s.registry(), Device.cpu(), needsMore);
                FineTuneService service = new FineTuneService(tuner, s.loop()).start()) {
            request(s, new FineTuneRequest("req-wait", Map.of("harmless", 2.0), 0, s.loop().scored(), 0L, null, null, 1));
            Await.until("the request to wait", Duration.ofSeconds(120), () -> service.status().startsWith("waiting for traffic"));
            Thread.sleep(3000); // fifteen polls with nothing new: no new attempt
            assertThat(service.attempts()).isEqualTo(1);
            KafkaTestClient.produce(KAFKA.bootstrapServers(), s.loop().scored(), null, traffic(s.registry(), 5));
            Await.until("a new attempt on the new traffic", Duration.ofSeconds(120), () -> service.attempts() >= 2);
            assertThat(s.registry().versions(ModelNames.POLICY)).containsExactly(0L);
        }
    }

    @Test
    void aSessionThatFailsIsStartedAgainAndTheServiceRecovers() throws Exception {
        Setup s = untouched("late.");
        try (FineTuner tuner = new FineTuner(s.registry(), Device.cpu(), settings(30));
                FineTuneService service = new FineTuneService(tuner, s.loop()).start()) {
            // its topics do not exist yet: the session fails, and the service keeps trying
            Await.until("a failed session", Duration.ofSeconds(120), () -> service.sessionFailures() >= 1);
            assertThat(service.status()).startsWith("reconnecting after:").contains("does not exist");
            TopicAdmin.ensure(s.kafka()).requireOk();
            KafkaTestClient.produce(KAFKA.bootstrapServers(), s.loop().scored(), null, traffic(s.registry(), 4));
            request(s, new FineTuneRequest("req-late", Map.of("harmless", 2.0), 0, s.loop().scored(), 0L, null, null, 1));
            List<ConsumerRecord<byte[], byte[]>> out = KafkaTestClient.consume(KAFKA.bootstrapServers(), s.loop().checkpoints(),
                    1, Duration.ofSeconds(180));
            assertThat(out).hasSize(1);
            assertThat(Events.parse(CheckpointEvent.class, out.get(0).value()).version()).isEqualTo(1);
        }
    }
}
