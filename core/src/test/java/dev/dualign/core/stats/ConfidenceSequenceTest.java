package dev.dualign.core.stats;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;

class ConfidenceSequenceTest {
    /** The fraction of runs in which the interval missed {@code mean} at some look. */
    static double missRate(DoubleSupplier x, double mean, double lo, double hi, int runs) {
        int missedSomewhere = 0;
        for (int r = 0; r < runs; r++) {
            ConfidenceSequence cs = new ConfidenceSequence(lo, hi, 0.05);
            boolean missed = false;
            for (int n = 1; n <= 2000; n++) {
                cs.add(x.getAsDouble());
                Interval i = cs.interval();
                if (n % 10 == 0 && (i.lo() > mean || i.hi() < mean)) {
                    missed = true;
                }
            }
            missedSomewhere += missed ? 1 : 0;
        }
        return (double) missedSomewhere / runs;
    }

    @Test
    void coversTheMeanAtEveryLookAtOnce() {
        SplittableRandom rnd = new SplittableRandom(11);
        int runs = 400;
        double limit = 0.05 + 3 * Math.sqrt(0.05 * 0.95 / runs); // P(miss at any n) ≤ 5 %, plus three standard errors
        // two points at the ends of the range (the largest variance), and a narrow uniform (small variance,
        // where the bets are largest)
        assertThat(missRate(() -> rnd.nextDouble() < 0.3 ? 1 : -1, -0.4, -1, 1, runs)).isLessThanOrEqualTo(limit);
        assertThat(missRate(() -> 0.6 + 0.1 * (rnd.nextDouble() - 0.5), 0.6, -1, 1, runs)).isLessThanOrEqualTo(limit);
    }

    @Test
    void clipsAndCountsObservationsOutsideTheRangeAndRestoresFromItsState() {
        ConfidenceSequence cs = new ConfidenceSequence(0, 1, 0.05);
        assertThat(cs.add(1.7)).isTrue();
        assertThat(cs.add(-3)).isTrue();
        assertThat(cs.add(0.4)).isFalse();
        assertThat(cs.clipped()).isEqualTo(2);
        assertThat(cs.n()).isEqualTo(3);
        double[] st = cs.state();
        double[] wider = new double[st.length + 5];
        System.arraycopy(st, 0, wider, 5, st.length);
        ConfidenceSequence back = ConfidenceSequence.restore(0, 1, 0.05, wider, 5);
        assertThat(back.interval()).isEqualTo(cs.interval());
        back.add(0.2);
        cs.add(0.2);
        assertThat(back.interval()).isEqualTo(cs.interval());
        assertThatThrownBy(() -> cs.add(Double.NaN)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new ConfidenceSequence(0, 1, 1.5)).hasMessageContaining("alpha");
    }

    @Test
    void narrowsAsItLearnsAndFollowsADriftingMean() {
        SplittableRandom rnd = new SplittableRandom(3);
        ConfidenceSequence cs = new ConfidenceSequence(-1, 1, 0.05);
        for (int n = 1; n <= 3000; n++) {
            cs.add(0.55 + (rnd.nextDouble() - 0.5));
        }
        assertThat(cs.interval().halfWidth()).isLessThan(0.03);
        assertThat(cs.interval().mean()).isCloseTo(0.55, within(0.02));
        assertThat(cs.interval().lo()).isGreaterThan(0.5);
        // the scores drop for good: the interval follows them below 0.5 instead of sticking to the old mean
        for (int n = 1; n <= 12000; n++) {
            cs.add(0.2 + (rnd.nextDouble() - 0.5));
        }
        assertThat(cs.interval().hi()).isLessThan(0.5);
    }

    @Test
    void isNarrowerThanTheStitchedEmpiricalBernsteinSequence() {
        SplittableRandom rnd = new SplittableRandom(5);
        ConfidenceSequence betting = new ConfidenceSequence(-1, 1, 0.05);
        StitchedConfidenceSequence stitched = new StitchedConfidenceSequence(-1, 1);
        for (int n = 1; n <= 3000; n++) {
            double x = 0.55 + (rnd.nextDouble() - 0.5);
            betting.add(x);
            stitched.add(x);
            if (n == 500 || n == 1000 || n == 3000) {
                assertThat(betting.interval().halfWidth()).as("at n = %d", n)
                        .isLessThan(0.85 * stitched.interval(0.05).halfWidth());
            }
        }
    }
}
