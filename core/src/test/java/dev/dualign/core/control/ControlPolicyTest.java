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
import dev.dualign.core.dual.StepKind;
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
    static final long REFERENCE_TIMEOUT = 60_000;
    static final long REQUEST_TIMEOUT = 300_000;
    static final int RETRIES = 2;

    static ControlSettings settings(DualMode mode, double eta) {
        return new ControlSettings(mode, Map.of("harmless", B), BETA, eta, Schedule.CONSTANT, 10.0, 0.05, 100, 25, 50, 20, 2,
                0.25, REFERENCE_TIMEOUT, REQUEST_TIMEOUT, RETRIES);
    }

    static VersionEstimate estimate(long version, double mean, long n, double half) {
        return new VersionEstimate(version, Map.of("harmless", new Estimate(mean, mean - half, mean + half, n)),
                Map.of("harmless", new Estimate(mean, mean - half, mean + half, n)), n);
    }

    static ScoredSample sample(String prompt, String source, long version, double r, double g) {
        return new ScoredSample(null, prompt, null, null, version, -1.0, -1.0, source, 0L, r, Map.of("harmless", g));
    }

    static final ControllerState START = ControllerState.initial(1);
    /** Past λ(0) = 0: the one-shot solve (or init) has run, version 0 seen. */
    static final ControllerState STARTED = START.withOneShotDone().withSeen(0).withAwaiting(1);

    @Test
    void iterativeStepsConvergeToTheClosedFormLambda() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.ITERATIVE, 0.2));
        ControllerState s = STARTED;
        for (long v = 1; v <= 200; v++) {
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
        Decision up = p.onEstimate(STARTED, estimate(1, 0.3, 500, 0.02));
        assertThat(up.state().lambda()[0]).isCloseTo(2.0 * (B - 0.3), within(1e-12));
        assertThat(up.step().orElseThrow().kind()).isEqualTo(StepKind.ITERATIVE);
        assertThat(up.step().orElseThrow().version()).isEqualTo(1);
        assertThat(up.state().awaiting()).isEqualTo(2);
        Decision down = p.onEstimate(up.state(), estimate(2, 0.9, 500, 0.02));
        assertThat(down.state().lambda()[0]).isZero(); // projected onto λ ≥ 0
    }

    static ControlSettings newton() {
        return new ControlSettings(DualMode.ITERATIVE, Map.of("harmless", B), BETA, 2.0, Schedule.INVERSE_SQRT, 10.0, 0.05, 100,
                25, 50, 20, 2, 0.25, REFERENCE_TIMEOUT, REQUEST_TIMEOUT, RETRIES)
                .withStepRule(dev.dualign.core.dual.StepRule.NEWTON, 0.5, 2.0, 0.5);
    }

    /** dE_λ[g]/dλ of {@link TwoResponseWorld}: (g1 − g2)²·w(1 − w)/β. */
    static double slope(double lambda) {
        double w = 1 / (1 + Math.exp(-(R1 - R2 + lambda * (G1 - G2)) / BETA));
        return (G1 - G2) * (G1 - G2) * w * (1 - w) / BETA;
    }

    @Test
    void newtonStepsDivideByTheSensitivityTheOneShotSolveMeasuredAndApproachFromOneSide() {
        ControlPolicy p = ControlPolicy.of(newton());
        List<ScoredSample> ref = new ArrayList<>();
        for (int x = 0; x < 20; x++) {
            ref.add(sample("p" + x, "reference", 0, R1, G1));
            ref.add(sample("p" + x, "reference", 0, R2, G2));
        }
        ControllerState s = p.solveIfReady(START, ref).orElseThrow().state();
        double lambda0 = s.lambda()[0];
        assertThat(lambda0).isCloseTo(lambdaStar(), within(1e-6));
        assertThat(s.sensitivity()).hasSize(1);
        assertThat(s.sensitivity()[0]).isCloseTo(slope(lambda0), within(1e-9));
        // a version 0.2 below the margin: λ rises by half the Newton step
        Decision d = p.onEstimate(s.withSeen(0), estimate(1, B - 0.2, 500, 0.02));
        assertThat(d.state().lambda()[0]).isCloseTo(lambda0 + 0.5 * 0.2 / slope(lambda0), within(1e-9));
        assertThat(d.warning()).isEmpty();
        // from there, versions that realise E_λ[g] come back to the margin from above, never crossing it
        s = d.state();
        for (long v = 2; v <= 40; v++) {
            double g = expectedG(s.lambda()[0]);
            assertThat(g).as("version %d", v).isGreaterThanOrEqualTo(B - 1e-12);
            s = p.onEstimate(s, estimate(v, g, 1000, 0.01)).state();
        }
        assertThat(s.lambda()[0]).isCloseTo(lambdaStar(), within(1e-6));
    }

    @Test
    void theSubgradientStepOnTheSameWorldCrossesTheMargin() {
        // the comparison for the test above: η₀ = 2 and the slope ≈ 4 at λ*: loop gain 8/√t
        ControlPolicy p = ControlPolicy.of(newton().withStepRule(dev.dualign.core.dual.StepRule.SUBGRADIENT, 0.5, 2.0, 0.5));
        ControllerState s = STARTED.withLambda(new double[] {lambdaStar()});
        s = p.onEstimate(s, estimate(1, B - 0.2, 500, 0.02)).state();
        int crossings = 0;
        double last = B - 0.2;
        for (long v = 2; v <= 40; v++) {
            double g = expectedG(s.lambda()[0]);
            crossings += (g - B) * (last - B) < 0 ? 1 : 0;
            last = g;
            s = p.onEstimate(s, estimate(v, g, 1000, 0.01)).state();
        }
        assertThat(crossings).isGreaterThanOrEqualTo(5);
    }

    @Test
    void newtonWithoutAOneShotSolveTakesTheGainLimitedStepAndSaysSo() {
        // λ(0) from init: no sensitivity; η = gain/(0.25/β) = 0.5/2.5
        Decision d = ControlPolicy.of(newton()).onEstimate(STARTED, estimate(1, B - 0.2, 500, 0.02));
        assertThat(d.state().lambda()[0]).isCloseTo(0.2 * 0.2, within(1e-12));
        assertThat(d.warning()).hasValueSatisfying(w -> assertThat(w).contains("gain-limited").contains("no one-shot solve"));
    }

    @Test
    void iterativeWaitsForATightEstimateOfTheAwaitedVersion() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.ITERATIVE, 1.0));
        // too few samples, then too wide: no step
        assertThat(p.onEstimate(STARTED, estimate(1, 0.6, 50, 0.01)).step()).isEmpty();
        assertThat(p.onEstimate(STARTED, estimate(1, 0.6, 500, 0.2)).step()).isEmpty();
        Decision d = p.onEstimate(STARTED, estimate(1, 0.6, 500, 0.04));
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
        Decision d = p.onEstimate(STARTED, estimate(3, 0.3, 30, 0.1));
        assertThat(d.step()).isPresent();
        assertThat(d.state().lambda()[0]).isCloseTo(0.2, within(1e-12));
        // below one estimate's worth of samples it waits even so
        assertThat(p.onEstimate(STARTED, estimate(3, 0.3, 10, 0.1)).step()).isEmpty();
    }

    @Test
    void iterativeNeverStepsEarlyOnTheFixedNIntervalAlone() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.ITERATIVE, 1.0));
        // n = 30: the display interval [0.2, 0.4] lies below b, the anytime-valid bound does not
        VersionEstimate e = new VersionEstimate(3, Map.of("harmless", new Estimate(0.3, 0.2, 0.4, 30)),
                Map.of("harmless", new Estimate(0.3, 0.0, 0.65, 30)), 30);
        assertThat(p.onEstimate(STARTED, e).step()).isEmpty();
        // and with no bound at all (an estimate from before the bounds existed) it never decides early
        assertThat(p.onEstimate(STARTED, new VersionEstimate(3, e.estimates(), 30)).step()).isEmpty();
    }

    static ControlSettings relative(DualMode mode, double eta, double delta) {
        return new ControlSettings(mode, Map.of("harmless", delta), BETA, eta, Schedule.CONSTANT, 10.0, 0.05, 100, 25, 50, 20, 2,
                0.25, REFERENCE_TIMEOUT, REQUEST_TIMEOUT, RETRIES, List.of("harmless"));
    }

    @Test
    void aRelativeMarginIsMeasuredFromTheReferenceSamplesOfTheOneShotSolve() {
        ControlPolicy p = ControlPolicy.of(relative(DualMode.ITERATIVE, 1.0, 0.1));
        List<ScoredSample> ref = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            ref.add(sample("p" + i, "reference", 0, R1, G1));
            ref.add(sample("p" + i, "reference", 0, R2, G2));
        }
        Decision d = p.solveIfReady(START, ref).orElseThrow();
        double refMean = (G1 + G2) / 2;
        // λ* of the same problem with the absolute margin E_ref g + 0.1
        ControlSettings abs = new ControlSettings(DualMode.ITERATIVE, Map.of("harmless", refMean + 0.1), BETA, 1.0,
                Schedule.CONSTANT, 10.0, 0.05, 100, 25, 50, 20, 2, 0.25, REFERENCE_TIMEOUT, REQUEST_TIMEOUT, RETRIES);
        Decision same = ControlPolicy.of(abs).solveIfReady(START, ref).orElseThrow();
        assertThat(d.step().orElseThrow().lambda()[0]).isCloseTo(same.step().orElseThrow().lambda()[0], within(1e-9));
        assertThat(relative(DualMode.ITERATIVE, 1.0, 0.1).marginsFor(d.state())[0]).isCloseTo(refMean + 0.1, within(1e-12));
        // the step on version 1 moves λ against that margin
        Decision step = p.onEstimate(d.state().withSeen(0), estimate(1, refMean + 0.05, 500, 0.02));
        assertThat(step.state().lambda()[0])
                .isCloseTo(d.state().lambda()[0] + 1.0 * (refMean + 0.1 - (refMean + 0.05)), within(1e-9));
    }

    @Test
    void withoutReferenceSamplesARelativeMarginIsMeasuredOnVersionZeroAndNothingStepsBefore() {
        ControlPolicy p = ControlPolicy.of(relative(DualMode.ITERATIVE, 1.0, 0.1));
        ControllerState init = p.onDeadline(p.arm(START, 0), REFERENCE_TIMEOUT).state(); // λ(0) = init, no reference
        assertThat(init.oneShotDone()).isTrue();
        assertThat(init.referenceMeans()).isNull();
        // version 1 is tight and violating any margin near 0.4, but the margin is unknown: no step
        assertThat(p.onEstimate(init, estimate(1, 0.2, 500, 0.02)).step()).isEmpty();
        // version 0 with too few samples measures nothing; with n-min it does
        assertThat(p.onEstimate(init, estimate(0, 0.3, 50, 0.1)).state().referenceMeans()).isNull();
        ControllerState measured = p.onEstimate(init, estimate(0, 0.3, 500, 0.02)).state();
        assertThat(measured.referenceMeans()).containsExactly(0.3);
        Decision step = p.onEstimate(measured, estimate(1, 0.2, 500, 0.02));
        assertThat(step.state().lambda()[0]).isCloseTo(0.25 + 1.0 * (0.4 - 0.2), within(1e-12));
    }

    static ControlSettings oneShot(int prompts, int k) {
        return new ControlSettings(DualMode.ONE_SHOT, Map.of("harmless", 0.5), 0.1, 1.0, Schedule.CONSTANT, 20.0, 0.05, 100, 25,
                50, prompts, k, 0.0, REFERENCE_TIMEOUT, REQUEST_TIMEOUT, RETRIES);
    }

    @Test
    void oneShotRemovesTheFiniteKBiasOfLambdaWhenEveryPromptHasEnoughSamples() {
        dev.dualign.core.dual.GaussianDualWorld w = dev.dualign.core.dual.GaussianDualWorld.chatLike(0.1, 0.5);
        double sumRaw = 0;
        double sumUsed = 0;
        double sumStar = 0;
        for (int seed = 1; seed <= 6; seed++) {
            List<ScoredSample> ref = new ArrayList<>();
            double star = w.sample(200, 16, new java.util.SplittableRandom(seed),
                    (p, r, g) -> ref.add(sample(p, "reference", 0, r, g)));
            Decision d = ControlPolicy.of(oneShot(200, 16)).solveIfReady(START, ref).orElseThrow();
            dev.dualign.core.dual.DualProblem.Builder b = dev.dualign.core.dual.DualProblem.builder(0.1).constraint("harmless", 0.5);
            ref.forEach(b::add);
            sumRaw += new dev.dualign.core.dual.DualSolver().solve(b.build()).lambda()[0];
            sumUsed += d.step().orElseThrow().lambda()[0];
            sumStar += star;
            assertThat(d.warning()).hasValueSatisfying(n -> assertThat(n).contains("finite-K corrected"));
        }
        // λ̂ at K = 16 sits ≈ 0.07 above the infinite-K λ* on this world; the corrected λ(0) removes a
        // good part of that and errs on the safe side (1/K under-corrects here: λ stays above λ*)
        assertThat(sumRaw - sumStar).isGreaterThan(6 * 0.04);
        assertThat(sumUsed).isBetween(sumStar, sumRaw - 0.25 * (sumRaw - sumStar));

        // at K = 4 there is no trustworthy correction: λ̂ itself, and no note
        List<ScoredSample> few = new ArrayList<>();
        w.sample(200, 4, new java.util.SplittableRandom(9), (p, r, g) -> few.add(sample(p, "reference", 0, r, g)));
        Decision d4 = ControlPolicy.of(oneShot(200, 4)).solveIfReady(START, few).orElseThrow();
        dev.dualign.core.dual.DualProblem.Builder b4 = dev.dualign.core.dual.DualProblem.builder(0.1).constraint("harmless", 0.5);
        few.forEach(b4::add);
        assertThat(d4.step().orElseThrow().lambda()[0]).isCloseTo(new dev.dualign.core.dual.DualSolver().solve(b4.build())
                .lambda()[0], within(1e-6));
        assertThat(d4.warning()).isEmpty();
    }

    @Test
    void withHeadroomLambdaAimsAboveTheMarginWhileTheMarginsPublishedStayTheConfiguredOnes() {
        double h = 0.08;
        ControlSettings plain = settings(DualMode.ITERATIVE, 2.0);
        ControlSettings aimed = plain.withHeadroom(h);
        // a version exactly at the margin: no step without headroom, a step up by η·h with it
        assertThat(ControlPolicy.of(plain).onEstimate(STARTED, estimate(1, B, 500, 0.02)).state().lambda()[0]).isZero();
        assertThat(ControlPolicy.of(aimed).onEstimate(STARTED, estimate(1, B, 500, 0.02)).state().lambda()[0])
                .isCloseTo(2.0 * h, within(1e-12));
        // a version at margin + headroom is where λ rests
        assertThat(ControlPolicy.of(aimed).onEstimate(STARTED, estimate(1, B + h, 500, 0.02)).state().lambda()[0]).isZero();
        // the margins the canary judge receives are the configured ones
        assertThat(aimed.marginsFor(STARTED)).containsExactly(B);
        // primal-dual aims there too
        ControlSettings pd = settings(DualMode.PRIMAL_DUAL, 1.0).withHeadroom(h);
        ControllerState s = STARTED.withSeen(1);
        Decision d = null;
        for (int i = 0; i < pd.primalDualBatch(); i++) {
            d = ControlPolicy.of(pd).onLiveSample(s, sample("p" + i, "policy", 1, 0.5, B));
            s = d.state();
        }
        assertThat(d.step()).isPresent();
        assertThat(d.state().lambda()[0]).isCloseTo(1.0 * h, within(1e-12));
        // and the one-shot solve meets margin + headroom on the reference's samples
        ControlPolicy one = ControlPolicy.of(settings(DualMode.ONE_SHOT, 1.0).withHeadroom(0.05));
        List<ScoredSample> ref = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            ref.add(sample("p" + i, "reference", 0, R1, G1));
            ref.add(sample("p" + i, "reference", 0, R2, G2));
        }
        DualStep step = one.solveIfReady(START, ref).orElseThrow().step().orElseThrow();
        assertThat(step.evidence().get("harmless").mean()).isCloseTo(B + 0.05, within(1e-6));
        assertThat(step.lambda()[0]).isGreaterThan(lambdaStar());
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
        assertThat(step.kind()).isEqualTo(StepKind.ONE_SHOT);
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

    // --- #13 defect 1: λ(0) is the one-shot λ*, and version 0 never moves λ

    @Test
    void iterativeNeverStepsOnTheReferenceVersionNorBeforeLambdaZero() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.ITERATIVE, 1.0));
        // tight and violated, but the reference's own traffic
        assertThat(p.onEstimate(STARTED, estimate(0, 0.1, 5000, 0.01)).step()).isEmpty();
        // a fine-tuned version's tight estimate before λ(0) is set (no one-shot solve, no init yet)
        assertThat(p.onEstimate(START.withSeen(0), estimate(1, 0.1, 5000, 0.01)).step()).isEmpty();
    }

    @Test
    void theOneShotSolveSetsLambdaZeroResetsTheStepCounterAndAwaitsTheVersionItAsksFor() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.ITERATIVE, 1.0));
        ControllerState before = START.withSeen(0).withStep(new double[] {0.9}, 4); // e.g. λ from an earlier run
        List<ScoredSample> ref = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            ref.add(sample("p" + i, "reference", 0, R1, G1));
            ref.add(sample("p" + i, "reference", 0, R2, G2));
        }
        Decision d = p.solveIfReady(before, ref).orElseThrow();
        assertThat(d.state().step()).isZero();
        assertThat(d.state().lambda()[0]).isCloseTo(lambdaStar(), within(1e-6));
        assertThat(d.state().awaiting()).isEqualTo(1);
        assertThat(d.step().orElseThrow().kind()).isEqualTo(StepKind.ONE_SHOT);
        // the first fine-tuned version then takes step 1 from λ*
        Decision first = p.onEstimate(d.state(), estimate(1, B, 500, 0.01));
        assertThat(first.step().orElseThrow().step()).isEqualTo(1);
        assertThat(first.state().lambda()[0]).isCloseTo(lambdaStar(), within(1e-6)); // at the margin: no move
    }

    @Test
    void withoutReferenceSamplesLambdaStartsFromLambdaInitWhenTheWaitEnds() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.ITERATIVE, 1.0));
        ControllerState armed = p.arm(START.withSeen(0), 1_000);
        assertThat(armed.deadline()).isEqualTo(1_000 + REFERENCE_TIMEOUT);
        assertThat(p.arm(armed, 5_000)).isSameAs(armed); // already armed
        Decision d = p.onDeadline(armed, 1_000 + REFERENCE_TIMEOUT);
        DualStep init = d.step().orElseThrow();
        assertThat(init.kind()).isEqualTo(StepKind.INIT);
        assertThat(init.lambda()).containsExactly(0.25);
        assertThat(init.evidence()).isEmpty();
        assertThat(d.state().oneShotDone()).isTrue();
        assertThat(p.wantsReference(d.state())).isFalse();
    }

    // --- #13 defects 0 and 2: every wait ends, with a new request or an alert

    @Test
    void aRequestNoVersionAnswersIsResentThenAlertedOnce() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.ITERATIVE, 1.0));
        ControllerState s = p.arm(STARTED, 0);
        assertThat(s.deadline()).isEqualTo(REQUEST_TIMEOUT);
        long now = 0;
        for (int attempt = 1; attempt <= RETRIES; attempt++) {
            now = s.deadline();
            Decision d = p.onDeadline(s, now);
            assertThat(d.retry()).hasValueSatisfying(r -> assertThat(r.lambda()).isEqualTo(STARTED.lambda()));
            assertThat(d.retry().get().attempt()).isEqualTo(attempt);
            assertThat(d.step()).isEmpty(); // λ does not move without evidence
            s = p.arm(d.state(), now);
            assertThat(s.deadline()).isEqualTo(now + REQUEST_TIMEOUT);
        }
        Decision exhausted = p.onDeadline(s, s.deadline());
        assertThat(exhausted.retry()).isEmpty();
        assertThat(exhausted.alerts()).singleElement()
                .satisfies(a -> assertThat(a.kind()).isEqualTo(Decision.ControlAlert.Kind.NO_VERSION));
        assertThat(p.arm(exhausted.state(), s.deadline()).deadline()).isZero(); // given up: not re-armed
    }

    @Test
    void aVersionRolledBackBeforeItsEstimateIsTightLeadsToANewRequest() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.ITERATIVE, 1.0));
        ControllerState s = p.arm(STARTED, 0);
        // version 1 arrives (the request is answered: its own wait starts), then is rolled back
        // after 50 samples whose interval straddles the margin, and no more of it ever comes
        Decision seen = p.onEstimate(s, estimate(1, 0.48, 50, 0.1));
        assertThat(seen.step()).isEmpty();
        ControllerState waiting = p.arm(seen.state(), 10_000);
        assertThat(waiting.deadline()).isEqualTo(10_000 + REQUEST_TIMEOUT);
        Decision d = p.onDeadline(waiting, waiting.deadline());
        assertThat(d.retry()).isPresent(); // a new fine-tune is asked for: the loop goes on
    }

    @Test
    void aNewVersionRestartsTheWaitAndTheRetries() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.ITERATIVE, 1.0));
        ControllerState s = p.arm(STARTED, 0);
        ControllerState retried = p.onDeadline(s, REQUEST_TIMEOUT).state();
        assertThat(retried.retries()).isEqualTo(1);
        Decision v2 = p.onEstimate(p.arm(retried, REQUEST_TIMEOUT), estimate(2, 0.5, 20, 0.3));
        assertThat(v2.state().retries()).isZero();
        assertThat(v2.state().deadline()).isZero(); // re-armed from now by arm()
    }

    @Test
    void oneShotModeFineTunesOnceAndThenWaitsOnNothing() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.ONE_SHOT, 1.0));
        ControllerState done = STARTED;
        assertThat(p.arm(done, 0).deadline()).isZero();
    }

    // --- #13 defect 7: a fair primal-dual baseline

    @Test
    void primalDualStepsOnlyOnTheSteeredPolicyAndAsksForOneFineTuneAtATime() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.PRIMAL_DUAL, 1.0));
        ControllerState s = START.withSeen(2); // version 2 is the newest: the policy being steered
        for (int i = 0; i < 200; i++) { // the stable reference's traffic never counts
            Decision d = p.onLiveSample(s, sample("r" + i, "policy", 0, 0.5, 0.0));
            assertThat(d.step()).isEmpty();
            s = d.state();
        }
        assertThat(s.batchCount()).isZero();
        List<DualStep> steps = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            Decision d = p.onLiveSample(s, sample("p" + i, "policy", 2, 0.5, 0.3));
            d.step().ifPresent(steps::add);
            s = d.state();
        }
        assertThat(steps).hasSize(2); // batch of 50
        assertThat(steps.get(0).fineTune()).isTrue();
        assertThat(steps.get(1).fineTune()).isFalse(); // version 3 has not come yet
        // version 3 arrives: a fresh batch of its own, and the next step may ask again
        Decision first3 = p.onLiveSample(s, sample("q", "policy", 3, 0.5, 0.3));
        assertThat(first3.state().batchCount()).isEqualTo(1);
        s = first3.state();
        DualStep next = null;
        for (int i = 1; i < 50; i++) {
            Decision d = p.onLiveSample(s, sample("q" + i, "policy", 3, 0.5, 0.3));
            if (d.step().isPresent()) {
                next = d.step().get();
            }
            s = d.state();
        }
        assertThat(next).isNotNull();
        assertThat(next.version()).isEqualTo(3);
        assertThat(next.fineTune()).isTrue();
    }

    // --- #13 defect 6: λ_max is never silent

    @Test
    void lambdaAtLambdaMaxIsMarkedAndAlerted() {
        ControlPolicy p = ControlPolicy.of(settings(DualMode.ITERATIVE, 100.0));
        Decision d = p.onEstimate(STARTED, estimate(1, 0.1, 500, 0.01)); // 100·0.4 = 40 > λ_max 10
        assertThat(d.state().lambda()).containsExactly(10.0);
        assertThat(d.step().orElseThrow().atLambdaMax()).containsExactly("harmless");
        assertThat(d.alerts()).singleElement().satisfies(a -> {
            assertThat(a.kind()).isEqualTo(Decision.ControlAlert.Kind.LAMBDA_MAX);
            assertThat(a.constraint()).isEqualTo("harmless");
        });
        Decision below = p.onEstimate(STARTED, estimate(1, 0.45, 500, 0.01));
        assertThat(below.step().orElseThrow().atLambdaMax()).isEmpty();
        assertThat(below.alerts()).isEmpty();
    }

    /** What the job's dualInputs counter counts, so that its NoDualStep alert fires only where λ should move. */
    @Test
    void lambdaMayMoveInTheSteppingModesAndInOneShotOnlyBeforeItsSolve() {
        for (DualMode m : new DualMode[] {DualMode.ITERATIVE, DualMode.PRIMAL_DUAL, DualMode.ENFORCE}) {
            ControlPolicy p = ControlPolicy.of(settings(m, 0.2));
            assertThat(p.movesLambda(START)).as(m.key()).isTrue();
            assertThat(p.movesLambda(STARTED)).as(m.key()).isTrue();
        }
        ControlPolicy oneShot = ControlPolicy.of(settings(DualMode.ONE_SHOT, 0.2));
        assertThat(oneShot.movesLambda(START)).isTrue();
        assertThat(oneShot.movesLambda(STARTED)).isFalse();
        ControlPolicy monitor = ControlPolicy.of(settings(DualMode.MONITOR, 0.2));
        assertThat(monitor.movesLambda(START)).isFalse();
        assertThat(monitor.movesLambda(STARTED)).isFalse();
    }
}
