package dev.dualign.core.stats;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class StitchedConfidenceSequenceTest {
    @Test
    void coversTheMeanAtEveryLookAtOnce() {
        SplittableRandom rnd = new SplittableRandom(11);
        int runs = 400;
        int missedSomewhere = 0;
        for (int r = 0; r < runs; r++) {
            StitchedConfidenceSequence cs = new StitchedConfidenceSequence(-1, 1);
            boolean missed = false;
            for (int n = 1; n <= 2000; n++) {
                cs.add(rnd.nextDouble() < 0.3 ? 1 : -1); // mean −0.4
                Interval i = cs.interval(0.05);
                if (n % 10 == 0 && (i.lo() > -0.4 || i.hi() < -0.4)) {
                    missed = true;
                }
            }
            missedSomewhere += missed ? 1 : 0;
        }
        // P(miss at any n) ≤ 5 %, plus three standard errors
        assertThat((double) missedSomewhere / runs).isLessThanOrEqualTo(0.05 + 3 * Math.sqrt(0.05 * 0.95 / runs));
    }

    @Test
    void clipsAndCountsObservationsOutsideTheRangeAndRestoresFromItsState() {
        StitchedConfidenceSequence cs = new StitchedConfidenceSequence(0, 1);
        assertThat(cs.add(1.7)).isTrue();
        assertThat(cs.add(-3)).isTrue();
        assertThat(cs.add(0.4)).isFalse();
        assertThat(cs.clipped()).isEqualTo(2);
        assertThat(cs.mean()).isCloseTo((1 + 0 + 0.4) / 3, within(1e-12));
        double[] st = cs.state();
        StitchedConfidenceSequence back = StitchedConfidenceSequence.restore(0, 1, st[0], st[1], st[2]);
        assertThat(back.interval(0.05)).isEqualTo(cs.interval(0.05));
        assertThatThrownBy(() -> cs.add(Double.NaN)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void itsPredictableCentreMakesItTighterThanTheFixedCentreBoundOffCentre() {
        SplittableRandom rnd = new SplittableRandom(5);
        StitchedConfidenceSequence cs = new StitchedConfidenceSequence(-1, 1);
        RunningStats s = new RunningStats();
        for (int n = 0; n < 2000; n++) {
            double x = 0.6 + 0.4 * (rnd.nextDouble() - 0.5);
            cs.add(x);
            s.add(x);
        }
        assertThat(cs.interval(0.05).halfWidth())
                .isLessThan(ConfidenceBounds.empiricalBernstein(s, 0.05, -1, 1, 1).halfWidth());
    }
}
