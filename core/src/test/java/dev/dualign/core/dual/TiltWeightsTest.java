package dev.dualign.core.dual;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class TiltWeightsTest {
    @Test
    void referenceSamplesAreWeightedBySoftmaxOfScoreOverBeta() {
        double[] w = TiltWeights.fromReference(new double[] {0.1, 0.2, 0.4}, 0.1);
        double a = Math.exp(1), b = Math.exp(2), c = Math.exp(4);
        assertThat(w[0]).isCloseTo(a / (a + b + c), within(1e-12));
        assertThat(w[1]).isCloseTo(b / (a + b + c), within(1e-12));
        assertThat(w[2]).isCloseTo(c / (a + b + c), within(1e-12));
    }

    @Test
    void hugeScoresDoNotOverflow() {
        double[] w = TiltWeights.fromReference(new double[] {1000, 1000, 990}, 0.01);
        assertThat(w[0]).isCloseTo(0.5, within(1e-12));
        assertThat(w[2]).isZero();
    }

    @Test
    void nonFiniteScoresGetNoWeightAndAllNonFiniteGiveNone() {
        double[] w = TiltWeights.fromReference(new double[] {Double.NaN, 0.3, Double.POSITIVE_INFINITY}, 0.1);
        assertThat(w).containsExactly(0, 1, 0);
        assertThat(TiltWeights.fromReference(new double[] {Double.NaN, Double.NaN}, 0.1)).containsExactly(0, 0);
        assertThat(TiltWeights.effectiveSize(new double[] {0, 0})).isZero();
    }

    @Test
    void importanceRatioUndoesTheSamplersTilt() {
        // three responses; the reference and a sampler that prefers the last one tenfold
        double[] ref = {0.5, 0.3, 0.2};
        double[] q = {0.5 / 2.8, 0.3 / 2.8, 2.0 / 2.8};
        double[] s = {0.0, 0.1, 0.2};
        double beta = 0.1;
        double[] target = new double[3]; // π_λ ∝ π_ref·exp(s/β), exactly
        double z = 0;
        for (int i = 0; i < 3; i++) {
            target[i] = ref[i] * Math.exp(s[i] / beta);
            z += target[i];
        }
        // many draws from q, weighted: the weighted frequencies converge to π_λ
        SplittableRandom rnd = new SplittableRandom(7);
        int n = 200_000;
        double[] scores = new double[n];
        double[] logRef = new double[n];
        double[] logQ = new double[n];
        int[] which = new int[n];
        for (int j = 0; j < n; j++) {
            double u = rnd.nextDouble();
            int i = u < q[0] ? 0 : u < q[0] + q[1] ? 1 : 2;
            which[j] = i;
            scores[j] = s[i];
            logRef[j] = Math.log(ref[i]);
            logQ[j] = Math.log(q[i]);
        }
        double[] w = TiltWeights.fromSampler(scores, beta, logRef, logQ);
        double[] got = new double[3];
        double[] naive = new double[3]; // without the ratio: the target would be q·exp(s/β)
        double[] wn = TiltWeights.fromReference(scores, beta);
        for (int j = 0; j < n; j++) {
            got[which[j]] += w[j];
            naive[which[j]] += wn[j];
        }
        for (int i = 0; i < 3; i++) {
            assertThat(got[i]).isCloseTo(target[i] / z, within(0.01));
        }
        assertThat(naive[2]).isGreaterThan(target[2] / z + 0.1);
    }

    @Test
    void fromTheReferenceTheRatioIsZeroAndChangesNothing() {
        double[] s = {0.3, -0.2, 0.05};
        double[] lp = {-3, -7, -1};
        assertThat(TiltWeights.fromSampler(s, 0.2, lp, lp)).containsExactly(TiltWeights.fromReference(s, 0.2));
    }

    @Test
    void effectiveSizeIsKForUniformAndOneForAPointMass() {
        assertThat(TiltWeights.effectiveSize(new double[] {0.25, 0.25, 0.25, 0.25})).isCloseTo(4, within(1e-12));
        assertThat(TiltWeights.effectiveSize(new double[] {0, 1, 0})).isCloseTo(1, within(1e-12));
    }

    @Test
    void refusesBadArguments() {
        assertThatThrownBy(() -> TiltWeights.fromReference(new double[] {1}, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> TiltWeights.fromSampler(new double[] {1, 2}, 0.1, new double[] {0}, new double[] {0, 0}))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
