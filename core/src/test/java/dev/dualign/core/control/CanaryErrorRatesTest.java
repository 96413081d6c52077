package dev.dualign.core.control;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dualign.core.control.CanaryErrorRates.Bound;
import dev.dualign.core.control.CanaryErrorRates.Rates;
import dev.dualign.core.control.CanaryErrorRates.Scores;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The canary judge looks every 25 samples: only an anytime-valid bound keeps its error rate. */
class CanaryErrorRatesTest {
    static final int RUNS = 1000;

    static Rates atMargin(Bound b) {
        // a version exactly at the margin: a promotion and a rollback are both wrong
        return CanaryErrorRates.simulate(b, Scores.BERNOULLI, 0.5, 0.5, RUNS, 25, 3000, 200, 0.95, 0, 1, 7);
    }

    @Test
    void aFixedNIntervalLookedAtEvery25SamplesPromotesFarMoreOftenThanItsLevel() {
        Rates r = atMargin(Bound.NORMAL);
        // nominal 2.5 % each way; repeated looks inflate it several-fold
        assertThat(r.promoteRate()).isGreaterThan(0.06);
        assertThat(r.rollbackRate()).isGreaterThan(0.06);
    }

    @ParameterizedTest
    @EnumSource(value = Bound.class, names = {"STITCHED", "BETTING"})
    void theAnytimeValidBoundsKeepBothErrorRatesWithinTheirLevel(Bound b) {
        Rates r = atMargin(b);
        // 2.5 % each way, plus three standard errors of a 1,000-run estimate
        assertThat(r.promoteRate()).isLessThanOrEqualTo(0.025 + 3 * Math.sqrt(0.025 * 0.975 / RUNS));
        assertThat(r.rollbackRate()).isLessThanOrEqualTo(0.025 + 3 * Math.sqrt(0.025 * 0.975 / RUNS));
    }

    @ParameterizedTest
    @EnumSource(value = Bound.class, names = {"STITCHED", "BETTING"})
    void theAnytimeValidBoundsStillDecideAClearlyCompliantOrViolatingVersion(Bound b) {
        Rates good = CanaryErrorRates.simulate(b, Scores.UNIFORM, 0.6, 0.5, 200, 25, 3000, 200, 0.95, -1, 1, 3);
        Rates bad = CanaryErrorRates.simulate(b, Scores.UNIFORM, 0.4, 0.5, 200, 25, 3000, 200, 0.95, -1, 1, 4);
        assertThat(good.promoteRate()).isGreaterThan(0.95);
        assertThat(good.rolledBack()).isZero();
        assertThat(bad.rollbackRate()).isGreaterThan(0.95);
        assertThat(bad.promoted()).isZero();
    }

    @Test
    void theBettingSequenceDecidesAVersionNearTheMarginInFewerSamplesThanTheStitchedOne() {
        // 0.05 above the margin, the case the demo's canaries meet (decision 21)
        Rates stitched = CanaryErrorRates.simulate(Bound.STITCHED, Scores.UNIFORM, 0.55, 0.5, 200, 25, 3000, 200, 0.95, -1, 1, 5);
        Rates betting = CanaryErrorRates.simulate(Bound.BETTING, Scores.UNIFORM, 0.55, 0.5, 200, 25, 3000, 200, 0.95, -1, 1, 5);
        assertThat(betting.promoteRate()).isGreaterThan(0.95);
        assertThat(betting.meanSamplesToDecision()).isLessThan(0.75 * stitched.meanSamplesToDecision());
    }
}
