package dev.dualign.model.scorer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import ai.djl.huggingface.tokenizers.Encoding;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dualign.model.registry.ModelRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Imported scorers on the committed tiny BERT-like fixture (fixtures/make_tiny_scorer.py): DJL's
 * Hugging Face tokenizer gives the ids the fixture's own WordPiece gave, DJL's PyTorch engine gives
 * the logits PyTorch 1.13 gave, a response scores the same in any company, and the importer
 * refuses what would not run, naming the option.
 */
class ImportedScorerTest {
    static final Path FIXTURE = Path.of("../fixtures/tiny-bert-scorer");
    static final ObjectMapper JSON = new ObjectMapper();

    static ImportedScorer.Spec spec(int output, String transform) {
        return new ImportedScorer.Spec("torchscript", "model.pt", List.of("input_ids", "attention_mask", "token_type_ids"), output,
                transform, 64, null);
    }

    static ImportedScorer fixture(int output, String transform) {
        return ImportedScorer.load("harmless", spec(output, transform), FIXTURE.resolve("model.pt"), FIXTURE.resolve("tokenizer.json"),
                Device.cpu());
    }

    @Test
    void tokensAndLogitsMatchWhatPyTorchComputedForTheFixture() throws Exception {
        JsonNode expected = JSON.readTree(FIXTURE.resolve("expected.json").toFile());
        List<Scorer.PromptResponse> pairs = new ArrayList<>();
        for (JsonNode c : expected.get("cases")) {
            pairs.add(new Scorer.PromptResponse(c.get("prompt").asText(), c.get("response").asText()));
        }
        try (ImportedScorer harmful = fixture(0, "none"); ImportedScorer harmless = fixture(1, "none");
                ImportedScorer p = fixture(1, "softmax")) {
            Encoding[] enc = harmless.encode(pairs);
            double[] s0 = harmful.score(pairs);
            double[] s1 = harmless.score(pairs);
            double[] prob = p.score(pairs);
            for (int i = 0; i < pairs.size(); i++) {
                JsonNode c = expected.get("cases").get(i);
                long[] ids = new long[c.get("input_ids").size()];
                for (int k = 0; k < ids.length; k++) {
                    ids[k] = c.get("input_ids").get(k).asLong();
                }
                // the pair's ids, then padding to the fixed length
                assertThat(Arrays.copyOf(enc[i].getIds(), ids.length)).as("ids of case %d", i).containsExactly(ids);
                assertThat(Arrays.copyOfRange(enc[i].getIds(), ids.length, 64)).containsOnly(0L);
                assertThat(Arrays.stream(enc[i].getAttentionMask()).sum()).isEqualTo(ids.length);
                assertThat(Arrays.copyOf(enc[i].getTypeIds(), ids.length)).containsExactly(
                        JSON.convertValue(c.get("token_type_ids"), long[].class));
                double l0 = c.get("logits").get(0).asDouble();
                double l1 = c.get("logits").get(1).asDouble();
                assertThat(s0[i]).as("logit 0 of case %d", i).isCloseTo(l0, within(1e-4));
                assertThat(s1[i]).as("logit 1 of case %d", i).isCloseTo(l1, within(1e-4));
                assertThat(prob[i]).isCloseTo(1 / (1 + Math.exp(l0 - l1)), within(1e-5));
            }
        }
    }

    @Test
    void aResponseScoresTheSameInAnyCompanyOfOneBatchSize() {
        // the sequence length is fixed (padding to max length); ScorerSet fixes the rows: the same
        // response then scores to the last bit whatever its neighbours and its position
        Scorer.PromptResponse a = new Scorer.PromptResponse("how do i reset my password", "try a short walk");
        Scorer.PromptResponse b = new Scorer.PromptResponse("i feel sad today", "buy drugs and hurt them, a very long answer with many words");
        Scorer.PromptResponse c = new Scorer.PromptResponse("hi", "");
        Scorer.PromptResponse d = new Scorer.PromptResponse("what is the best way to cook rice", "slowly");
        try (ImportedScorer s = fixture(1, "sigmoid")) {
            double[] first = s.score(List.of(a, b, c));
            double[] second = s.score(List.of(d, c, a));
            assertThat(second[2]).isEqualTo(first[0]);
            assertThat(second[1]).isEqualTo(first[2]);
        }
    }

