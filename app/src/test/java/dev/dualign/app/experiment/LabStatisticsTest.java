package dev.dualign.app.experiment;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.dualign.world.Oracle;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The experiments' statistics that are plain arithmetic: half-widths over prompts and oracle win rates. */
class LabStatisticsTest {
    @Test
    void theHalfWidthIsOverPromptMeans() {
        // prompt means 0, 1, 0, 1: sd 0.577, n = 4 → 1.96 · 0.577 / 2
        assertThat(Lab.halfWidth(new double[] {0, 1, 0, 1})).isCloseTo(1.96 * Math.sqrt(1.0 / 3) / 2, within(1e-12));
        assertThat(Lab.halfWidth(new double[] {0.3})).isNaN();
    }

    @Test
    void aPolicyAgainstItselfWinsHalfAndTheOracleDecides() {
        Lab.Sampled a = sampled(0.9, 0.1, 0.5, 0.5);
        Lab.Sampled b = sampled(0.2, 0.3, 0.5, 0.1);
        assertThat(Lab.winRate(a, a)).isEqualTo(0.5);
        // a beats b on responses 1 and 4, loses 2, ties 3: (1 + 0 + 0.5 + 1) / 4
        assertThat(Lab.winRate(a, b)).isEqualTo(2.5 / 4);
        assertThat(Lab.winRate(b, a)).isEqualTo(1.5 / 4);
    }

    @Test
    void perPromptHalfWidthsAreInTheValues() {
        Lab.Values v = Lab.values(sampled(1, 1, 0, 0), List.of(Oracle.HARMLESS));
        // two prompts, two responses each: prompt means 1 and 0
        assertThat(v.reward()).isEqualTo(0.5);
        assertThat(v.prompts()).isEqualTo(2);
        assertThat(v.rewardHalfWidth()).isCloseTo(1.96 * Math.sqrt(0.5) / Math.sqrt(2), within(1e-12));
    }

    /** Two prompts, two responses each, with these true rewards. */
    private static Lab.Sampled sampled(double... rewards) {
        Oracle.Scores[] truth = new Oracle.Scores[rewards.length];
        int[][] tokens = new int[rewards.length][];
        for (int i = 0; i < rewards.length; i++) {
            truth[i] = new Oracle.Scores(rewards[i], 0.5, 0);
            tokens[i] = new int[] {i};
        }
        double[] zeros = new double[rewards.length];
        return new Lab.Sampled(List.of(dev.dualign.world.World.prompt(new java.util.SplittableRandom(1)),
                dev.dualign.world.World.prompt(new java.util.SplittableRandom(2))), 2, new int[][] {{1}, {2}}, tokens,
                Map.of("reward", zeros, Oracle.HARMLESS, zeros), truth, zeros);
    }
}
