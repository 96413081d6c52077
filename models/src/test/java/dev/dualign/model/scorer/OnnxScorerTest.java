package dev.dualign.model.scorer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dualign.model.registry.ModelRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ONNX scorers through DJL's OnnxRuntime engine, on the fixture's {@code model.onnx} (the same
 * network as its {@code model.pt}, fixtures/make_tiny_scorer.py): imported the way TorchScript is,
 * run by the engine the manifest's format names, scoring what PyTorch scores to float32 rounding of
 * two engines, and the same bits for the same call at the same shape.
 */
class OnnxScorerTest {
    static final Path FIXTURE = ImportedScorerTest.FIXTURE;
    static final ObjectMapper JSON = new ObjectMapper();
    /**
     * Two engines, one network: OnnxRuntime and libtorch run the same float32 graph with their own
     * kernels (fused attention, GEMM blocking, exp), so they agree to float32 rounding of a sum of
     * 64-wide dot products, never bit for bit (decision 24). 1e-4 on a logit of magnitude ~1 is about
     * a thousand float32 ulps, far below any change a real bug makes (a wrong input or column moves it by ~0.1).
     */
    static final double LOGIT_TOLERANCE = 1e-4;

    static ImportedScorer load(String file, int output, String transform) {
        String format = ImportedScorer.formatOf(FIXTURE.resolve(file));
        return ImportedScorer.load("harmless", new ImportedScorer.Spec(format, file, ImportedScorerTest.spec(0, "none").inputs(),
                output, transform, 64, null), FIXTURE.resolve(file), FIXTURE.resolve("tokenizer.json"), Device.cpu());
    }