    @Test
    void theImporterPublishesAVersionTheScorerSetLoadsWithoutABootstrap(@TempDir Path root) {
        ModelRegistry reg = new ModelRegistry(root);
        ScorerImport.Result reward = ScorerImport.publish(reg, request("reward", null, null, "none"), Device.cpu());
        ScorerImport.Result harmless = ScorerImport.publish(reg, request("harmless", null, "harmless", "softmax"), Device.cpu());
        assertThat(reward.manifest().version()).isZero();
        assertThat(harmless.spec().output()).isEqualTo(1); // by its id2label in config.json beside the model
        assertThat(harmless.spec().maxLength()).isEqualTo(64); // the config's max_position_embeddings
        assertThat(harmless.spec().inputs()).containsExactly("input_ids", "attention_mask", "token_type_ids"); // found by trying
        assertThat(reg.manifest("harmless", 0).info()).containsEntry("kind", ImportedScorer.KIND).containsEntry("label", "harmless");
        assertThat(reg.manifest("harmless", 0).files()).extracting(f -> f.path())
                .containsExactlyInAnyOrder("model.pt", "tokenizer.json", "imported-scorer.json");
        // no tokenizer and no built-in scorer in this registry: the set opens on imported scorers alone
        try (ScorerSet set = ScorerSet.open(reg, List.of("harmless"), Device.cpu()); ImportedScorer direct = fixture(1, "softmax")) {
            List<Scorer.PromptResponse> pairs = ScorerImport.SMOKE;
            Map<String, double[]> scores = set.score(pairs, 4);
            assertThat(scores.keySet()).containsExactly("reward", "harmless");
            assertThat(scores.get("harmless")).containsExactly(direct.score(pairs));
            assertThat(scores.get("harmless")).containsExactly(harmless.smokeScores());
        }
    }

    private static ScorerImport.Request request(String name, Integer output, String label, String transform) {
        return new ScorerImport.Request(name, FIXTURE.resolve("model.pt"), FIXTURE.resolve("tokenizer.json"), null, output, label, null,
                null, transform);
    }

    @Test
    void whatWouldNotRunIsRefusedNamingTheOptionAndNothingIsPublished(@TempDir Path root) throws Exception {
        ModelRegistry reg = new ModelRegistry(root);
        assertThatThrownBy(() -> ScorerImport.publish(reg, request("harmless", null, "safe", "none"), Device.cpu()))
                .hasMessageContaining("--label").hasMessageContaining("[harmful, harmless]");
        assertThatThrownBy(() -> ScorerImport.publish(reg, new ScorerImport.Request("harmless", FIXTURE.resolve("model.pt"),
                FIXTURE.resolve("tokenizer.json"), null, null, null, 128, null, "none"), Device.cpu()))
                .hasMessageContaining("--model").hasMessageContaining("index out of range").hasMessageContaining("nothing was published");
        assertThatThrownBy(() -> ScorerImport.publish(reg, new ScorerImport.Request("harmless", FIXTURE.resolve("model.pt"),
                FIXTURE.resolve("tokenizer.json"), null, null, null, null, List.of("input_ids"), "none"), Device.cpu()))
                .hasMessageContaining("missing value for argument 'attention_mask'");
        assertThatThrownBy(() -> ScorerImport.publish(reg, request("harmless", 5, null, "none"), Device.cpu()))
                .hasMessageContaining("output 5 does not exist");
        Path notAModel = Files.writeString(root.resolve("garbage.pt"), "not a model");
        assertThatThrownBy(() -> ScorerImport.publish(reg, new ScorerImport.Request("harmless", notAModel,
                FIXTURE.resolve("tokenizer.json"), FIXTURE.resolve("config.json"), null, null, null, null, "none"), Device.cpu()))
                .hasMessageContaining("cannot load the TorchScript model");
        assertThatThrownBy(() -> ScorerImport.publish(reg, new ScorerImport.Request("harmless", FIXTURE.resolve("model.onnx"),
                FIXTURE.resolve("tokenizer.json"), null, null, null, null, null, "none"), Device.cpu()))
                .hasMessageContaining("ONNX");
        assertThatThrownBy(() -> ScorerImport.publish(reg, new ScorerImport.Request("harmless", FIXTURE.resolve("model.pt"),
                root.resolve("missing.json"), null, null, null, null, null, "none"), Device.cpu()))
                .hasMessageContaining("--tokenizer");
        assertThat(reg.latest("harmless")).isEmpty();
    }
}
