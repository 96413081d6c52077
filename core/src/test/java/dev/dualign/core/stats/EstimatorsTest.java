package dev.dualign.core.stats;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.Scale;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

class EstimatorsTest {
    @Property
    void mergeOfTwoPartialsEqualsTheStatsOfTheConcatenation(
            @ForAll @Size(max = 60) List<@DoubleRange(min = -1e4, max = 1e4) Double> left,
            @ForAll @Size(max = 60) List<@DoubleRange(min = -1e4, max = 1e4) Double> right) {
        RunningStats a = new RunningStats();
        RunningStats b = new RunningStats();
        RunningStats all = new RunningStats();
        left.forEach(a::add);
        right.forEach(b::add);
        left.forEach(all::add);
        right.forEach(all::add);
        RunningStats merged = a.copy().merge(b);
        assertThat(merged.n()).isEqualTo(all.n());
        if (all.n() > 0) {
            assertThat(merged.mean()).isCloseTo(all.mean(), within(1e-9 * (1 + Math.abs(all.mean()))));
            assertThat(merged.m2()).isCloseTo(all.m2(), within(1e-7 * (1 + all.m2())));
            assertThat(merged.min()).isEqualTo(all.min());
            assertThat(merged.max()).isEqualTo(all.max());
        }
    }

    @Test
    void shouldComputeWelfordMomentsExactly() {
        RunningStats s = new RunningStats();
        for (double x : new double[] {2, 4, 4, 4, 5, 5, 7, 9}) {
            s.add(x);
        }
        assertThat(s.mean()).isEqualTo(5.0);
        assertThat(s.variance()).isCloseTo(32.0 / 7, within(1e-12));
        assertThatThrownBy(() -> s.add(Double.NaN)).hasMessageContaining("non-finite");
        assertThat(s.n()).isEqualTo(8);
    }

    @Test
    void normalIntervalMatchesTextbookValue() {
        RunningStats s = new RunningStats();
        for (double x : new double[] {2, 4, 4, 4, 5, 5, 7, 9}) {
            s.add(x);
        }
        Interval ci = ConfidenceBounds.normal(s, 0.05);
        double half = 1.959963984540054 * Math.sqrt(32.0 / 7 / 8);
        assertThat(ci.lo()).isCloseTo(5 - half, within(1e-6));
        assertThat(ci.hi()).isCloseTo(5 + half, within(1e-6));
        // accuracy is bounded by the erfc approximation (|error| < 1.2e-7)
        assertThat(Normal.quantile(0.975)).isCloseTo(1.959963984540054, within(1e-7));
        assertThat(Normal.quantile(0.025)).isCloseTo(-1.959963984540054, within(1e-7));
        assertThat(Normal.quantile(0.999)).isCloseTo(3.090232306167813, within(1e-6));
    }

    @Test
    void stitchedBoundaryMatchesTheAuthorsReferenceValue() {
        // confseq's own test: poly_stitching_bound(v=100, alpha=0.05, v_min=10, c=3) = 64.48755
        assertThat(ConfidenceBounds.polyStitching(100, 0.05, 10, 3, 1.4, 2)).isCloseTo(64.48755, within(1e-5));
        assertThat(ConfidenceBounds.zeta(2)).isCloseTo(Math.PI * Math.PI / 6, within(1e-10));
        assertThat(ConfidenceBounds.zeta(1.4)).isCloseTo(3.1055472779775815, within(1e-9));
    }

    @Test
    void empiricalBernsteinSequenceCoversTheMeanAtEveryTimeOnNearlyAllPaths() {
        // Anytime validity: the fraction of paths on which the sequence EVER misses μ is ≤ α.
        Random rnd = new Random(1);
        double mu = 0.3;
        double alpha = 0.1;
        int paths = 300;
        int missed = 0;
        double lastWidth = 0;
        for (int p = 0; p < paths; p++) {
            RunningStats s = new RunningStats();
            boolean miss = false;
            for (int t = 0; t < 2000; t++) {
                s.add(rnd.nextDouble() < mu ? 1 : 0);
                Interval ci = ConfidenceBounds.empiricalBernstein(s, alpha, 0, 1, 1);
                if (ci.lo() > mu || ci.hi() < mu) {
                    miss = true;
                }
                lastWidth = ci.hi() - ci.lo();
            }
            missed += miss ? 1 : 0;
        }
        assertThat((double) missed / paths).isLessThanOrEqualTo(alpha);
        // and it is informative: after 2000 Bernoulli(0.3) draws the width is well below 0.2
        assertThat(lastWidth).isLessThan(0.2);
    }

    @Test
    void empiricalBernsteinRefusesObservationsOutsideTheDeclaredRange() {
        RunningStats s = new RunningStats().add(2);
        assertThatThrownBy(() -> ConfidenceBounds.empiricalBernstein(s, 0.05, 0, 1, 1))
                .hasMessageContaining("outside");
    }
}
