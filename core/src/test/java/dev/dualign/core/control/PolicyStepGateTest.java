package dev.dualign.core.control;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dualign.core.control.PolicyStepGate.Estimate;
import org.junit.jupiter.api.Test;

class PolicyStepGateTest {
    static final double BETA = 0.1;

    @Test
    void aVersionThatBuysRewardWithTooMuchKlIsRefused() {
        // issue #29 at λ = 0.45: π_ref L ≈ 0.73; a DPO version E[s] 0.88 at 3.9 nats → L ≈ 0.49
        PolicyStepGate.Verdict v = PolicyStepGate.judge(new Estimate(0.88, 3.9), new Estimate(0.73, 0),
                new Estimate(0.73, 0), BETA, 0.01);
        assertThat(v.publish()).isFalse();
        assertThat(v.candidate()).isEqualTo(0.88 - 0.39, org.assertj.core.api.Assertions.within(1e-12));
        assertThat(v.reason()).contains("below");
    }

    @Test
    void aVersionAboveTheStableOnesLIsPublished() {
        PolicyStepGate.Verdict v = PolicyStepGate.judge(new Estimate(1.05, 1.5), new Estimate(0.85, 0.5),
                new Estimate(0.73, 0), BETA, 0);
        assertThat(v.publish()).isTrue();
        assertThat(v.bar()).isEqualTo(0.85 - 0.05, org.assertj.core.api.Assertions.within(1e-12));
    }

    @Test
    void theBarIsTheStableVersionsOrTheReferencesWhicheverIsHigher() {
        Estimate candidate = new Estimate(0.80, 0.5); // L = 0.75
        // a stable version worse than π_ref: π_ref's 0.78 is the bar
        assertThat(PolicyStepGate.judge(candidate, new Estimate(0.9, 4), new Estimate(0.78, 0), BETA, 0).publish()).isFalse();
        // within the tolerance it passes
        assertThat(PolicyStepGate.judge(candidate, new Estimate(0.9, 4), new Estimate(0.78, 0), BETA, 0.04).publish()).isTrue();
        // a stable version better than the candidate
        assertThat(PolicyStepGate.judge(candidate, new Estimate(0.9, 1), new Estimate(0.5, 0), BETA, 0).publish()).isFalse();
    }

    @Test
    void aCandidateWithoutAFiniteLIsNeverPublishedAndAnUnmeasuredStableVersionLeavesTheReferencesBar() {
        assertThat(PolicyStepGate.judge(new Estimate(Double.NaN, 1), new Estimate(0.5, 0), new Estimate(0.5, 0), BETA, 0)
                .publish()).isFalse();
        PolicyStepGate.Verdict v = PolicyStepGate.judge(new Estimate(0.6, 0.5), new Estimate(Double.NaN, 0),
                new Estimate(0.56, 0), BETA, 0);
        assertThat(v.publish()).isFalse();
        assertThat(v.reason()).contains("π_ref");
    }

    @Test
    void refusesBadArguments() {
        Estimate e = new Estimate(0, 0);
        assertThatThrownBy(() -> PolicyStepGate.judge(e, e, e, 0, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> PolicyStepGate.judge(e, e, e, BETA, -1)).isInstanceOf(IllegalArgumentException.class);
    }
}
