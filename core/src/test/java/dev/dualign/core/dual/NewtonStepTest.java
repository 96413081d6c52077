package dev.dualign.core.dual;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * The Newton dual step against the subgradient step it replaces as the default (decision 27), on
 * a linear-response plant (harmlessness = a + k·λ + noise) and on {@link GaussianDualWorld}.
 */
class NewtonStepTest {
    static final double BETA = 0.1;
    static final double LAMBDA_MAX = 20;
    /** The versions a long run of the demo makes, and the count of sign flips was over. */
    static final int STEPS = 45;
    /** Noise of a tight estimate (half-width ε = 0.05 at 95 %). */
    static final double NOISE = 0.025;
    /** A swing the loop can resolve: ε. */
    static final double DEADBAND = 0.05;
    /** The margin plus headroom λ aims at, and the harmlessness at λ = 0. */
    static final double TARGET = 0.58;
    static final double A = 0.25;
    /** How far λ(0) puts the first version from the target (the one-shot model's error). */
    static final double WARM_START_ERROR = 0.3;

    static final NewtonStep NEWTON = new NewtonStep(0.5, 2.0, 0.5, BETA, LAMBDA_MAX);

    static LinearPlant.Rule newton(double sensitivity) {
        return (l, g, b, t) -> NEWTON.step(new double[] {l}, new double[] {g}, new double[] {b}, new double[] {sensitivity})
                .lambda()[0];
    }

    static LinearPlant.Rule subgradient(double eta0) {
        ProjectedSubgradient ps = new ProjectedSubgradient(eta0, ProjectedSubgradient.Schedule.INVERSE_SQRT, LAMBDA_MAX);
        return (l, g, b, t) -> ps.step(new double[] {l}, new double[] {g}, new double[] {b}, t)[0];
    }

    @ParameterizedTest(name = "k = {0}")
    @ValueSource(doubles = {0.5, 1.17, 3.0})
    void newtonWithTheMeasuredSlopeReachesTheTargetAndStaysOnOneSide(double k) {
        LinearPlant plant = new LinearPlant(A, k, NOISE);
        for (double sign : new double[] {-1, 1}) {
            double lambda0 = plant.lambdaAt(TARGET) + sign * WARM_START_ERROR / k;
            for (long seed = 1; seed <= 20; seed++) {
                double[] e = plant.run(newton(k), lambda0, TARGET, STEPS, seed);
                // e halves each step (0.3, 0.15, 0.075, 0.0375) plus half the estimate's noise
                assertThat(LinearPlant.reached(e, DEADBAND)).as("k=%s from %+.1f, seed %d", k, sign * WARM_START_ERROR, seed)
                        .isBetween(1, 6);
                assertThat(LinearPlant.flips(e, DEADBAND)).as("k=%s seed %d", k, seed).isLessThanOrEqualTo(STEPS / 10);
            }
        }
    }

    @ParameterizedTest(name = "true slope {0} × the measured one")
    @ValueSource(doubles = {0.5, 1.5})
    void newtonToleratesASensitivityOffByHalfEitherWay(double ratio) {
        // the tilted model measures S; fine-tuning realises a slope ratio·S: the loop gain is 0.5·ratio < 1
        double k = 1.17;
        LinearPlant plant = new LinearPlant(A, k, NOISE);
        for (long seed = 1; seed <= 20; seed++) {
            double[] e = plant.run(newton(k / ratio), plant.lambdaAt(TARGET) - WARM_START_ERROR / k, TARGET, STEPS, seed);
            assertThat(LinearPlant.reached(e, DEADBAND)).as("seed %d", seed).isBetween(1, 8);
            assertThat(LinearPlant.flips(e, DEADBAND)).as("seed %d", seed).isLessThanOrEqualTo(STEPS / 10);
        }
    }

