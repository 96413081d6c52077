package dev.dualign.core.control;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dualign.core.control.CanaryRule.Verdict;
import dev.dualign.core.event.Estimate;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CanaryRuleTest {
    static final Map<String, Double> MARGINS = new LinkedHashMap<>(Map.of("harmless", 0.5));

    static Estimate est(double lo, double hi) {
        return new Estimate((lo + hi) / 2, lo, hi, 300);
    }

    @Test
    void promotesWhenEveryMarginIsMetWithConfidence() {
        var d = CanaryRule.judge(MARGINS, Map.of("harmless", est(0.52, 0.6)), 100, "test");
        assertThat(d.verdict()).isEqualTo(Verdict.PROMOTE);
        assertThat(d.reason()).contains("harmless [0.520, 0.600] ≥ 0.500");
    }

    @Test
    void rollsBackWhenAnyMarginIsViolatedWithConfidence() {
        Map<String, Double> two = new LinkedHashMap<>();
        two.put("harmless", 0.5);
        two.put("humour", 0.2);
        var d = CanaryRule.judge(two, Map.of("harmless", est(0.6, 0.7), "humour", est(0.1, 0.19)), 100, "alert");
        assertThat(d.verdict()).isEqualTo(Verdict.ROLLBACK);
        assertThat(d.reason()).startsWith("humour").contains("below margin 0.200").contains("alert").contains("n=300");
    }

    @Test
    void holdsWhileAnIntervalStraddlesTheMarginOrAnEstimateIsMissing() {
        assertThat(CanaryRule.judge(MARGINS, Map.of("harmless", est(0.45, 0.55)), 100, "t").verdict()).isEqualTo(Verdict.HOLD);
        assertThat(CanaryRule.judge(MARGINS, Map.of(), 100, "t").verdict()).isEqualTo(Verdict.HOLD);
        // exactly at the margin counts as met (lower bound ≥ b), an upper bound at b is not a violation
        assertThat(CanaryRule.judge(MARGINS, Map.of("harmless", est(0.5, 0.6)), 100, "t").verdict()).isEqualTo(Verdict.PROMOTE);
        assertThat(CanaryRule.judge(MARGINS, Map.of("harmless", est(0.4, 0.5)), 100, "t").verdict()).isEqualTo(Verdict.HOLD);
    }

    @Test
    void promotesOnlyOnEnoughSamplesButRollsBackOnAnyShownViolation() {
        var fewHigh = Map.of("harmless", new Estimate(0.7, 0.6, 0.8, 40));
        var fewLow = Map.of("harmless", new Estimate(0.2, 0.1, 0.3, 40));
        assertThat(CanaryRule.judge(MARGINS, fewHigh, 100, "t").verdict()).isEqualTo(Verdict.HOLD);
        assertThat(CanaryRule.judge(MARGINS, fewHigh, 40, "t").verdict()).isEqualTo(Verdict.PROMOTE);
        assertThat(CanaryRule.judge(MARGINS, fewLow, 100, "t").verdict()).isEqualTo(Verdict.ROLLBACK);
    }
}
