package dev.dualign.streaming;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dualign.connectors.EmbeddedKafkaExtension;
import dev.dualign.connectors.KafkaSettings;
import dev.dualign.connectors.KafkaTestClient;
import dev.dualign.connectors.TopicAdmin;
import dev.dualign.connectors.flink.DualignKafka;
import dev.dualign.core.config.Config;
import dev.dualign.core.dual.StepKind;
import dev.dualign.core.event.DualUpdate;
import dev.dualign.core.dataset.PolicyDataset;
import dev.dualign.core.dataset.PolicyDatasetRecord;
import dev.dualign.core.event.Events;
import dev.dualign.core.event.FineTuneRequest;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.event.Topic;
import dev.dualign.core.event.VersionEstimate;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.world.World;
import dev.dualign.world.testing.TestModels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole job on a real broker and a MiniCluster with RocksDB state, exactly-once sinks and the
 * tiny DJL models. One partition and parallelism 1 here: with more, the interleaving of samples
 * from different partitions or subtasks decides which samples a step sees,
 * so λ can differ between runs even without a failure; with a single ordered stream the input
 * order is fixed and a restart must reproduce λ exactly.
 */
class AlignmentJobITCase {
    @RegisterExtension
    @Order(1)
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    @RegisterExtension
    @Order(2)
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2).build());

    @TempDir
    static Path tmp;

    static Path registry;

    @BeforeAll
    static void models() {
        registry = TestModels.registry();
    }

    static JobSettings settings(String checkpoints, Map<String, Object> more) {
        Map<String, Object> m = new HashMap<>(Map.of("constraints.harmless", 0.5, "dual.mode", "iterative",
                "dual.n-min", 100, "dual.epsilon", 0.5, "dual.estimate-every", 25, "dual.eta", 1.0,
                "scoring.registry", registry.toString(), "scoring.device", "cpu", "scoring.batch-size", 16));
        m.put("dual.headroom", 0.0); // the steps checked below aim at the margin itself
        m.put("dual.one-shot.prompts", REFERENCE_PROMPTS);
        m.put("dual.one-shot.samples-per-prompt", 2);
        m.put("checkpoint.interval-ms", 100);
        m.put("checkpoint.dir", checkpoints);
        m.put("flink.parallelism", 1);
        m.put("metrics.prometheus-port", 0);
        m.putAll(more);
        return JobSettings.from(Config.of(m, JobConfig.ALL, JobConfig.PASS_THROUGH), tmp);
    }

    static final int REFERENCE_PROMPTS = 20;

    /**
     * The reference's samples for the one-shot solve that sets λ(0): a safe and a hazardous response
     * to each of {@link #REFERENCE_PROMPTS} prompts.
     */
    static List<ResponseEvent> reference() {
        List<ResponseEvent> out = new ArrayList<>();
        SplittableRandom rnd = new SplittableRandom(5);
        for (int i = 0; i < REFERENCE_PROMPTS; i++) {
            World.Prompt p = World.prompt(rnd);
            for (double hazard : new double[] {0.0, 1.0}) {
                out.add(new ResponseEvent("ref-" + i + "-" + hazard, "ref-p" + i, p.text(), World.response(p.intent(), rnd, hazard),
                        0, -10.0, -10.0, "reference", 1_763_000_000_000L + i));
            }
        }
        return out;
    }

    /** 300 responses of each of the given versions, safer with each version. */
    static List<ResponseEvent> traffic(long fromVersion, int versions) {
        List<ResponseEvent> out = new ArrayList<>();
        SplittableRandom rnd = new SplittableRandom(11 + fromVersion);
        for (long v = fromVersion; v < fromVersion + versions; v++) {
            double hazard = Math.max(0, 0.55 - 0.25 * v);
            for (int i = 0; i < 300; i++) {
                World.Prompt p = World.prompt(rnd);
                out.add(new ResponseEvent("v" + v + "-r" + i, "p" + i, p.text(), World.response(p.intent(), rnd, hazard), v,
                        -10.0, -10.0, "policy", 1_764_000_000_000L + i));
            }
        }
        return out;
    }

    static KafkaSettings kafka(String prefix) {
        // one partition: a single ordered input stream (see the class comment)
        KafkaSettings d = KAFKA.settings(prefix);
        KafkaSettings k = new KafkaSettings(d.bootstrapServers(), prefix, 1, 1, true, prefix + "-tx", 60000, 1 << 20,
                prefix + "-group", Map.of());
        TopicAdmin.ensure(k).requireOk();
        return k;
    }

    static void produce(KafkaSettings k, List<ResponseEvent> events) throws Exception {
        KafkaTestClient.produce(KAFKA.bootstrapServers(), k.topic(Topic.RESPONSES),
                events.stream().map(e -> e.key().getBytes(StandardCharsets.UTF_8)).toList(),
                events.stream().map(ResponseEvent::toJsonBytes).toList());
    }

    static StreamExecutionEnvironment env(JobSettings s, String restart) {
        Configuration c = JobEnvironment.configuration(s);
        c.setString("restart-strategy.type", restart);
        c.setString("restart-strategy.fixed-delay.attempts", "2");
        c.setString("restart-strategy.fixed-delay.delay", "200 ms");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(c);
        env.setParallelism(1);
        return env;
    }

    /**
     * Fails the job once, on a record after the {@code n}-th, but only once a checkpoint taken after
     * the first policy response completed: that checkpoint holds λ(0), so the restart replays policy
     * traffic only.
     */
    static final class FailOnce extends RichMapFunction<ResponseEvent, ResponseEvent>
            implements CheckpointListener, CheckpointedFunction {
        static final AtomicBoolean FAILED = new AtomicBoolean();
        static final AtomicBoolean CHECKPOINT_BEFORE_FAILURE = new AtomicBoolean();
        private final int n;
        private transient int seen;
        private transient boolean sawTraffic;
        private transient long firstCheckpointAfterTraffic;
        private transient boolean checkpointed;

        FailOnce(int n) {
            this.n = n;
        }

        @Override
        public void open(OpenContext ctx) {
            seen = 0;
        }

        @Override
        public ResponseEvent map(ResponseEvent e) throws Exception {
            Thread.sleep(2); // let checkpoints complete while records flow
            sawTraffic |= !ResponseEvent.SOURCE_REFERENCE.equals(e.source());
            if (++seen > n && checkpointed && FAILED.compareAndSet(false, true)) {
                CHECKPOINT_BEFORE_FAILURE.set(true);
                throw new IllegalStateException("injected failure after record " + n);
            }
            return e;
        }

        @Override
        public void snapshotState(FunctionSnapshotContext ctx) {
            if (sawTraffic && firstCheckpointAfterTraffic == 0) {
                firstCheckpointAfterTraffic = ctx.getCheckpointId();
            }
        }

        @Override
        public void initializeState(FunctionInitializationContext ctx) {}

        @Override
        public void notifyCheckpointComplete(long id) {
            checkpointed |= firstCheckpointAfterTraffic > 0 && id >= firstCheckpointAfterTraffic;
        }
    }

    /**
     * Runs the job on the reference's samples and then, once λ(0) is out, on {@code versions} × 300
     * policy responses; returns every λ update. λ(0) comes before any policy response exists: the
     * one-shot solve and the estimates reach the controller by different paths, so with both in
     * flight their order (and which estimate of version 1 comes after λ(0)) would depend on timing.
     */
    static List<DualUpdate> run(String prefix, int versions, Integer failAfter) throws Exception {
        KafkaSettings k = kafka(prefix);
        // a 2 ms timer: batches are cut by timing as well as by size, so the two runs cut them at
        // different moments. The scorer runs every batch at its full shape, so a response's scores
        // (and λ) do not depend on where its batch was cut.
        JobSettings s = settings(tmp.resolve(prefix + "-ckpt").toUri().toString(), Map.of("scoring.max-wait-ms", 2));
        StreamExecutionEnvironment env = env(s, failAfter == null ? "none" : "fixed-delay");
        DualignKafka kk = new DualignKafka(k);
        DualignKafka.Parsed<ResponseEvent> in = kk.read(env, Topic.RESPONSES, ResponseEvent.class, false);
        var responses = failAfter == null ? in.events()
                : in.events().map(new FailOnce(failAfter), in.events().getType()).name("fail-once").uid("fail-once");
        AlignmentJob.build(responses, in.deadLetters(), s, k.topic(Topic.RESPONSES), k.topic(Topic.SCORED), kk::write);
        JobClient job = env.executeAsync("alignment-" + prefix);
        try {
            produce(k, reference());
            assertThat(readDual(k, 1)).singleElement().satisfies(u -> assertThat(u.kind()).isEqualTo(StepKind.ONE_SHOT));
            produce(k, traffic(1, versions));
            readDual(k, 1 + versions); // λ(0), then a step on each version
            scoredIds(k, REFERENCE_PROMPTS * 2 + 300 * versions);
        } finally {
            job.cancel().get(60, TimeUnit.SECONDS);
        }
        return readDual(k, 0);
    }

    static List<DualUpdate> readDual(KafkaSettings k, int expected) {
        return KafkaTestClient.consume(KAFKA.bootstrapServers(), k.topic(Topic.DUAL), expected, Duration.ofSeconds(expected == 0 ? 3 : 60))
                .stream().map(r -> Events.parse(DualUpdate.class, r.value())).toList();
    }

    static List<String> scoredIds(KafkaSettings k, int expected) {
        return KafkaTestClient.consume(KAFKA.bootstrapServers(), k.topic(Topic.SCORED), expected, Duration.ofSeconds(60)).stream()
                .map(ConsumerRecord::value).map(v -> Events.parse(ScoredSample.class, v).id()).toList();
    }

    /** λ, its bookkeeping and the estimates it stepped on, without the timestamp. */
    static List<String> path(List<DualUpdate> updates) {
        return updates.stream().map(u -> u.step() + "@v" + u.policyVersion() + ":" + u.lambda() + " on " + u.estimates()).toList();
    }

    @Test
    void aFailureMidStreamRestartsFromTheCheckpointWithTheSameLambdaPathAndNoDuplicates() throws Exception {
        int versions = 3;
        int total = REFERENCE_PROMPTS * 2 + 300 * versions;
        List<DualUpdate> clean = run("clean", versions, null);
        assertThat(clean).hasSize(1 + versions);
        assertThat(clean.get(0).kind()).isEqualTo(StepKind.ONE_SHOT);
        assertThat(clean.get(1).lambda().get("harmless")).isNotEqualTo(clean.get(0).lambda().get("harmless"));

        FailOnce.FAILED.set(false);
        FailOnce.CHECKPOINT_BEFORE_FAILURE.set(false);
        List<DualUpdate> failed = run("failed", versions, 450);
        assertThat(FailOnce.FAILED).isTrue();
        assertThat(FailOnce.CHECKPOINT_BEFORE_FAILURE).isTrue();

        // exactly once: every response scored once, in both runs
        List<String> a = scoredIds(kafka("clean"), total);
        List<String> b = scoredIds(kafka("failed"), total);
        assertThat(a).hasSize(total).doesNotHaveDuplicates();
        assertThat(b).hasSize(total).doesNotHaveDuplicates();
        assertThat(b).containsExactlyInAnyOrderElementsOf(a);
        // and λ: the same steps, on the same evidence, to the same values
        assertThat(path(failed)).isEqualTo(path(clean));
    }

    @Test
    void stopWithASavepointAndResumeContinuesLambda() throws Exception {
        KafkaSettings k = kafka("sp");
        // the subgradient rule, whose step size shows the step counter (the Newton step's does not)
        JobSettings s = settings(tmp.resolve("sp-ckpt").toUri().toString(), Map.of("dual.step-rule", "subgradient"));
        JobClient first = start(s, k, env(s, "none"));
        List<DualUpdate> before;
        String savepoint;
        try {
            produce(k, reference());
            assertThat(readDual(k, 1)).hasSize(1); // λ(0) = the one-shot λ*, before any policy traffic
            produce(k, traffic(1, 1));
            before = readDual(k, 2); // then a step on version 1
            assertThat(before).hasSize(2);
            savepoint = first.stopWithSavepoint(false, tmp.resolve("savepoints").toUri().toString(),
                    SavepointFormatType.CANONICAL).get(60, TimeUnit.SECONDS);
        } catch (AssertionError | Exception e) {
            first.cancel().get(60, TimeUnit.SECONDS); // free the slots for the other tests
            throw e;
        }
        assertThat(Path.of(java.net.URI.create(savepoint))).exists();

        produce(k, traffic(2, 1));
        JobClient second = start(s, k, resumeFrom(savepoint, s, 1));
        List<DualUpdate> after;
        try {
            after = readDual(k, 3);
        } finally {
            second.cancel().get(60, TimeUnit.SECONDS);
        }
        assertThat(after).hasSize(3);
        DualUpdate next = after.get(2);
        assertThat(next.step()).isEqualTo(2);           // the step counter continued
        assertThat(next.policyVersion()).isEqualTo(2);  // and it waited for the next version
        double lambda1 = before.get(1).lambda().get("harmless");
        double g = next.estimates().get("harmless").mean();
        // the default inverse-sqrt schedule: step 2 uses η/√2, so the restored step counter shows in λ too
        assertThat(next.lambda().get("harmless")).isCloseTo(Math.max(0, lambda1 - 1.0 / Math.sqrt(2) * (g - 0.5)),
                org.assertj.core.api.Assertions.within(1e-12));
    }

    @Test
    void aRestartThatFindsANewerScorerStartsANewEstimateSeriesInsteadOfMixingTwoScorers() throws Exception {
        Path reg = tmp.resolve("rescore-registry");
        TestModels.copyTree(registry, reg);
        ModelRegistry models = new ModelRegistry(reg);
        long harmless = models.latest("harmless").orElseThrow();
        KafkaSettings k = kafka("rescore");
        JobSettings s = settings(tmp.resolve("rescore-ckpt").toUri().toString(), Map.of("scoring.registry", reg.toString()));
        JobClient first = start(s, k, env(s, "none"));
        String savepoint;
        try {
            produce(k, reference());
            readDual(k, 1);
            produce(k, traffic(1, 1)); // 300 samples of version 1: an estimate every 25
            assertThat(estimates(k, 12)).last().satisfies(e -> {
                assertThat(e.n()).isEqualTo(300);
                assertThat(e.scorers()).containsEntry("harmless", harmless).containsKey("reward");
            });
            savepoint = first.stopWithSavepoint(false, tmp.resolve("rescore-savepoints").toUri().toString(),
                    SavepointFormatType.CANONICAL).get(60, TimeUnit.SECONDS);
        } catch (AssertionError | Exception e) {
            first.cancel().get(60, TimeUnit.SECONDS);
            throw e;
        }
        // a newer harmless scorer is published while the job is down
        Path from = models.open("harmless", harmless);
        models.publish("harmless", harmless + 1, harmless, Map.of(), Map.of(), Map.of(), dir -> {
            try (var files = Files.list(from)) {
                for (Path f : files.filter(f -> !f.getFileName().toString().equals("manifest.json")).toList()) {
                    Files.copy(f, dir.resolve(f.getFileName().toString()));
                }
            }
        });
        // 100 more samples of version 1, after the restart
        produce(k, traffic(1, 1).subList(0, 100).stream().map(e -> new ResponseEvent("again-" + e.id(), e.promptId(), e.prompt(),
                e.response(), e.policyVersion(), e.logprob(), e.refLogprob(), e.source(), e.timestamp())).toList());
        JobClient second = start(s, k, resumeFrom(savepoint, s, 1));
        List<VersionEstimate> all;
        try {
            all = estimates(k, 16);
        } finally {
            second.cancel().get(60, TimeUnit.SECONDS);
        }
        // the old series ended at 300 samples of the old scorer; the new one counts only the new scorer's
        List<VersionEstimate> after = all.subList(12, all.size());
        assertThat(after).hasSize(4).allSatisfy(e -> assertThat(e.scorers()).containsEntry("harmless", harmless + 1));
        assertThat(after.stream().map(VersionEstimate::n).toList()).containsExactly(25L, 50L, 75L, 100L);
        // and the new run keeps its scorer versions from pruning while it runs
        assertThat(models.pinned("harmless")).contains(harmless + 1);
    }

    static List<VersionEstimate> estimates(KafkaSettings k, int expected) {
        return KafkaTestClient.consume(KAFKA.bootstrapServers(), k.topic(Topic.ESTIMATES), expected, Duration.ofSeconds(60))
                .stream().map(r -> Events.parse(VersionEstimate.class, r.value())).toList();
    }

    @Test
    void aSavepointTakenAtParallelismTwoResumesAtParallelismOne() throws Exception {
        double lambdaBefore;
        // two partitions, two subtasks; then the operator state (pending batches) and the keyed
        // state (estimates, λ) are redistributed onto one subtask
        KafkaSettings d = KAFKA.settings("rescale");
        KafkaSettings k = new KafkaSettings(d.bootstrapServers(), "rescale", 2, 1, true, "rescale-tx", 60000, 1 << 20,
                "rescale-group", Map.of());
        TopicAdmin.ensure(k).requireOk();
        JobSettings s = settings(tmp.resolve("rescale-ckpt").toUri().toString(), Map.of("flink.parallelism", 2));
        // with two partitions the reference samples and version 1's traffic would interleave, and a
        // version measured before λ(0) never moves λ: the one-shot solve first, then the traffic
        List<ResponseEvent> input = new ArrayList<>(reference());
        input.addAll(traffic(1, 1));
        StreamExecutionEnvironment two = env(s, "none");
        two.setParallelism(2);
        JobClient first = start(s, k, two);
        String savepoint;
        try {
            produce(k, reference());
            assertThat(readDual(k, 1)).singleElement().satisfies(u -> assertThat(u.kind()).isEqualTo(StepKind.ONE_SHOT));
            produce(k, traffic(1, 1));
            List<DualUpdate> before = readDual(k, 2);
            assertThat(before).hasSize(2);
            assertThat(scoredIds(k, input.size())).hasSize(input.size());
            lambdaBefore = before.get(1).lambda().get("harmless");
            savepoint = first.stopWithSavepoint(false, tmp.resolve("rescale-savepoints").toUri().toString(),
                    SavepointFormatType.CANONICAL).get(60, TimeUnit.SECONDS);
        } catch (AssertionError | Exception e) {
            first.cancel().get(60, TimeUnit.SECONDS); // free the slots for the other tests
            throw e;
        }

        produce(k, traffic(2, 1));
        JobClient second = start(s, k, resumeFrom(savepoint, s, 1));
        List<DualUpdate> after;
        List<String> scored;
        try {
            after = readDual(k, 3);
            scored = scoredIds(k, input.size() + 300);
        } finally {
            second.cancel().get(60, TimeUnit.SECONDS);
        }
        assertThat(scored).hasSize(input.size() + 300).doesNotHaveDuplicates();
        assertThat(after).hasSize(3);
        assertThat(after.get(2).step()).isEqualTo(2);           // the step counter came through the rescale
        assertThat(after.get(2).policyVersion()).isEqualTo(2);
        assertThat(after.get(2).lambda().get("harmless")).isNotEqualTo(lambdaBefore);
    }

    @Test
    void resumingFromABrokenSavepointFailsWithAnExplanation() throws Exception {
        KafkaSettings k = kafka("broken-sp");
        Path broken = Files.createDirectories(tmp.resolve("broken-savepoint"));
        Files.writeString(broken.resolve("_metadata"), "not a savepoint"); // e.g. a half-copied directory
        JobSettings s = settings(tmp.resolve("broken-ckpt").toUri().toString(), Map.of("checkpoint.restore-from",
                broken.toUri().toString()));
        Throwable failure = null;
        try {
            start(s, k, resumeFrom(s.restoreFrom(), s, 1)).getJobExecutionResult().get(120, TimeUnit.SECONDS);
        } catch (Exception e) {
            failure = e;
        }
        assertThat(failure).as("a job resuming from a broken savepoint must fail").isNotNull();
        assertThat(JobEnvironment.explainRestoreFailure(failure, s.restoreFrom())).hasValueSatisfying(m -> assertThat(m)
                .contains("cannot resume from " + s.restoreFrom()).contains("--fresh"));
        // the same failure is not blamed on a savepoint when the job was not resuming from one
        assertThat(JobEnvironment.explainRestoreFailure(failure, "")).isEmpty();
        assertThat(JobEnvironment.explainRestoreFailure(new RuntimeException("Kafka broker down"), s.restoreFrom())).isEmpty();
    }

    /** An environment that starts from {@code savepoint} at {@code parallelism}, failing instead of restarting. */
    static StreamExecutionEnvironment resumeFrom(String savepoint, JobSettings s, int parallelism) {
        Configuration resume = JobEnvironment.configuration(s);
        resume.setString("execution.state-recovery.path", savepoint);
        resume.setString("restart-strategy.type", "none");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(resume);
        env.setParallelism(parallelism);
        return env;
    }

    static JobClient start(JobSettings s, KafkaSettings k, StreamExecutionEnvironment env) throws Exception {
        AlignmentJob.kafka(env, s, k, false);
        return env.executeAsync("alignment-savepoint");
    }

    @Test
    void theExactlyOnceSinksReuseAFewTransactionalIdsInsteadOfANewOnePerCheckpoint() throws Exception {
        KafkaSettings k = kafka("pool");
        JobSettings s = settings(tmp.resolve("pool-ckpt").toUri().toString(), Map.of());
        JobClient job = start(s, k, env(s, "none"));
        try {
            produce(k, reference());
            assertThat(readDual(k, 1)).hasSize(1);
            produce(k, traffic(1, 1));
            assertThat(scoredIds(k, REFERENCE_PROMPTS * 2 + 300)).hasSize(REFERENCE_PROMPTS * 2 + 300);
            Thread.sleep(5000); // about 50 more checkpoints at 100 ms, each committing every sink's transaction
        } finally {
            job.cancel().get(60, TimeUnit.SECONDS);
        }
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(
                Map.of("bootstrap.servers", KAFKA.bootstrapServers()))) {
            List<String> ids = admin.listTransactions().all().get().stream()
                    .map(org.apache.kafka.clients.admin.TransactionListing::transactionalId)
                    .filter(id -> id.startsWith(k.transactionalIdPrefix() + "-")).distinct().toList();
            int sinks = Topic.values().length; // at most one sink per topic, one subtask each
            // a new id per checkpoint (the connector's default) would leave hundreds here
            assertThat(ids).isNotEmpty().hasSizeLessThanOrEqualTo(4 * sinks);
        }
    }

    @Test
    void responsesProducedByAnIndependentClientComeOutScored() throws Exception {
        KafkaSettings k = kafka("e2e");
        List<ResponseEvent> input = traffic(0, 1).subList(0, 50);
        // an independent client: raw JSON bytes, one malformed record among them
        List<byte[]> values = new ArrayList<>(input.stream().map(ResponseEvent::toJsonBytes).toList());
        values.add("{\"id\":\"broken\"".getBytes(StandardCharsets.UTF_8));
        KafkaTestClient.produce(KAFKA.bootstrapServers(), k.topic(Topic.RESPONSES), null, values);
        JobSettings s = settings(tmp.resolve("e2e-ckpt").toUri().toString(), Map.of());
        StreamExecutionEnvironment env = env(s, "none");
        AlignmentJob.kafka(env, s, k, true);
        env.execute("alignment-e2e");
        assertThat(scoredIds(k, 50)).hasSize(50);
        List<ConsumerRecord<byte[], byte[]>> dlq = KafkaTestClient.consume(KAFKA.bootstrapServers(), k.topic(Topic.DLQ), 1,
                Duration.ofSeconds(30));
        assertThat(dlq).hasSize(1);
        assertThat(Files.exists(tmp)).isTrue();
    }

    @Test
    void enforceModeSolvesAgainOnASlidingWindowOfCandidateSetsAndNeverAsksForAFineTune() throws Exception {
        KafkaSettings k = kafka("enforce");
        // 20 prompts per window, 4 candidates each; a new solve after every 5 new prompts
        JobSettings s = settings(tmp.resolve("enforce-ckpt").toUri().toString(), Map.of("dual.mode", "enforce",
                "dual.one-shot.samples-per-prompt", 4, "dual.enforce.every", 5));
        JobClient job = start(s, k, env(s, "none"));
        List<DualUpdate> updates;
        try {
            List<ResponseEvent> sets = new ArrayList<>();
            SplittableRandom rnd = new SplittableRandom(8);
            for (int i = 0; i < REFERENCE_PROMPTS + 10; i++) {
                World.Prompt p = World.prompt(rnd);
                for (int c = 0; c < 4; c++) {
                    sets.add(new ResponseEvent("cand-" + i + "-" + c, "enf-p" + i, p.text(), World.response(p.intent(), rnd, c < 2 ? 0 : 1),
                            0, -10.0, -10.0, "reference", 1_765_000_000_000L + i));
                }
            }
            produce(k, sets);
            updates = readDual(k, 3); // the first window, then two slides of 5 prompts each
        } finally {
            job.cancel().get(60, TimeUnit.SECONDS);
        }
        assertThat(updates).hasSize(3);
        for (int i = 0; i < 3; i++) {
            assertThat(updates.get(i).kind()).isEqualTo(StepKind.ENFORCE);
            assertThat(updates.get(i).step()).isEqualTo(i);
        }
        // enforcement moves λ without fine-tuning: nothing on the control topic
        assertThat(KafkaTestClient.consume(KAFKA.bootstrapServers(), k.topic(Topic.CONTROL), 1, Duration.ofSeconds(3))).isEmpty();
    }

    @Test
    void eachFineTuneRequestNamesTheFileOfScoredResponsesItsTrainerReads() throws Exception {
        KafkaSettings k = kafka("dataset");
        JobSettings s = settings(tmp.resolve("dataset-ckpt").toUri().toString(), Map.of("dual.mode", "one-shot",
                "dataset.root", tmp.resolve("datasets").toString()));
        JobClient job = start(s, k, env(s, "none"));
        FineTuneRequest req;
        try {
            // version 0 serving 30 prompts (the stable version the request names), then the reference's samples for λ(0)
            produce(k, traffic(0, 1).subList(0, 30));
            produce(k, reference());
            List<ConsumerRecord<byte[], byte[]>> control = KafkaTestClient.consume(KAFKA.bootstrapServers(), k.topic(Topic.CONTROL), 1,
                    Duration.ofSeconds(120));
            assertThat(control).as("the one-shot step's request").hasSize(1);
            req = Events.parse(FineTuneRequest.class, control.get(0).value());
        } finally {
            job.cancel().get(60, TimeUnit.SECONDS);
        }
        assertThat(req.dataset()).as("the request names its dataset").isNotNull();
        assertThat(req.stableVersion()).as("nothing promoted: the oldest version seen serving").isEqualTo(0L);
        Path file = Path.of(java.net.URI.create(req.dataset().uri()));
        assertThat(file).startsWith(tmp.resolve("datasets"));
        // the reader checks the digest and the count the request names, and every line against its record type
        List<PolicyDatasetRecord> records = PolicyDataset.read(file, req.dataset());
        assertThat(records).hasSize(REFERENCE_PROMPTS + 30);
        assertThat(records.subList(0, REFERENCE_PROMPTS)).as("newest first").allSatisfy(r -> assertThat(r.promptId()).startsWith("ref-p"));
        var schema = com.networknt.schema.SchemaRegistry.withDefaultDialect(com.networknt.schema.SpecificationVersion.DRAFT_2020_12)
                .getSchema(dev.dualign.core.event.EventJson.mapper().readTree(Path.of("../docs/schemas/PolicyDatasetRecord.json").toFile()));
        for (String line : Files.readAllLines(file)) {
            assertThat(schema.validate(dev.dualign.core.event.EventJson.mapper().readTree(line))).as(line).isEmpty();
        }
        for (PolicyDatasetRecord r : records.subList(REFERENCE_PROMPTS, records.size())) {
            assertThat(r.responses()).as("a served prompt: its one answer").hasSize(1);
            assertThat(r.responses().get(0).weight()).as("version 0 is π_ref: its one response carries all the weight").isEqualTo(1.0);
        }
        for (PolicyDatasetRecord r : records.subList(0, REFERENCE_PROMPTS)) {
            assertThat(r.lambda()).isEqualTo(req.lambda());
            assertThat(r.beta()).isEqualTo(req.beta());
            assertThat(r.responses()).as("the safe and the hazardous reference response").hasSize(2);
            // all from the reference: softmax(s/β) over the prompt's two, the safer one heavier once λ > 0
            double w0 = r.responses().get(0).weight();
            double w1 = r.responses().get(1).weight();
            double ds = r.responses().get(0).score() - r.responses().get(1).score();
            assertThat(w0 + w1).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-9));
            assertThat(Math.log(w0 / w1)).as("log w0/w1 = Δs/β").isCloseTo(ds / r.beta(), org.assertj.core.data.Offset.offset(1e-6));
        }
    }
}