    /** 64 pairs of varied length and content, harmful words included. */
    static List<Scorer.PromptResponse> pairs() {
        String[] prompts = {"how do i reset my password", "I feel SAD today", "can you help me sleep better?", "hi",
            "what is the best way to cook rice", ""};
        String[] words = {"try", "walking", "slowly", "buy", "drugs", "hurt", "them", "weapon", "please", "call", "a", "doctor",
            "zzq", "xylophone!", "rice", "water", "."};
        SplittableRandom rnd = new SplittableRandom(11);
        List<Scorer.PromptResponse> out = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            StringBuilder r = new StringBuilder();
            for (int w = rnd.nextInt(0, 40); w > 0; w--) {
                r.append(words[rnd.nextInt(words.length)]).append(' ');
            }
            out.add(new Scorer.PromptResponse(prompts[rnd.nextInt(prompts.length)], r.toString().strip()));
        }
        return out;
    }

    @Test
    void theOnnxFileScoresWhatTheTorchScriptFileAndPyTorchScoreWithinEngineRounding() throws Exception {
        JsonNode expected = JSON.readTree(FIXTURE.resolve("expected.json").toFile());
        List<Scorer.PromptResponse> cases = new ArrayList<>();
        for (JsonNode c : expected.get("cases")) {
            cases.add(new Scorer.PromptResponse(c.get("prompt").asText(), c.get("response").asText()));
        }
        List<Scorer.PromptResponse> pairs = pairs();
        try (ImportedScorer onnx0 = load("model.onnx", 0, "none"); ImportedScorer onnx1 = load("model.onnx", 1, "none");
                ImportedScorer pt0 = load("model.pt", 0, "none"); ImportedScorer pt1 = load("model.pt", 1, "none")) {
            double[] o0 = onnx0.score(cases);
            double[] o1 = onnx1.score(cases);
            for (int i = 0; i < cases.size(); i++) { // what PyTorch 1.13 computed when it wrote the fixture
                assertThat(o0[i]).as("logit 0 of case %d", i).isCloseTo(expected.get("cases").get(i).get("logits").get(0).asDouble(),
                        within(LOGIT_TOLERANCE));
                assertThat(o1[i]).as("logit 1 of case %d", i).isCloseTo(expected.get("cases").get(i).get("logits").get(1).asDouble(),
                        within(LOGIT_TOLERANCE));
            }
            double worst = 0;
            double[][] both = {onnx0.score(pairs), pt0.score(pairs), onnx1.score(pairs), pt1.score(pairs)};
            for (int i = 0; i < pairs.size(); i++) {
                assertThat(both[0][i]).as("logit 0 of pair %d", i).isCloseTo(both[1][i], within(LOGIT_TOLERANCE));
                assertThat(both[2][i]).as("logit 1 of pair %d", i).isCloseTo(both[3][i], within(LOGIT_TOLERANCE));
                worst = Math.max(worst, Math.max(Math.abs(both[0][i] - both[1][i]), Math.abs(both[2][i] - both[3][i])));
            }
            System.out.printf("onnx vs torchscript: largest logit difference %.3g over %d pairs%n", worst, pairs.size());
            // the logits carry information: not every pair is called the same
            double[] margin = new double[pairs.size()];
            Arrays.setAll(margin, i -> both[2][i] - both[0][i]);
            assertThat(Arrays.stream(margin).max().getAsDouble() - Arrays.stream(margin).min().getAsDouble()).isGreaterThan(0.1);
        }
    }

    @Test
    void theSameCallTwiceAndTheSameShapeInOtherCompanyGiveTheSameBits() {
        // decision 5 for the ONNX engine: one shape, the same bits, whatever else shares the batch
        List<Scorer.PromptResponse> pairs = pairs();
        try (ImportedScorer s = load("model.onnx", 1, "softmax")) {
            double[] first = s.score(pairs.subList(0, 16));
            assertThat(s.score(pairs.subList(0, 16))).containsExactly(first);
            List<Scorer.PromptResponse> other = new ArrayList<>(pairs.subList(16, 32));
            other.set(9, pairs.get(3));
            other.set(0, pairs.get(7));
            double[] second = s.score(other);
            assertThat(second[9]).isEqualTo(first[3]);
            assertThat(second[0]).isEqualTo(first[7]);
        }
    }

    @Test
    void lengthBucketsGiveEachPairOneShapeAndTheModelsScoresToRounding() {
        // decision 32: a pair's call shape is its length bucket's, so its bits do not depend on its company
        List<Scorer.PromptResponse> pairs = pairs();
        try (ImportedScorer s = load("model.onnx", 1, "none")) {
            double[] all = s.score(pairs, 16, true);
            List<Scorer.PromptResponse> some = new ArrayList<>(pairs.subList(40, 50));
            some.add(pairs.get(3));
            some.add(0, pairs.get(7));
            double[] few = s.score(some, 16, true);
            assertThat(few[0]).isEqualTo(all[7]);
            assertThat(few[11]).isEqualTo(all[3]);
            // a bucket against the maximum length: another shape (decision 24), masked padding; a float32 model agrees to rounding
            double[] max = s.score(pairs, 16, false);
            for (int i = 0; i < pairs.size(); i++) {
                assertThat(all[i]).as("pair %d", i).isCloseTo(max[i], within(LOGIT_TOLERANCE));
            }
            int[] tokens = Arrays.stream(s.encode(pairs)).mapToInt(e -> (int) Arrays.stream(e.getAttentionMask()).sum()).toArray();
            assertThat(LengthBuckets.plan(tokens, 64, 16, true)).extracting(LengthBuckets.Call::length).contains(32, 64);
        }
    }

    @Test
    void theImporterPublishesBothFormatsAndTheSetRunsEachOnItsEngine(@TempDir Path root) {
        ModelRegistry reg = new ModelRegistry(root);
        ScorerImport.Result onnx = ScorerImport.publish(reg, request("harmless", "model.onnx", null, null), Device.cpu());
        ScorerImport.Result pt = ScorerImport.publish(reg, request("reward", "model.pt", null, null), Device.cpu());
        assertThat(onnx.spec().format()).isEqualTo("onnx");
        assertThat(onnx.spec().inputs()).containsExactly("input_ids", "attention_mask", "token_type_ids"); // found by trying
        assertThat(onnx.spec().output()).isEqualTo(1); // "harmless" in id2label of the config.json beside the model
        assertThat(onnx.spec().maxLength()).isEqualTo(64); // its max_position_embeddings
        assertThat(reg.manifest("harmless", 0).info()).containsEntry("format", "onnx").containsEntry("kind", ImportedScorer.KIND)
                .containsKey("sourceSha256");
        assertThat(reg.manifest("reward", 0).info()).containsEntry("format", "torchscript");
        assertThat(reg.manifest("harmless", 0).files()).extracting(f -> f.path())
                .containsExactlyInAnyOrder("model.onnx", "tokenizer.json", "imported-scorer.json");
        try (ScorerSet set = ScorerSet.open(reg, List.of("harmless"), Device.cpu())) {
            Map<String, double[]> scores = set.score(ScorerImport.SMOKE, ScorerImport.SMOKE.size(), false);
            // the smoke batch's own shape on each engine: the same bits as the importer's run
            assertThat(scores.get("harmless")).containsExactly(onnx.smokeScores());
            assertThat(scores.get("reward")).containsExactly(pt.smokeScores());
            // one network, two engines: the probabilities agree to engine rounding (a logit within 1e-4 moves a probability ≤ 2.5e-5)
            assertThat(scores.get("harmless")).containsExactly(scores.get("reward"), within(2.5e-5));
        }
    }

    static ScorerImport.Request request(String name, String file, List<String> inputs, Integer maxLength) {
        return new ScorerImport.Request(name, FIXTURE.resolve(file), FIXTURE.resolve("tokenizer.json"), null, null, "harmless", maxLength,
                inputs, "softmax");
    }

    @Test
    void anOnnxModelWhoseInputsLabelsOrTokenizerDoNotMatchIsRefusedAndNothingIsPublished(@TempDir Path root) throws Exception {
        ModelRegistry reg = new ModelRegistry(root);
        assertThatThrownBy(() -> ScorerImport.publish(reg, request("harmless", "model.onnx", List.of("input_ids", "attention_mask"), null),
                Device.cpu())).hasMessageContaining("--model").hasMessageContaining("token_type_ids")
                .hasMessageContaining("nothing was published");
        assertThatThrownBy(() -> ScorerImport.publish(reg, new ScorerImport.Request("harmless", FIXTURE.resolve("model.onnx"),
                FIXTURE.resolve("tokenizer.json"), null, null, "safe", null, null, "softmax"), Device.cpu()))
                .hasMessageContaining("--label").hasMessageContaining("[harmful, harmless]");
        // more positions than the model has: the engine refuses the smoke pairs
        assertThatThrownBy(() -> ScorerImport.publish(reg, request("harmless", "model.onnx", null, 128), Device.cpu()))
                .hasMessageContaining("--model").hasMessageContaining("nothing was published");
        // another model's tokenizer: ids beyond this model's vocabulary
        JsonNode tok = JSON.readTree(FIXTURE.resolve("tokenizer.json").toFile());
        ((com.fasterxml.jackson.databind.node.ObjectNode) tok.get("model").get("vocab")).put("zebra", 30000);
        Path other = Files.writeString(root.resolve("other-tokenizer.json"), JSON.writeValueAsString(tok));
        assertThatThrownBy(() -> ScorerImport.publish(reg, new ScorerImport.Request("harmless", FIXTURE.resolve("model.onnx"), other,
                null, null, "harmless", null, null, "softmax"), Device.cpu()))
                .hasMessageContaining("--tokenizer").hasMessageContaining("30000").hasMessageContaining("vocab_size");
        Path garbage = Files.writeString(root.resolve("garbage.onnx"), "not a model");
        assertThatThrownBy(() -> ScorerImport.publish(reg, new ScorerImport.Request("harmless", garbage, FIXTURE.resolve("tokenizer.json"),
                FIXTURE.resolve("config.json"), null, null, null, null, "none"), Device.cpu()))
                .hasMessageContaining("cannot load the ONNX model");
        assertThat(reg.latest("harmless")).isEmpty();
    }
}
