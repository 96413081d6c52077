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
        // what was imported and by whom: the file is code its author wrote
        String modelSha = reg.manifest("harmless", 0).files().stream().filter(f -> f.path().equals("model.pt")).findFirst()
                .orElseThrow().sha256();
        assertThat(reg.manifest("harmless", 0).info()).containsEntry("sourceSha256", modelSha)
                .containsEntry("importedBy", System.getProperty("user.name")).containsKey("importedAt");
        // no tokenizer and no built-in scorer in this registry: the set opens on imported scorers alone
        try (ScorerSet set = ScorerSet.open(reg, List.of("harmless"), Device.cpu()); ImportedScorer direct = fixture(1, "softmax")) {
            List<Scorer.PromptResponse> pairs = ScorerImport.SMOKE;
            Map<String, double[]> scores = set.score(pairs, 4, false); // padded to the maximum: decision 5's shape
            assertThat(scores.keySet()).containsExactly("reward", "harmless");
            // the set pads the 3 pairs to 4 rows; at the same shape the score is the same to the last bit (decision 5)
            List<Scorer.PromptResponse> padded = new ArrayList<>(pairs);
            padded.add(new Scorer.PromptResponse("", ""));
            assertThat(scores.get("harmless")).containsExactly(Arrays.copyOf(direct.score(padded), pairs.size()));
            // 4 rows against 3 (the importer's smoke batch): another shape takes other float32 kernels on some CPUs
            // (1.7e-10 apart on AVX-512, decision 24); 1e-5 is well above float32 rounding of a probability, far below a real change
            assertThat(scores.get("harmless")).containsExactly(harmless.smokeScores(), within(1e-5));
            assertThat(direct.score(pairs)).containsExactly(harmless.smokeScores()); // same model, same 3-row shape
        }
    }

    private static ScorerImport.Request request(String name, Integer output, String label, String transform) {
        return new ScorerImport.Request(name, FIXTURE.resolve("model.pt"), FIXTURE.resolve("tokenizer.json"), null, output, label, null,
                null, transform);
    }

    @Test
    void aSpecWhoseModelFileLeavesTheVersionDirectoryIsRefused(@TempDir Path root) throws Exception {
        Path dir = Files.createDirectories(root.resolve("v"));
        Files.copy(FIXTURE.resolve("tokenizer.json"), dir.resolve(ImportedScorer.TOKENIZER_FILE));
        Files.copy(FIXTURE.resolve("model.pt"), root.resolve("outside.pt"));
        for (String bad : new String[] {"../outside.pt", "/etc/passwd", "sub/model.pt", ""}) {
            ImportedScorer.writeSpec(dir, new ImportedScorer.Spec("torchscript", bad, List.of("input_ids", "attention_mask",
                    "token_type_ids"), 1, "sigmoid", 64, null));
            assertThatThrownBy(() -> ImportedScorer.load(dir, "harmless", Device.cpu())).as(bad)
                    .hasMessageContaining("not a file of the version's directory");
        }
        Files.copy(FIXTURE.resolve("model.pt"), dir.resolve("model.pt"));
        ImportedScorer.writeSpec(dir, spec(1, "sigmoid"));
        try (ImportedScorer ok = ImportedScorer.load(dir, "harmless", Device.cpu())) {
            assertThat(ok.score(ScorerImport.SMOKE)).hasSize(ScorerImport.SMOKE.size());
        }
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
        assertThatThrownBy(() -> ScorerImport.publish(reg, new ScorerImport.Request("harmless", FIXTURE.resolve("model.pt"),
                root.resolve("missing.json"), null, null, null, null, null, "none"), Device.cpu()))
                .hasMessageContaining("--tokenizer");
        assertThat(reg.latest("harmless")).isEmpty();
    }

    /** A tokenizer.json of another kind, with the fixture's special tokens at its ids 0–3. */
    static String tokenizerJson(String normalizer, String preTokenizer, String model) {
        String special = "{\"id\":%d,\"content\":\"%s\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
                + "\"normalized\":false,\"special\":true}";
        return "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":["
                + String.format(special, 0, "[PAD]") + "," + String.format(special, 1, "[UNK]") + ","
                + String.format(special, 2, "[CLS]") + "," + String.format(special, 3, "[SEP]") + "],"
                + "\"normalizer\":" + normalizer + ",\"pre_tokenizer\":" + preTokenizer + ","
                + "\"post_processor\":{\"type\":\"TemplateProcessing\","
                + "\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
                + "{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}}],"
                + "\"pair\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
                + "{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"B\",\"type_id\":1}},"
                + "{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":1}}],"
                + "\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[2],\"tokens\":[\"[CLS]\"]},"
                + "\"[SEP]\":{\"id\":\"[SEP]\",\"ids\":[3],\"tokens\":[\"[SEP]\"]}}},"
                + "\"decoder\":null,\"model\":" + model + "}";
    }

    @Test
    void bpeAndUnigramTokenizersEncodeTruncateAndPadThePairToo(@TempDir Path dir) throws Exception {
        StringBuilder letters = new StringBuilder();
        StringBuilder pieces = new StringBuilder();
        for (char c = 'a'; c <= 'z'; c++) {
            letters.append(",\"").append(c).append("\":").append(4 + c - 'a');
            pieces.append(",[\"").append(c).append("\",-5.0]");
        }
        String bpe = tokenizerJson("{\"type\":\"Lowercase\"}", "{\"type\":\"Whitespace\"}",
                "{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":null,"
                        + "\"end_of_word_suffix\":null,\"fuse_unk\":false,\"byte_fallback\":false,"
                        + "\"vocab\":{\"[PAD]\":0,\"[UNK]\":1,\"[CLS]\":2,\"[SEP]\":3" + letters + ",\"he\":30,\"ll\":31,\"hell\":32,\"hello\":33},"
                        + "\"merges\":[\"h e\",\"l l\",\"he ll\",\"hell o\"]}");
        String unigram = tokenizerJson("null", "{\"type\":\"Metaspace\",\"replacement\":\"\u2581\",\"prepend_scheme\":\"always\",\"split\":true}",
                "{\"type\":\"Unigram\",\"unk_id\":1,\"byte_fallback\":false,\"vocab\":[[\"[PAD]\",0.0],[\"[UNK]\",0.0],"
                        + "[\"[CLS]\",0.0],[\"[SEP]\",0.0]" + pieces + ",[\"\u2581\",-2.0],[\"\u2581hello\",-1.0]]}");
        Scorer.PromptResponse hello = new Scorer.PromptResponse("hello", "Hello " + "world ".repeat(100));
        for (String[] t : new String[][] {{"bpe", bpe, "33"}, {"unigram", unigram, "31"}}) {
            Path file = Files.writeString(dir.resolve(t[0] + ".json"), t[1]);
            try (ImportedScorer s = ImportedScorer.load("harmless", spec(1, "sigmoid"), FIXTURE.resolve("model.pt"), file, Device.cpu())) {
                Encoding e = s.encode(List.of(hello))[0];
                assertThat(e.getIds()).as(t[0]).hasSize(64); // truncated to the fixed length, special tokens kept
                assertThat(e.getIds()[0]).isEqualTo(2L);
                assertThat(e.getIds()[1]).as("%s: 'hello' is one token", t[0]).isEqualTo(Long.parseLong(t[2]));
                assertThat(e.getIds()[2]).isEqualTo(3L);
                assertThat(e.getIds()[63]).isEqualTo(3L);
                double[] short1 = s.score(List.of(new Scorer.PromptResponse("hi", "ok"), hello));
                assertThat(java.util.Arrays.stream(short1).allMatch(x -> x >= 0 && x <= 1)).isTrue();
                assertThat(s.encode(List.of(new Scorer.PromptResponse("hi", "ok")))[0].getAttentionMask()).hasSize(64)
                        .contains(0L); // padded
            }
        }
    }
}
