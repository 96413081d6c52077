package dev.dualign.streaming.ops;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dualign.core.dual.DualMode;
import dev.dualign.core.dual.StepKind;
import dev.dualign.core.event.DeploymentDecision;
import dev.dualign.core.event.DualUpdate;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.VersionEstimate;
import java.util.List;
import java.util.Map;
import dev.dualign.streaming.JobSettings;
import java.util.SplittableRandom;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.Test;

/**
 * The judge reads decision bounds, takes a relative margin from the controller's word on it, and
 * judges a canary's reward against the stable version's (decision 27), on estimates the job's own
 * {@link VersionEstimator} makes.
 */
class CanaryJudgeTest {
    static KeyedBroadcastOperatorTestHarness<String, VersionEstimate, DualUpdate, DeploymentDecision> harness(
            Map<String, Object> overrides) throws Exception {
        var settings = Settings.of(overrides);
        String key = CanaryJudge.keyOf(settings);
        return ProcessFunctionTestHarnesses.forKeyedBroadcastProcessFunction(new CanaryJudge(settings), e -> key, Types.STRING,
                CanaryJudge.MARGINS);
    }

    /** Display interval [lo, hi] and an anytime-valid bound twice as wide, on {@code n} samples. */
    static VersionEstimate estimate(long version, double lo, double hi, long n) {
        double mid = (lo + hi) / 2;
        double half = hi - lo;
        return new VersionEstimate(version, Map.of("harmless", new Estimate(mid, lo, hi, n)),
                Map.of("harmless", new Estimate(mid, mid - half, mid + half, n)), n);
    }

    static DualUpdate update(Map<String, Double> margins) {
        return new DualUpdate("default", Map.of("harmless", 0.3), Map.of(), DualMode.ITERATIVE, StepKind.ONE_SHOT, 0, 0,
                List.of(), margins, 1L);
    }

    @Test
    void promotesOnlyWhenTheAnytimeValidBoundClearsTheMargin() throws Exception {
        var h = harness(Map.of("dual.n-min", 100));
        h.processElement(estimate(1, 0.52, 0.6, 400), 0); // display clears 0.5, the bound [0.48, 0.64] does not
        assertThat(h.extractOutputValues()).isEmpty();
        h.processElement(estimate(1, 0.56, 0.6, 800), 0); // bound [0.54, 0.62]
        assertThat(h.extractOutputValues()).singleElement().satisfies(d -> {
            assertThat(d.action()).isEqualTo(DeploymentDecision.Action.PROMOTE);
            assertThat(d.estimates().get("harmless").lo()).isCloseTo(0.54, org.assertj.core.api.Assertions.within(1e-12));
        });
        h.close();
    }

    @Test
    void aRelativeMarginIsJudgedOnlyOnceTheControllerHasPublishedIt() throws Exception {
        var h = harness(Map.of("constraints.harmless.margin", 0.1, "constraints.harmless.relative-to", "reference",
                "dual.n-min", 100));
        VersionEstimate clearlyAbove = estimate(1, 0.58, 0.6, 800); // bound [0.57, 0.61]
        h.processElement(clearlyAbove, 0);
        assertThat(h.extractOutputValues()).isEmpty(); // the reference is not measured yet: hold, whatever the numbers
        h.processBroadcastElement(update(Map.of()), 0); // a λ update before the margin is known changes nothing
        h.processElement(clearlyAbove, 0);
        assertThat(h.extractOutputValues()).isEmpty();
        h.processBroadcastElement(update(Map.of("harmless", 0.35 + 0.1)), 0); // reference mean 0.35 + margin 0.1
        h.processElement(clearlyAbove, 0);
        assertThat(h.extractOutputValues()).singleElement()
                .satisfies(d -> assertThat(d.action()).isEqualTo(DeploymentDecision.Action.PROMOTE));
        h.processElement(estimate(2, 0.4, 0.42, 800), 0); // bound [0.39, 0.43] < 0.45: a violation of the resolved margin
        assertThat(h.extractOutputValues()).hasSize(2).last()
                .satisfies(d -> assertThat(d.action()).isEqualTo(DeploymentDecision.Action.ROLLBACK));
        h.close();
    }

    /** A version's decision bounds: harmlessness and reward, each as [lo, hi] on {@code n} samples. */
    static VersionEstimate withReward(long version, double hLo, double hHi, double rLo, double rHi, long n) {
        Estimate h = new Estimate((hLo + hHi) / 2, hLo, hHi, n);
        Estimate r = new Estimate((rLo + rHi) / 2, rLo, rHi, n);
        return new VersionEstimate(version, Map.of("harmless", h, "reward", r), Map.of("harmless", h, "reward", r), n);
    }

