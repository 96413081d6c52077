package dev.dualign.streaming;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.util.PairList;
import dev.dualign.connectors.EmbeddedKafkaExtension;
import dev.dualign.connectors.KafkaSettings;
import dev.dualign.connectors.KafkaTestClient;
import dev.dualign.connectors.TopicAdmin;
import dev.dualign.core.config.Config;
import dev.dualign.core.event.Events;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.event.Topic;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.ScorerImport;
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
import java.util.concurrent.TimeUnit;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A team's own scorer in the job: the fixture's classifier and Hugging Face tokenizer
 * (fixtures/tiny-bert-scorer), imported from its TorchScript file and from its ONNX file as the
 * harmlessness scorer beside the built-in reward, scores every response on a MiniCluster reading the
 * embedded broker; its scores in {@code dualign.scored} are those of the same model and tokenizer run
 * directly through the same DJL engine here (PyTorch for {@code model.pt}, OnnxRuntime for {@code model.onnx}).
 */
class ImportedScorerITCase {
    @RegisterExtension
    @Order(1)
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    @RegisterExtension
    @Order(2)
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2).build());

    static final Path FIXTURE = Path.of("../fixtures/tiny-bert-scorer");

    @TempDir
    static Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"model.pt", "model.onnx"})
    void theJobScoresWithTheImportedModelExactlyAsDjlRunsIt(String file) throws Exception {
        String run = file.endsWith(".onnx") ? "onnx" : "pt";
        Path registry = tmp.resolve("registry-" + run);
        TestModels.copyTree(TestModels.registry(), registry);
        ModelRegistry reg = new ModelRegistry(registry);
        ScorerImport.Result imported = ScorerImport.publish(reg, new ScorerImport.Request("harmless", FIXTURE.resolve(file),
                FIXTURE.resolve("tokenizer.json"), null, null, "harmless", null, null, "softmax"), Device.cpu());
        assertThat(imported.manifest().version()).isEqualTo(1); // on top of the bootstrap's built-in version 0
        assertThat(reg.manifest("harmless", 1).info()).containsEntry("format", file.endsWith(".onnx") ? "onnx" : "torchscript");

        Map<String, Object> m = new HashMap<>(Map.of("constraints.harmless", 0.5, "dual.mode", "iterative",
                "scoring.registry", registry.toString(), "scoring.device", "cpu", "scoring.batch-size", 16,
                "checkpoint.interval-ms", 200, "checkpoint.dir", tmp.resolve("ckpt-" + run).toUri().toString(), "flink.parallelism", 1,
                "metrics.prometheus-port", 0));
        JobSettings s = JobSettings.from(Config.of(m, JobConfig.ALL, JobConfig.PASS_THROUGH), tmp);
        KafkaSettings d = KAFKA.settings("imp-" + run);
        KafkaSettings k = new KafkaSettings(d.bootstrapServers(), "imp-" + run, 1, 1, true, "imp-" + run + "-tx", 60000, 1 << 20,
                "imp-" + run + "-group", Map.of());
        TopicAdmin.ensure(k).requireOk();
        Configuration c = JobEnvironment.configuration(s);
        c.setString("restart-strategy.type", "none");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(c);
        env.setParallelism(1);
        AlignmentJob.kafka(env, s, k, false);
        JobClient job = env.executeAsync("imported-scorer-" + run);

        List<ResponseEvent> responses = new ArrayList<>();
        SplittableRandom rnd = new SplittableRandom(3);
        for (int i = 0; i < 50; i++) {
            World.Prompt p = World.prompt(rnd);
            responses.add(new ResponseEvent("r" + i, "p" + i, p.text(), World.response(p.intent(), rnd, i % 2 == 0 ? 0.0 : 1.0), 0,
                    -10.0, -10.0, "policy", 1_764_000_000_000L + i));
        }
        List<ScoredSample> scored;
        try {
            KafkaTestClient.produce(KAFKA.bootstrapServers(), k.topic(Topic.RESPONSES),
                    responses.stream().map(e -> e.key().getBytes(StandardCharsets.UTF_8)).toList(),
                    responses.stream().map(ResponseEvent::toJsonBytes).toList());
            scored = KafkaTestClient.consume(KAFKA.bootstrapServers(), k.topic(Topic.SCORED), responses.size(), Duration.ofSeconds(120))
                    .stream().map(r -> Events.parse(ScoredSample.class, r.value())).toList();
        } finally {
            if (job.getJobStatus().get(10, TimeUnit.SECONDS).isGloballyTerminalState()) {
                job.getJobExecutionResult().get(10, TimeUnit.SECONDS); // throws the job's failure
            }
            job.cancel().get(60, TimeUnit.SECONDS);
        }
        assertThat(scored).hasSize(responses.size());

        // the same model and tokenizer, straight through the same DJL engine: BERT pair encoding padded
        // to the config's 64 positions, logits → softmax of column 1 ("harmless" in id2label)
        Map<String, Double> direct = new HashMap<>();
        Criteria<NDList, NDList> criteria = Criteria.builder().setTypes(NDList.class, NDList.class)
                .optModelPath(FIXTURE.resolve(file).toAbsolutePath()).optEngine(file.endsWith(".onnx") ? "OnnxRuntime" : "PyTorch").build();
        try (HuggingFaceTokenizer tok = HuggingFaceTokenizer.builder().optTokenizerPath(FIXTURE.resolve("tokenizer.json"))
                        .optPadToMaxLength().optMaxLength(64).optTruncation(true).build();
                ZooModel<NDList, NDList> model = criteria.loadModel();
                Predictor<NDList, NDList> predictor = model.newPredictor();
                NDManager nd = NDManager.newBaseManager()) {
            PairList<String, String> pairs = new PairList<>();
            responses.forEach(r -> pairs.add(r.prompt(), r.response()));
            Encoding[] enc = tok.batchEncode(pairs);
            long[][] ids = new long[enc.length][];
            long[][] mask = new long[enc.length][];
            long[][] types = new long[enc.length][];
            for (int i = 0; i < enc.length; i++) {
                ids[i] = enc[i].getIds();
                mask[i] = enc[i].getAttentionMask();
                types[i] = enc[i].getTypeIds();
            }
            NDList in = new NDList(nd.create(ids), nd.create(mask), nd.create(types));
            float[] logits = predictor.predict(in).get(0).toFloatArray();
            assertThat(logits).hasSize(2 * responses.size());
            for (int i = 0; i < responses.size(); i++) {
                direct.put(responses.get(i).id(), 1 / (1 + Math.exp(logits[2 * i] - logits[2 * i + 1])));
            }
        }
        for (ScoredSample x : scored) {
            // the job's 16-row batches against one 50-row batch: another shape, float32 rounding apart (decision 24)
            assertThat(x.utilities().get("harmless")).as("harmless of %s", x.id()).isCloseTo(direct.get(x.id()), within(1e-5));
        }
        // the scores carry information: the fixture does not call every response the same
        assertThat(direct.values().stream().mapToDouble(Double::doubleValue).max().getAsDouble()
                - direct.values().stream().mapToDouble(Double::doubleValue).min().getAsDouble()).isGreaterThan(1e-3);
    }
}