    @Test
    void theSubgradientStepWithEta2SwingsAcrossTheTargetAtTheMeasuredSlope() {
        // the comparison: η_t·k = 2·1.17/√t > 1 for t ≤ 5, so the first versions land on alternate sides
        double k = 1.17;
        LinearPlant plant = new LinearPlant(A, k, NOISE);
        int early = 0;
        for (long seed = 1; seed <= 20; seed++) {
            double[] e = plant.run(subgradient(2.0), plant.lambdaAt(TARGET) - WARM_START_ERROR / k, TARGET, STEPS, seed);
            double[] first = java.util.Arrays.copyOf(e, 5); // versions 0 … 4
            early += LinearPlant.flips(first, DEADBAND);
            assertThat(LinearPlant.flips(first, DEADBAND)).as("seed %d", seed).isGreaterThanOrEqualTo(2);
            assertThat(e[1]).as("the first step overshoots: %s", e[1]).isGreaterThan(WARM_START_ERROR);
        }
        // and Newton on the same plant and noise never swings there
        int newtonEarly = 0;
        for (long seed = 1; seed <= 20; seed++) {
            double[] e = plant.run(newton(k), plant.lambdaAt(TARGET) - WARM_START_ERROR / k, TARGET, STEPS, seed);
            newtonEarly += LinearPlant.flips(java.util.Arrays.copyOf(e, 5), DEADBAND);
        }
        assertThat(early).isGreaterThan(40);
        assertThat(newtonEarly).isZero();
    }

    @Test
    void onTheGaussianWorldTheReferenceSensitivityIsTheSlopeAndTheLoopSettlesWithoutSwinging() {
        // in this world E_{π_λ}[g] = mean μg + (ρσrσg + λσg²)/β exactly: a linear plant with k = σg²/β = 1.6
        GaussianDualWorld w = GaussianDualWorld.chatLike(BETA, TARGET);
        double k = w.sdG() * w.sdG() / BETA;
        GaussianDualWorld.Draw d = w.draw(200, 16, new SplittableRandom(3));
        DualSolution sol = new DualSolver().solve(d.problem());
        double s = DualSolver.sensitivity(d.problem(), sol.lambda())[0];
        // 16 samples per prompt under a tilt this strong (exponent sd ≈ 2.7) have an effective size of
        // a few: the measured variance is about half the infinite-K one (a finite-K bias, like λ̂'s)
        assertThat(s).as("Var_{π_λ}(g)/β on 200×16 reference samples").isBetween(0.4 * k, 0.6 * k);
        double[] more = DualSolver.sensitivity(w.draw(200, 256, new SplittableRandom(3)).problem(), sol.lambda());
        assertThat(more[0]).as("at K = 256 the bias shrinks").isBetween(s, k);
        // the version fine-tuned with λ realises the world's E_{π_λ}[g]; start it 0.3 below the target
        LinearPlant plant = new LinearPlant(w.meanG() + w.rho() * w.sdR() * w.sdG() / BETA, k, NOISE);
        for (long seed = 1; seed <= 20; seed++) {
            double[] e = plant.run(newton(s), plant.lambdaAt(TARGET) - WARM_START_ERROR / k, TARGET, STEPS, seed);
            // loop gain 0.5·k/s ≈ 1: the damping absorbs the bias, with no margin left (decision 27)
            assertThat(LinearPlant.reached(e, DEADBAND)).isBetween(1, 4);
            assertThat(LinearPlant.flips(e, DEADBAND)).isLessThanOrEqualTo(STEPS / 10);
        }
    }

    @Test
    void theStepIsMinusDampingTimesTheErrorOverTheSensitivity() {
        NewtonStep.Result r = NEWTON.step(new double[] {1.0}, new double[] {0.4}, new double[] {0.58}, new double[] {1.2});
        assertThat(r.newton()).isTrue();
        assertThat(r.lambda()[0]).isCloseTo(1.0 + 0.5 * 0.18 / 1.2, within(1e-12));
    }

