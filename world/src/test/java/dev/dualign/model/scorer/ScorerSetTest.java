package dev.dualign.model.scorer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.world.World;
import dev.dualign.world.testing.TestModels;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

public class ScorerSetTest {
    public static List<Scorer.PromptResponse> pairs(int n) {
        SplittableRandom rnd = new SplittableRandom(3);
        List<Scorer.PromptResponse> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            World.Prompt p = World.prompt(rnd);
            out.add(new Scorer.PromptResponse(p.text(), World.mixedResponse(p.intent(), rnd)));
        }
        return out;
    }

    /** Scores of {@code pairs} when they arrive shuffled, in batches of random sizes 1..rows. */
    public static double[] inRandomCompany(ScorerSet s, List<Scorer.PromptResponse> pairs, int rows, long seed) {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < pairs.size(); i++) {
            order.add(i);
        }
        Collections.shuffle(order, new Random(seed));
        Random sizes = new Random(seed + 1);
        double[] got = new double[pairs.size()];
        for (int at = 0; at < order.size(); ) {
            int n = Math.min(order.size() - at, 1 + sizes.nextInt(rows));
            List<Scorer.PromptResponse> b = new ArrayList<>();
            for (int k = 0; k < n; k++) {
                b.add(pairs.get(order.get(at + k)));
            }
            double[] out = s.score(b, rows).get("harmless");
            for (int k = 0; k < n; k++) {
                got[order.get(at + k)] = out[k];
            }
            at += n;
        }
        return got;
    }

    @Test
    void fixedShapeScoresDoNotDependOnTheBatchAResponseLandsIn() {
        try (ScorerSet s = ScorerSet.open(new ModelRegistry(TestModels.registry()), List.of("harmless"), Device.cpu())) {
            List<Scorer.PromptResponse> pairs = pairs(96);
            double[] inOrder = s.score(pairs, 16).get("harmless");
            for (long seed = 1; seed <= 3; seed++) {
                double[] shuffled = inRandomCompany(s, pairs, 16, seed);
                for (int i = 0; i < pairs.size(); i++) {
                    assertThat(Double.doubleToLongBits(shuffled[i])).as("row %d, seed %d", i, seed)
                            .isEqualTo(Double.doubleToLongBits(inOrder[i]));
                }
            }
            // and they are the model's scores: the padding only fixes the shape
            double[] plain = s.score(pairs).get("harmless");
            for (int i = 0; i < pairs.size(); i++) {
                assertThat(inOrder[i]).isCloseTo(plain[i], within(1e-5));
            }
            // a batch longer than the shape is scored in chunks of it
            assertThat(s.score(pairs, 40).get("harmless")).hasSize(96);
            assertThat(s.score(pairs, 40).get("reward")).hasSize(96);
        }
    }
}
