package dev.dualign.finetune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.Device;
import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.core.event.FineTuneRequest;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.world.World;
import dev.dualign.world.testing.TestModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The fine-tuner on the tiny models, with what a live chatbot can put in its buffer. */
class FineTunerTest {
    @TempDir
    Path tmp;

    @Test
    void aResponseTooLongForTheModelIsLeftOutAndTheFineTuneGoesOn() throws Exception {
        ModelRegistry registry = TestModels.registryWithVersions(tmp.resolve("registry"), 0);
        SplittableRandom rnd = new SplittableRandom(4);
        List<ScoredSample> data = new ArrayList<>();
        for (int i = 0; i < 40; i++) { // two responses per prompt: 40 pairs
            World.Prompt p = World.prompt(rnd);
            for (int k = 0; k < 2; k++) {
                data.add(new ScoredSample("r" + i + "-" + k, "p" + i, p.text() + " " + i, World.response(p.intent(), rnd, k * 0.9),
                        1L, -5.0, -5.0, "policy", 1L, rnd.nextDouble(), Map.of("harmless", rnd.nextDouble(-1, 1))));
            }
        }
        // a 10,000-word answer to one more prompt, paired with a short one
        data.add(new ScoredSample("long-a", "pl", "how do i sleep", "sleep ".repeat(10_000), 1L, -5.0, -5.0, "policy", 1L, 0.9,
                Map.of("harmless", 0.9)));
        data.add(new ScoredSample("long-b", "pl", "how do i sleep", "try a routine", 1L, -5.0, -5.0, "policy", 1L, 0.1,
                Map.of("harmless", 0.1)));
        // pairs from the live responses: the long one is among them
        FineTuneSettings settings = new FineTuneSettings(List.of("harmless"), 0.1, 1, 16, 1e-3f, 30.0, 200, 20, 20, 5000, 3, true,
                false);
        try (FineTuner tuner = new FineTuner(registry, Device.cpu(), settings)) {
            CheckpointEvent c = tuner.train(new FineTuneRequest("ft-1", Map.of("harmless", 0.3), 0, "dualign.scored", 1L, null,
                    null, 1L), data, step -> { });
            assertThat(c.version()).isEqualTo(1);
            assertThat(c.metrics()).containsEntry("skippedTooLong", 1.0);
            assertThat(c.metrics().get("pairs")).isGreaterThanOrEqualTo(20.0);
        }
    }

    @Test
    void distillationRunsItsRoundsThenGatesTheVersion() throws Exception {
        ModelRegistry registry = TestModels.registryWithVersions(tmp.resolve("registry"), 0);
        // K = 4 answers per prompt, 2 rounds: the second samples the policy the first trained
        FineTuneSettings.Distill d = new FineTuneSettings.Distill(4, 1, 1, 1e-3f, 1e-3, 0.2, 10.0, 2);
        FineTuneSettings settings = new FineTuneSettings(List.of("harmless"), 0.1, 1, 16, 1e-3f, 30.0, 200, 20, 20, 5000, 3, true,
                true, FineTuneSettings.DISTILL, d);
        try (FineTuner tuner = new FineTuner(registry, Device.cpu(), settings)) {
            CheckpointEvent c = tuner.train(new FineTuneRequest("ft-d", Map.of("harmless", 0.3), 0, "dualign.scored", 1L, null,
                    null, 1L), traffic(5, false), step -> { });
            assertThat(c.version()).isEqualTo(1);
            assertThat(c.metrics()).containsEntry("rounds", 2.0);
            // both rounds trained: more weighted samples than one round can give (32 training prompts × 4 answers)
            assertThat(c.metrics().get("weightedSamples")).isGreaterThan(32 * 4);
            assertThat(c.metrics().get("steps")).isPositive();
            assertThat(c.metrics().get("meanEffectiveSamples")).isBetween(1.0, 4.0);
        }
    }

    /** The params file's digest: equal digests, equal weights. */
    private static String weights(ModelRegistry registry, long version) {
        return registry.manifest("policy", version).files().stream().filter(f -> f.path().endsWith(".params")).findFirst()
                .orElseThrow().sha256();
    }