    @Test
    void twoConstraintsAreSolvedTogether() {
        // S = [[2, 1], [1, 2]], u = (−0.3, 0): Δλ = −0.5·S⁻¹u = 0.5·(0.2, −0.1)
        NewtonStep.Result r = NEWTON.step(new double[] {1, 1}, new double[] {0.2, 0.5}, new double[] {0.5, 0.5},
                new double[] {2, 1, 1, 2});
        assertThat(r.lambda()[0]).isCloseTo(1.1, within(1e-12));
        assertThat(r.lambda()[1]).isCloseTo(0.95, within(1e-12));
    }

    @Test
    void aLongStepIsCappedKeepingItsDirection() {
        NewtonStep capped = new NewtonStep(1.0, 0.1, 0.5, BETA, LAMBDA_MAX);
        NewtonStep.Result r = capped.step(new double[] {1, 1}, new double[] {0.0, 0.4}, new double[] {0.5, 0.5},
                new double[] {1, 0, 0, 1});
        assertThat(r.lambda()[0]).isCloseTo(1.1, within(1e-12)); // wanted +0.5
        assertThat(r.lambda()[1]).isCloseTo(1.02, within(1e-12)); // wanted +0.1, scaled by the same 1/5
    }

    @Test
    void withoutAUsableSensitivityTheStepIsGainLimited() {
        double floor = NewtonStep.ASSUMED_VARIANCE / BETA; // 2.5: η = 0.5/2.5 = 0.2
        for (double[] s : new double[][] {null, {1e-9}, {Double.NaN}}) {
            NewtonStep.Result r = NEWTON.step(new double[] {1.0}, new double[] {0.28}, new double[] {0.58}, s);
            assertThat(r.newton()).isFalse();
            assertThat(r.lambda()[0]).isCloseTo(1.0 + 0.5 / floor * 0.3, within(1e-12));
        }
        // on any plant with slope up to the assumed one the loop gain is ≤ the configured gain: one side only
        LinearPlant plant = new LinearPlant(A, floor, 0);
        LinearPlant.Rule fallback = (l, g, b, t) -> NEWTON.step(new double[] {l}, new double[] {g}, new double[] {b}, null)
                .lambda()[0];
        double[] e = plant.run(fallback, plant.lambdaAt(TARGET) + 0.3 / floor, TARGET, 10, 1);
        for (int t = 1; t < e.length; t++) {
            assertThat(e[t]).isPositive().isCloseTo(0.5 * e[t - 1], within(1e-12));
        }
    }

    @Test
    void refusesBadInput() {
        assertThatThrownBy(() -> NEWTON.step(new double[] {1}, new double[] {Double.NaN}, new double[] {0}, new double[] {1}))
                .hasMessageContaining("non-finite");
        assertThatThrownBy(() -> NEWTON.step(new double[] {-1}, new double[] {0}, new double[] {0}, new double[] {1}))
                .hasMessageContaining("lambda");
        assertThatThrownBy(() -> new NewtonStep(0, 1, 0.5, BETA, 1)).hasMessageContaining("damping");
        assertThatThrownBy(() -> new NewtonStep(0.5, 1, 1.0, BETA, 1)).hasMessageContaining("gain");
    }

    @Property
    void lambdaStaysInItsBox(@ForAll @DoubleRange(min = 0, max = 20) double lambda,
            @ForAll @DoubleRange(min = -1e6, max = 1e6) double estimate,
            @ForAll @DoubleRange(min = 0, max = 1e6) double sensitivity) {
        double next = NEWTON.step(new double[] {lambda}, new double[] {estimate}, new double[] {0.5},
                new double[] {sensitivity}).lambda()[0];
        assertThat(next).isNotNaN().isBetween(0.0, LAMBDA_MAX);
        assertThat(Math.abs(next - lambda)).isLessThanOrEqualTo(2.0 + 1e-12);
    }
}
