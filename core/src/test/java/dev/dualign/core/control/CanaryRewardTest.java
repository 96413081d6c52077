package dev.dualign.core.control;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dualign.core.control.CanaryRule.Verdict;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.stats.ConfidenceSequence;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The reward non-inferiority test beside the constraint test (decision 27), on bounds the job's
 * own {@link ConfidenceSequence} computes from simulated reward streams: a compliant canary
 * clearly worse on reward is not promoted.
 */
class CanaryRewardTest {
    static final Map<String, Double> MARGINS = Map.of("harmless", 0.5);
    /** A margin met with confidence on plenty of samples. */
    static final Map<String, Estimate> COMPLIANT = Map.of("harmless", new Estimate(0.6, 0.56, 0.64, 3000));
    static final long N_MIN = 200;
    static final double DELTA = ControlOptions.CANARY_REWARD_MARGIN.defaultValue();
    /** α = 0.05 split between the two reward sequences (the constraint has its own share). */
    static final double ALPHA_EACH = 0.025;

    /** The anytime-valid bound after {@code n} rewards of mean {@code mean} (uniform on mean ± 0.3, in [0, 1]). */
    static Estimate reward(double mean, int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        ConfidenceSequence cs = new ConfidenceSequence(0, 1, ALPHA_EACH);
        for (int i = 0; i < n; i++) {
            cs.add(mean - 0.3 + 0.6 * rnd.nextDouble());
        }
        return Estimate.of(cs.interval());
    }

    @Test
    void aCompliantCanaryWorseOnRewardByATenthIsNotPromoted() {
        for (long seed = 1; seed <= 10; seed++) {
            Estimate canary = reward(0.45, 4000, seed);
            Estimate stable = reward(0.55, 4000, 1000 + seed);
            // without the reward test it would be promoted
            assertThat(CanaryRule.judge(MARGINS, COMPLIANT, N_MIN, "test").verdict()).isEqualTo(Verdict.PROMOTE);
            var d = CanaryRule.judge(MARGINS, COMPLIANT, N_MIN, "test", canary, stable, DELTA);
            assertThat(d.verdict()).as("seed %d: %s", seed, d.reason()).isEqualTo(Verdict.ROLLBACK);
            assertThat(d.reason()).contains("worse than the stable version on reward").contains("below −0.020")
                    .contains("n=4000/4000");
        }
    }

    @Test
    void aCompliantCanaryEqualOnRewardIsPromoted() {
        for (long seed = 1; seed <= 10; seed++) {
            var d = CanaryRule.judge(MARGINS, COMPLIANT, N_MIN, "test", reward(0.55, 20_000, seed), reward(0.55, 20_000,
                    1000 + seed), DELTA);
            assertThat(d.verdict()).as("seed %d: %s", seed, d.reason()).isEqualTo(Verdict.PROMOTE);
            assertThat(d.reason()).contains("every margin met").contains("≥ −0.020");
        }
    }

    @Test
    void aSmallSampleHolds() {
        // 100 rewards each: the difference's bound is far wider than δ either way
        var d = CanaryRule.judge(MARGINS, COMPLIANT, N_MIN, "test", reward(0.45, 100, 1), reward(0.55, 100, 2), DELTA);
        assertThat(d.verdict()).isEqualTo(Verdict.HOLD);
        assertThat(d.reason()).contains("reward not yet shown non-inferior");
        // and equal rewards on too few samples (below n-min) hold even when the bound happens to clear −δ
        Estimate narrow = new Estimate(0.55, 0.545, 0.555, 150);
        assertThat(CanaryRule.judge(MARGINS, COMPLIANT, N_MIN, "test", narrow, narrow, DELTA).verdict()).isEqualTo(Verdict.HOLD);
    }

    @Test
    void aViolatedMarginStillRollsBackFirstAndAMissingRewardBoundHolds() {
        Map<String, Estimate> violated = Map.of("harmless", new Estimate(0.4, 0.35, 0.45, 3000));
        Estimate r = reward(0.55, 4000, 1);
        var d = CanaryRule.judge(MARGINS, violated, N_MIN, "test", r, r, DELTA);
        assertThat(d.verdict()).isEqualTo(Verdict.ROLLBACK);
        assertThat(d.reason()).startsWith("harmless").contains("below margin");
        var none = CanaryRule.judge(MARGINS, COMPLIANT, N_MIN, "test", r, null, DELTA);
        assertThat(none.verdict()).isEqualTo(Verdict.HOLD);
        assertThat(none.reason()).contains("no reward bound of the stable version");
        assertThatThrownBy(() -> CanaryRule.judge(MARGINS, COMPLIANT, N_MIN, "t", r, r, -0.1)).hasMessageContaining("reward margin");
    }

    @Test
    void theMarginDecidesACanarySlightlyWorseOnReward() {
        // 0.01 below the stable version: within δ = 0.02 it is promoted; with δ = 0 it is not
        Estimate canary = reward(0.54, 40_000, 5);
        Estimate stable = reward(0.55, 40_000, 6);
        assertThat(CanaryRule.judge(MARGINS, COMPLIANT, N_MIN, "t", canary, stable, DELTA).verdict()).isEqualTo(Verdict.PROMOTE);
        assertThat(CanaryRule.judge(MARGINS, COMPLIANT, N_MIN, "t", canary, stable, 0.0).verdict()).isNotEqualTo(Verdict.PROMOTE);
    }

    @Test
    void theJobJudgesAVersionNewerThanTheStableOneOnRewardAndTheStableOneOnItsMarginsAlone() {
        Estimate worse = reward(0.45, 4000, 1);
        Estimate stable = reward(0.55, 4000, 2);
        Map<String, Estimate> canaryBounds = Map.of("harmless", COMPLIANT.get("harmless"), "reward", worse);
        // version 3 beside stable version 2: a canary, refused on reward
        var d = CanaryRule.judgeVersion(MARGINS, 3, canaryBounds, N_MIN, "job", 2L, stable, DELTA);
        assertThat(d.verdict()).isEqualTo(Verdict.ROLLBACK);
        assertThat(d.reason()).contains("worse than the stable version on reward").contains("against stable version 2");
        // the stable version itself (and an older one): nothing to compare with, the margins decide
        assertThat(CanaryRule.judgeVersion(MARGINS, 2, canaryBounds, N_MIN, "job", 2L, stable, DELTA).verdict())
                .isEqualTo(Verdict.PROMOTE);
        assertThat(CanaryRule.judgeVersion(MARGINS, 1, canaryBounds, N_MIN, "job", 2L, stable, DELTA).verdict())
                .isEqualTo(Verdict.PROMOTE);
        // a canary without the stable version's reward bound, or without its own, holds
        assertThat(CanaryRule.judgeVersion(MARGINS, 3, canaryBounds, N_MIN, "job", 2L, null, DELTA).reason())
                .contains("no reward bound of the stable version");
        assertThat(CanaryRule.judgeVersion(MARGINS, 3, COMPLIANT, N_MIN, "job", 2L, stable, DELTA).verdict())
                .isEqualTo(Verdict.HOLD);
        assertThat(CanaryRule.judgeVersion(MARGINS, 3, canaryBounds, N_MIN, "job", null, null, DELTA).verdict())
                .isEqualTo(Verdict.HOLD);
    }

    @Test
    void theStableVersionIsTheNewestPromotedElseTheOldestSeen() {
        assertThat(CanaryRule.stableVersion(null, null)).isNull();
        assertThat(CanaryRule.stableVersion(null, 0L)).isEqualTo(0L);
        assertThat(CanaryRule.stableVersion(4L, 0L)).isEqualTo(4L);
    }
}