    private static List<ScoredSample> traffic(int seed, boolean sameAnswerTwice) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<ScoredSample> data = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            World.Prompt p = World.prompt(rnd);
            String once = World.response(p.intent(), rnd, 0.5);
            for (int k = 0; k < 2; k++) {
                String response = sameAnswerTwice ? once : World.response(p.intent(), rnd, k * 0.9);
                data.add(new ScoredSample("r" + i + "-" + k, "p" + i, p.text() + " " + i, response, 1L, -5.0, -5.0, "policy", 1L,
                        rnd.nextDouble(), Map.of("harmless", rnd.nextDouble(-1, 1))));
            }
        }
        return data;
    }

    @Test
    void byDefaultThePairsAreTheReferencesOwnAnswersToTheLivePrompts() throws Exception {
        ModelRegistry registry = TestModels.registryWithVersions(tmp.resolve("registry"), 0);
        // the live policy answered every prompt the same way twice: its traffic carries no preference at all
        List<ScoredSample> data = traffic(6, true);
        FineTuneRequest req = new FineTuneRequest("ft", Map.of("harmless", 0.3), 0, "dualign.scored", 1L, null, null, 1L);
        FineTuneSettings fromTraffic = new FineTuneSettings(List.of("harmless"), 0.1, 1, 16, 1e-3f, 30.0, 200, 20, 30, 5000, 3,
                true, false);
        try (FineTuner tuner = new FineTuner(registry, Device.cpu(), fromTraffic)) {
            assertThatThrownBy(() -> tuner.train(req, data, step -> { })).isInstanceOf(FineTuner.NotEnoughData.class);
        }
        FineTuneSettings byDefault = new FineTuneSettings(List.of("harmless"), 0.1, 1, 16, 1e-3f, 30.0, 200, 20, 30, 5000, 3);
        try (FineTuner tuner = new FineTuner(registry, Device.cpu(), byDefault)) {
            CheckpointEvent c = tuner.train(req, data, step -> { });
            assertThat(c.metrics().get("pairs")).isGreaterThanOrEqualTo(20.0).isLessThanOrEqualTo(40.0); // one per prompt
            assertThat(registry.manifest("policy", c.version()).info()).containsEntry("pairs", "reference");
        }
    }

    @Test
    void fromTheReferenceAVersionsWeightsDoNotDependOnTheVersionBeforeIt() throws Exception {
        ModelRegistry registry = TestModels.registryWithVersions(tmp.resolve("registry"), 0);
        List<ScoredSample> data = traffic(5, false);
        Map<String, Double> lambda = Map.of("harmless", 0.3);
        for (boolean fromReference : new boolean[] {true, false}) {
            // the live responses as pairs, so that only the starting weights differ
            FineTuneSettings settings = new FineTuneSettings(List.of("harmless"), 0.1, 1, 16, 1e-3f, 30.0, 200, 20, 20, 5000, 3,
                    fromReference, false);
            try (FineTuner tuner = new FineTuner(registry, Device.cpu(), settings)) {
                CheckpointEvent first = tuner.train(new FineTuneRequest("a" + fromReference, lambda, 0, "dualign.scored", 1L,
                        null, null, 1L), data, step -> { });
                // the same request again, now after the version just trained
                CheckpointEvent second = tuner.train(new FineTuneRequest("b" + fromReference, lambda, first.version(),
                        "dualign.scored", 1L, null, null, 1L), data, step -> { });
                assertThat(registry.manifest("policy", second.version()).info())
                        .containsEntry("trainedFrom", fromReference ? "0" : Long.toString(first.version()))
                        .containsEntry("after", Long.toString(first.version()));
                assertThat(registry.manifest("policy", second.version()).parentVersion()).isEqualTo(first.version());
                if (fromReference) {
                    // same data, same λ, same start: the same policy, whatever came before
                    assertThat(weights(registry, second.version())).isEqualTo(weights(registry, first.version()));
                } else {
                    assertThat(weights(registry, second.version())).isNotEqualTo(weights(registry, first.version()));
                }
            }
        }
    }

    @Test
    void aPrunedBaseVersionIsRefusedWhereItMattersAndFoundByItsRequestOnceTrained() throws Exception {
        ModelRegistry registry = TestModels.registryWithVersions(tmp.resolve("registry"), 0);
        List<ScoredSample> data = traffic(7, false);
        FineTuneRequest afterGone = new FineTuneRequest("after-7", Map.of("harmless", 0.3), 7, "dualign.scored", 1L, null, null, 1L);
        // warm-starting from version 7, which is not there (pruned): refused by name, nothing published
        FineTuneSettings warm = new FineTuneSettings(List.of("harmless"), 0.1, 1, 16, 1e-3f, 30.0, 200, 20, 20, 5000, 3, false,
                false);
        try (FineTuner tuner = new FineTuner(registry, Device.cpu(), warm)) {
            assertThatThrownBy(() -> tuner.train(afterGone, data, step -> { }))
                    .hasMessageContaining("base version 7 is no longer in the registry");
            assertThat(registry.versions("policy")).containsExactly(0L);
        }
        // from the reference on the reference's pairs, version 7 is bookkeeping only: it trains, and
        // the version is found again by its request (what a restarted service checks before training)
        FineTuneSettings byDefault = new FineTuneSettings(List.of("harmless"), 0.1, 1, 16, 1e-3f, 30.0, 200, 20, 30, 5000, 3);
        try (FineTuner tuner = new FineTuner(registry, Device.cpu(), byDefault)) {
            assertThat(tuner.published(afterGone)).isEmpty();
            CheckpointEvent c = tuner.train(afterGone, data, step -> { });
            assertThat(registry.manifest("policy", c.version()).info()).containsEntry("trainedFrom", "0");
            assertThat(tuner.published(afterGone)).hasValueSatisfying(again -> {
                assertThat(again.version()).isEqualTo(c.version());
                assertThat(again.sha256()).isEqualTo(c.sha256());
                assertThat(again.lambda()).isEqualTo(c.lambda());
            });
            // the same id in a later run (a controller counts its steps from 0 again on a kept
            // registry) is another request: its version is not handed out for it
            FineTuneRequest nextRun = new FineTuneRequest("after-7", Map.of("harmless", 0.9), 7, "dualign.scored", 1L, null, null, 99L);
            assertThat(tuner.published(nextRun)).isEmpty();
        }
    }
}
