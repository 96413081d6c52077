package dev.dualign.core.dual;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.LongRange;
import net.jqwik.api.constraints.Scale;
import org.junit.jupiter.api.Test;

class ProjectedSubgradientTest {
    @Test
    void shouldRaiseLambdaWhenConstraintViolated() {
        ProjectedSubgradient ps = new ProjectedSubgradient(0.5, ProjectedSubgradient.Schedule.CONSTANT, 10);
        double[] next = ps.step(new double[] {1.0}, new double[] {-0.2}, new double[] {0.1}, 1);
        assertThat(next[0]).isCloseTo(1.0 + 0.5 * 0.3, within(1e-15));
    }

    @Test
    void shouldLowerLambdaTowardZeroWhenConstraintSlack() {
        ProjectedSubgradient ps = new ProjectedSubgradient(1.0, ProjectedSubgradient.Schedule.CONSTANT, 10);
        assertThat(ps.step(new double[] {0.2}, new double[] {0.9}, new double[] {0.1}, 1)[0]).isZero();
    }

    @Test
    void shouldShrinkStepAsInverseSqrt() {
        ProjectedSubgradient ps = new ProjectedSubgradient(1.0, ProjectedSubgradient.Schedule.INVERSE_SQRT, 10);
        assertThat(ps.eta(4)).isCloseTo(0.5, within(1e-15));
        double[] next = ps.step(new double[] {1.0}, new double[] {0.0}, new double[] {1.0}, 4);
        assertThat(next[0]).isCloseTo(1.5, within(1e-15));
    }

    @Test
    void shouldClampAtLambdaMax() {
        ProjectedSubgradient ps = new ProjectedSubgradient(100, ProjectedSubgradient.Schedule.CONSTANT, 3);
        assertThat(ps.step(new double[] {1.0}, new double[] {-1}, new double[] {1}, 1)[0]).isEqualTo(3);
    }

    @Test
    void shouldRefuseNonFiniteEstimates() {
        ProjectedSubgradient ps = new ProjectedSubgradient(1, ProjectedSubgradient.Schedule.CONSTANT, 3);
        assertThatThrownBy(() -> ps.step(new double[] {1}, new double[] {Double.NaN}, new double[] {0}, 1))
                .hasMessageContaining("non-finite");
        assertThatThrownBy(() -> ps.step(new double[] {1}, new double[] {Double.NEGATIVE_INFINITY}, new double[] {0}, 1))
                .hasMessageContaining("non-finite");
    }

    @Property
    void lambdaIsNeverNegativeNorNaNNorAboveMax(
            @ForAll @DoubleRange(min = 0, max = 1e6) double lambda,
            @ForAll @DoubleRange(min = -1e300, max = 1e300) double estimate,
            @ForAll @DoubleRange(min = -1e3, max = 1e3) double margin,
            @ForAll @DoubleRange(min = 1e-6, max = 1e6) @Scale(7) double eta,
            @ForAll @LongRange(min = 1, max = 1_000_000) long t) {
        ProjectedSubgradient ps = new ProjectedSubgradient(eta, ProjectedSubgradient.Schedule.INVERSE_SQRT, 50);
        double next = ps.step(new double[] {Math.min(lambda, 50)}, new double[] {estimate}, new double[] {margin}, t)[0];
        assertThat(next).isNotNaN().isBetween(0.0, 50.0);
    }
}
