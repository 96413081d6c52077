package dev.dualign.core.control;

import static dev.dualign.core.control.TwoResponseWorld.B;
import static dev.dualign.core.control.TwoResponseWorld.BETA;
import static dev.dualign.core.control.TwoResponseWorld.G1;
import static dev.dualign.core.control.TwoResponseWorld.G2;
import static dev.dualign.core.control.TwoResponseWorld.R1;
import static dev.dualign.core.control.TwoResponseWorld.R2;
import static dev.dualign.core.control.TwoResponseWorld.expectedG;
import static dev.dualign.core.control.TwoResponseWorld.lambdaStar;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.dualign.core.dual.DualMode;
import dev.dualign.core.dual.ProjectedSubgradient.Schedule;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.event.VersionEstimate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The controller's rules without Flink, on {@link TwoResponseWorld}. */
class ControlPolicyTest {
    static ControlSettings settings(DualMode mode, double eta) {
        return new ControlSettings(mode, Map.of("harmless", B), BETA, eta, Schedule.CONSTANT, 10.0, 0.05, 100, 25, 50, 20, 2);
    }

    static VersionEstimate estimate(long version, double mean, long n, double half) {
        return new VersionEstimate(version, Map.of("harmless", new Estimate(mean, mean - half, mean + half, n)), n);
    }

    static ScoredSample sample(String prompt, String source, long version, double r, double g) {
        return new ScoredSample(null, prompt, null, null, version, -1.0, -1.0, source, 0L, r, Map.of("harmless", g));
    }

    static final ControllerState START = ControllerState.initial(1);

