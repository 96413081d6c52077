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
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.Test;

/** The judge reads decision bounds, and takes a relative margin from the controller's word on it. */
class CanaryJudgeTest {
    static KeyedBroadcastOperatorTestHarness<Long, VersionEstimate, DualUpdate, DeploymentDecision> harness(
            Map<String, Object> overrides) throws Exception {
        return ProcessFunctionTestHarnesses.forKeyedBroadcastProcessFunction(new CanaryJudge(Settings.of(overrides)),
                VersionEstimate::policyVersion, Types.LONG, CanaryJudge.MARGINS);
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
}
