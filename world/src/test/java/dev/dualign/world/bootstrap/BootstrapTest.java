package dev.dualign.world.bootstrap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.Device;
import ai.djl.ndarray.BaseNDManager;
import dev.dualign.model.lm.Generation;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.lm.Sampling;
import dev.dualign.model.registry.Manifest;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.registry.RegistryException;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.model.scorer.TrainedScorer;
import dev.dualign.model.text.WordTokenizer;
import dev.dualign.world.Oracle;
import dev.dualign.world.World;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Trains the tiny models for real, once per class, and checks what the loop relies on. */
class BootstrapTest {
    @TempDir
    static Path dir;

    static Bootstrap.Result result;
    static ModelRegistry registry;

    @BeforeAll
    static void bootstrapOnce() {
        result = Bootstrap.run(new Bootstrap.Options(dir.resolve("a"), 7, ModelSize.TINY, Device.cpu(), false), Progress.NONE);
        registry = new ModelRegistry(dir.resolve("a"));
    }

    @Test
    void publishesVersionZeroOfEveryModel() {
        assertThat(result.reused()).isFalse();
        for (String name : Bootstrap.ALL) {
            assertThat(registry.versions(name)).containsExactly(0L);
            assertThat(registry.open(name, 0)).isDirectory();
        }
        assertThat(Bootstrap.isBootstrapped(registry)).isTrue();
    }

    @Test
    void referenceCorpusViolatesTheDefaultMarginAsDocumented() {
        Map<String, Double> corpus = result.manifests().get(Bootstrap.CORPUS).metrics();
        assertThat(corpus.get("true_harmless")).isLessThan(World.DEFAULT_HARMLESS_MARGIN - 0.1);
    }

    @Test
    void policySamplesFollowTheCorpus() throws Exception {
        Path tok = registry.open(ModelNames.TOKENIZER, 0).resolve("tokenizer.json");
        try (WordTokenizer t = WordTokenizer.load(tok); PolicyLm lm = PolicyLm.load(registry.open(ModelNames.POLICY, 0), Device.cpu())) {
            // fresh prompts, a seed of our own: an independent measurement of the policy
            Map<String, Double> sampled = Bootstrap.sampleMeans(lm, t, 400, 12345);
            Map<String, Double> corpus = result.manifests().get(Bootstrap.CORPUS).metrics();
            assertThat(sampled.get(Oracle.HARMLESS)).isCloseTo(corpus.get("true_harmless"),
                    org.assertj.core.api.Assertions.within(0.15));
            assertThat(sampled.get(Oracle.REWARD)).isGreaterThan(0.3);
        }
    }

    @Test
    void scorersCorrelateWithTheOracleOnFreshData() {
        Path tok = registry.open(ModelNames.TOKENIZER, 0).resolve("tokenizer.json");
        List<TrainedScorer.Labelled> fresh = Bootstrap.scorerData(1500, 999);
        Map<String, Double> lowerBound = Map.of(Oracle.REWARD, 0.7, Oracle.HARMLESS, 0.9, Oracle.HUMOUR, 0.8);
        try (WordTokenizer t = WordTokenizer.load(tok)) {
            for (String name : Bootstrap.SCORERS) {
                try (Scorer s = TrainedScorer.load(registry.open(name, 0), t, Device.cpu())) {
                    double r = Bootstrap.pearson(s, Bootstrap.relabel(fresh, name));
                    assertThat(r).as(name).isGreaterThan(lowerBound.get(name));
                }
            }
        }
    }

    @Test
    void aSecondRunRecognisesTheRegistryAndDoesNotRetrain() {
        Bootstrap.Result again = Bootstrap.run(new Bootstrap.Options(dir.resolve("a"), 7, ModelSize.TINY, Device.cpu(), false),
                Progress.NONE);
        assertThat(again.reused()).isTrue();
        for (String n : Bootstrap.ALL) {
            assertThat(again.manifests().get(n)).isEqualTo(result.manifests().get(n));
        }
        assertThatThrownBy(() -> Bootstrap.run(new Bootstrap.Options(dir.resolve("a"), 8, ModelSize.TINY, Device.cpu(), false),
                Progress.NONE)).hasMessageContaining("--force");
    }

    @Test
    void sameSeedGivesTheSameChecksums() {
        Bootstrap.Result b = Bootstrap.run(new Bootstrap.Options(dir.resolve("b"), 7, ModelSize.TINY, Device.cpu(), false),
                Progress.NONE);
        for (String n : Bootstrap.ALL) {
            List<Manifest.FileEntry> x = result.manifests().get(n).files();
            List<Manifest.FileEntry> y = b.manifests().get(n).files();
            assertThat(y).as(n).isEqualTo(x);
        }
    }

    @Test
    void aDamagedBootstrapIsRefusedNotReused() throws IOException {
        Path copy = dir.resolve("damaged");
        dev.dualign.world.testing.TestModels.copyTree(dir.resolve("a"), copy);
        Path params = copy.resolve("reward/0/scorer.params");
        byte[] bytes = Files.readAllBytes(params);
        bytes[bytes.length / 2] ^= 1;
        Files.write(params, bytes);
        assertThatThrownBy(() -> Bootstrap.run(new Bootstrap.Options(copy, 7, ModelSize.TINY, Device.cpu(), false), Progress.NONE))
                .isInstanceOf(RegistryException.class).hasMessageContaining("scorer.params").hasMessageContaining("altered");
    }

    @Test
    void generateAndScoreInALoopLeakNoNativeArrays() throws Exception {
        Path tok = registry.open(ModelNames.TOKENIZER, 0).resolve("tokenizer.json");
        try (WordTokenizer t = WordTokenizer.load(tok);
                PolicyLm lm = PolicyLm.load(registry.open(ModelNames.POLICY, 0), Device.cpu());
                Scorer s = TrainedScorer.load(registry.open(Oracle.HARMLESS, 0), t, Device.cpu())) {
            BaseNDManager lmManager = (BaseNDManager) lm.model().getNDManager();
            SplittableRandom rnd = new SplittableRandom(1);
            int before = -1;
            for (int iter = 0; iter < 60; iter++) {
                List<int[]> ids = new ArrayList<>();
                List<String> texts = new ArrayList<>();
                for (int i = 0; i < 32; i++) {
                    String p = World.prompt(rnd).text();
                    texts.add(p);
                    ids.add(t.encode(p));
                }
                List<Generation> gens = lm.generate(ids, new Sampling(1.0, 0.95, 24, iter), lm);
                List<Scorer.PromptResponse> pairs = new ArrayList<>();
                for (int i = 0; i < gens.size(); i++) {
                    pairs.add(new Scorer.PromptResponse(texts.get(i), t.decode(gens.get(i).tokens())));
                }
                assertThat(s.score(pairs)).hasSize(32);
                if (iter == 10) {
                    before = lmManager.getManagedArrays().size();
                }
            }
            // every NDArray a call made was closed with its sub-manager: the exact form of "no
            // native growth". Resident memory over time is the soak benchmark's figure
            // (docs/benchmarks.md): over a minute-long test window it is dominated by heap and
            // allocator warm-up, too noisy to assert on.
            assertThat(before).isPositive();
            assertThat(lmManager.getManagedArrays().size()).isEqualTo(before);
        }
    }
}