    @Test
    void iterativeStepsConvergeToTheClosedFormLambda() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.ITERATIVE, 0.2));
        ControllerState s = START;
        for (long v = 0; v < 200; v++) {
            Decision d = p.onEstimate(s, estimate(v, expectedG(s.lambda()[0]), 1000, 0.01));
            assertThat(d.step()).isPresent();
            s = d.state();
        }
        assertThat(s.lambda()[0]).isCloseTo(lambdaStar(), within(1e-9));
        assertThat(s.step()).isEqualTo(200);
    }

    @Test
    void shouldRaiseLambdaWhenTheConstraintIsViolatedAndLowerItWhenMet() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.ITERATIVE, 2.0));
        Decision up = p.onEstimate(START, estimate(1, 0.3, 500, 0.02));
        assertThat(up.state().lambda()[0]).isCloseTo(2.0 * (B - 0.3), within(1e-12));
        assertThat(up.step().orElseThrow().kind()).isEqualTo(DualMode.ITERATIVE);
        assertThat(up.step().orElseThrow().version()).isEqualTo(1);
        assertThat(up.state().awaiting()).isEqualTo(2);
        Decision down = p.onEstimate(up.state(), estimate(2, 0.9, 500, 0.02));
        assertThat(down.state().lambda()[0]).isZero(); // projected onto λ ≥ 0
    }

    @Test
    void iterativeWaitsForATightEstimateOfTheAwaitedVersion() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.ITERATIVE, 1.0));
        // too few samples, then too wide: no step
        assertThat(p.onEstimate(START, estimate(1, 0.6, 50, 0.01)).step()).isEmpty();
        assertThat(p.onEstimate(START, estimate(1, 0.6, 500, 0.2)).step()).isEmpty();
        Decision d = p.onEstimate(START, estimate(1, 0.6, 500, 0.04));
        assertThat(d.step()).isPresent();
        // the same version again, and an older one, never move λ
        assertThat(p.onEstimate(d.state(), estimate(1, 0.1, 900, 0.01)).step()).isEmpty();
        assertThat(p.onEstimate(d.state(), estimate(0, 0.1, 900, 0.01)).step()).isEmpty();
        assertThat(p.onEstimate(d.state(), estimate(0, 0.1, 900, 0.01)).state().lambda()).isEqualTo(d.state().lambda());
    }

    @Test
    void iterativeStepsEarlyOnAViolationShownWithConfidence() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.ITERATIVE, 1.0));
        // n = 30 < n_min, half-width 0.1 > ε, but the whole interval lies below b
        Decision d = p.onEstimate(START, estimate(3, 0.3, 30, 0.1));
        assertThat(d.step()).isPresent();
        assertThat(d.state().lambda()[0]).isCloseTo(0.2, within(1e-12));
        // below one estimate's worth of samples it waits even so
        assertThat(p.onEstimate(START, estimate(3, 0.3, 10, 0.1)).step()).isEmpty();
    }

    @Test
    void oneShotSolvesTheDualExactlyOnceEveryPromptHasItsSamples() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.ONE_SHOT, 1.0));
        List<ScoredSample> ref = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            ref.add(sample("p" + i, "reference", 0, R1, G1));
        }
        for (int i = 0; i < 19; i++) {
            ref.add(sample("p" + i, "reference", 0, R2, G2));
        }
        assertThat(p.wantsReference(START)).isTrue();
        assertThat(p.mayBeReady(39)).isFalse();
        assertThat(p.solveIfReady(START, ref)).isEmpty(); // prompt p19 has one sample of two
        ref.add(sample("p19", "reference", 0, R2, G2));
        assertThat(p.mayBeReady(40)).isTrue();
        Decision d = p.solveIfReady(START, ref).orElseThrow();
        assertThat(d.state().lambda()[0]).isCloseTo(lambdaStar(), within(1e-6));
        assertThat(d.state().oneShotDone()).isTrue();
        assertThat(p.wantsReference(d.state())).isFalse();
        DualStep step = d.step().orElseThrow();
        assertThat(step.kind()).isEqualTo(DualMode.ONE_SHOT);
        assertThat(step.step()).isZero();
        assertThat(step.evidence().get("harmless").mean()).isCloseTo(B, within(1e-6));
    }

    @Test
    void anInfeasibleOneShotProblemIsReportedNotAHugeLambda() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.ONE_SHOT, 1.0));
        List<ScoredSample> ref = new ArrayList<>();
        for (int i = 0; i < 20; i++) { // no response reaches the margin 0.5
            ref.add(sample("p" + i, "reference", 0, R1, 0.1));
            ref.add(sample("p" + i, "reference", 0, R2, 0.2));
        }
        Decision d = p.solveIfReady(START, ref).orElseThrow();
        assertThat(d.step()).isEmpty();
        assertThat(d.warning()).isPresent();
        assertThat(d.state().oneShotDone()).isTrue();
        assertThat(d.state().lambda()).containsExactly(0.0);
    }

    @Test
    void primalDualStepsOnTheMeanOfEveryMiniBatch() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.PRIMAL_DUAL, 1.0));
        ControllerState s = START;
        int steps = 0;
        for (int i = 0; i < 100; i++) {
            Decision d = p.onLiveSample(s, sample("p" + i, "policy", 3, 0.5, i % 2 == 0 ? 0.2 : 0.4));
            if (d.step().isPresent()) {
                steps++;
                assertThat(d.step().get().evidence().get("harmless").mean()).isCloseTo(0.3, within(1e-12));
                assertThat(d.step().get().version()).isEqualTo(3);
                assertThat(d.state().batchCount()).isZero();
            }
            s = d.state();
        }
        assertThat(steps).isEqualTo(2); // batch of 50
        assertThat(s.lambda()[0]).isCloseTo(2 * (B - 0.3), within(1e-12));
        // estimates do not move it
        assertThat(p.onEstimate(s, estimate(3, 0.1, 900, 0.01)).step()).isEmpty();
    }

    @Test
    void monitorNeverMovesLambda() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.MONITOR, 1.0));
        assertThat(p.onEstimate(START, estimate(1, 0.1, 900, 0.01))).isEqualTo(Decision.stay(START));
        assertThat(p.onLiveSample(START, sample("p", "policy", 1, 0, 0))).isEqualTo(Decision.stay(START));
        assertThat(p.wantsReference(START)).isFalse();
    }

    @Test
    void aChangedConstraintListCarriesLambdaOverByNameNotByPosition() {
        ControllerState s = START.withLambda(new double[] {0.7}).withStep(new double[] {0.7}, 4);
        ControllerState carried = s.withConstraints(List.of("harmless"), List.of("humour", "harmless"));
        assertThat(carried.lambda()).containsExactly(0.0, 0.7);
        assertThat(carried.step()).isEqualTo(4);
        assertThat(carried.batchSums()).hasSize(2);
        assertThat(s.reconciled("harmless", List.of("harmless"))).isSameAs(s);
        assertThat(s.reconciled(null, List.of("harmless"))).isSameAs(s); // saved before names were kept, same shape
        assertThat(s.reconciled("harmless", List.of("humour", "harmless")).lambda()).containsExactly(0.0, 0.7);
    }
}