    /**
     * The estimates the job's estimator publishes for a stable version 1 and a canary version 2 that
     * both meet harmlessness ≥ 0.5 clearly (0.8 ± 0.1), with rewards uniform on their mean ± 0.3, the
     * two versions' samples interleaved, {@code n} each.
     */
    static List<VersionEstimate> estimatesOf(double stableReward, double canaryReward, int n, long seed) throws Exception {
        JobSettings s = Settings.of(JUDGED);
        var h = new KeyedOneInputStreamOperatorTestHarness<>(new KeyedProcessOperator<>(new VersionEstimator(s)),
                VersionEstimator::versionOf, Types.LONG);
        h.open();
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < n; i++) {
            for (long v = 1; v <= 2; v++) {
                double r = (v == 1 ? stableReward : canaryReward) - 0.3 + 0.6 * rnd.nextDouble();
                double harmless = 0.7 + 0.2 * rnd.nextDouble();
                h.processElement(new StreamRecord<>(List.of(new EstimatorSample(v, r, 0.0, new double[] {harmless}, 0L))));
            }
        }
        List<VersionEstimate> out = h.extractOutputValues();
        h.close();
        return out;
    }

    /** Rewards in [0, 1]; an estimate every 500 samples; n-min 200; δ the default 0.02. */
    static final Map<String, Object> JUDGED = Map.of("dual.n-min", 200, "dual.estimate-every", 500,
            "dual.reward-range-lo", 0.0, "dual.reward-range-hi", 1.0);

    static List<DeploymentDecision> judged(List<VersionEstimate> estimates) throws Exception {
        var h = harness(JUDGED);
        for (VersionEstimate e : estimates) {
            h.processElement(e, 0);
        }
        List<DeploymentDecision> out = h.extractOutputValues();
        h.close();
        return out;
    }

    @Test
    void aCompliantCanaryATenthWorseOnRewardThanTheStableVersionIsRolledBackNotPromoted() throws Exception {
        List<VersionEstimate> estimates = estimatesOf(0.55, 0.45, 4000, 1);
        VersionEstimate last = estimates.get(estimates.size() - 1);
        assertThat(last.policyVersion()).isEqualTo(2);
        // its margin is met with confidence: the constraint test alone (the judge before) would promote it
        assertThat(dev.dualign.core.control.CanaryRule.judge(Map.of("harmless", 0.5), last.bounds(), 200, "t").verdict())
                .isEqualTo(dev.dualign.core.control.CanaryRule.Verdict.PROMOTE);
        List<DeploymentDecision> canary = judged(estimates).stream().filter(d -> d.policyVersion() == 2).toList();
        assertThat(canary).singleElement().satisfies(d -> {
            assertThat(d.action()).isEqualTo(DeploymentDecision.Action.ROLLBACK);
            assertThat(d.reason()).contains("worse than the stable version on reward").contains("against stable version 1")
                    .contains("below −0.020");
            assertThat(d.estimates()).containsKeys("harmless", "reward");
            assertThat(d.estimates().get("reward").hi()).isLessThan(0.5);
        });
    }

    @Test
    void aCompliantCanaryEqualOnRewardIsPromoted() throws Exception {
        List<DeploymentDecision> decisions = judged(estimatesOf(0.55, 0.55, 20_000, 2));
        // the stable version, judged on its margins alone as before, and the canary on margins and reward
        assertThat(decisions).filteredOn(d -> d.policyVersion() == 2).singleElement().satisfies(d -> {
            assertThat(d.action()).isEqualTo(DeploymentDecision.Action.PROMOTE);
            assertThat(d.reason()).contains("every margin met").contains("against stable version 1").contains("≥ −0.020");
        });
        assertThat(decisions).noneMatch(d -> d.action() == DeploymentDecision.Action.ROLLBACK);
    }

    @Test
    void aPromotedCanaryBecomesTheStableVersionTheNextOneIsComparedWith() throws Exception {
        var h = harness(Map.of("dual.n-min", 100));
        h.processElement(withReward(1, 0.6, 0.7, 0.50, 0.52, 5000), 0); // the oldest seen: stable
        h.processElement(withReward(2, 0.6, 0.7, 0.60, 0.62, 5000), 0); // better: promoted, the new stable version
        h.processElement(withReward(3, 0.6, 0.7, 0.50, 0.52, 5000), 0); // as good as 1, clearly worse than 2
        assertThat(h.extractOutputValues()).extracting(DeploymentDecision::policyVersion, DeploymentDecision::action)
                .containsExactly(org.assertj.core.groups.Tuple.tuple(1L, DeploymentDecision.Action.PROMOTE),
                        org.assertj.core.groups.Tuple.tuple(2L, DeploymentDecision.Action.PROMOTE),
                        org.assertj.core.groups.Tuple.tuple(3L, DeploymentDecision.Action.ROLLBACK));
        assertThat(h.extractOutputValues().get(2).reason()).contains("against stable version 2");
        h.close();
    }

    @Test
    void aCanaryWithoutTheStableVersionsRewardBoundHolds() throws Exception {
        var h = harness(Map.of("dual.n-min", 100));
        h.processElement(estimate(1, 0.6, 0.7, 5000), 0); // the stable version, without a reward bound (an old event)
        h.processElement(withReward(2, 0.6, 0.7, 0.50, 0.52, 5000), 0);
        assertThat(h.extractOutputValues()).extracting(DeploymentDecision::policyVersion).containsExactly(1L);
        h.close();
    }
}
