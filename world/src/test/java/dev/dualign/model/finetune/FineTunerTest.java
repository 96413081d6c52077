package dev.dualign.model.finetune;

import static org.assertj.core.api.Assertions.assertThat;

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
        FineTuneSettings settings = new FineTuneSettings(List.of("harmless"), 0.1, 1, 16, 1e-3f, 30.0, 200, 20, 20, 5000, 3);
        try (FineTuner tuner = new FineTuner(registry, Device.cpu(), settings)) {
            CheckpointEvent c = tuner.train(new FineTuneRequest("ft-1", Map.of("harmless", 0.3), 0, "dualign.scored", 1L, null,
                    null, 1L), data, step -> { });
            assertThat(c.version()).isEqualTo(1);
            assertThat(c.metrics()).containsEntry("skippedTooLong", 1.0);
            assertThat(c.metrics().get("pairs")).isGreaterThanOrEqualTo(20.0);
        }
    }
}
