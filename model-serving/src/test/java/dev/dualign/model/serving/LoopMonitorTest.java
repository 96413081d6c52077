package dev.dualign.model.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.stats.ConfidenceBounds;
import dev.dualign.core.stats.RunningStats;
import dev.dualign.model.world.Oracle;
import dev.dualign.model.world.World;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The per-version estimates the canary judge and the dashboard read, and the oracle's truth beside them. */
class LoopMonitorTest {
    private static final Map<String, Double> MARGINS = Map.of("harmless", 0.5);

    private static void feed(LoopMonitor m, long version, int n, String source, RunningStats expected, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < n; i++) {
            World.Prompt p = World.prompt(rnd);
            String response = World.referenceResponse(p.intent(), rnd);
            double g = Oracle.score(p.intent(), response).harmless() + rnd.nextDouble(-0.1, 0.1); // a noisy scorer
            if (expected != null) {
                expected.add(g);
            }
            m.onScored(new ScoredSample("r" + i, "p" + i, p.text(), response, version, -3.0, -2.5, source, 1L, 0.5,
                    Map.of("harmless", g)));
        }
    }

    @Test
    void estimatesAreNormalIntervalsOfServedResponsesPerVersionAndWaitForNMin() {
        LoopMonitor m = new LoopMonitor("iterative", MARGINS, 0.95);
        RunningStats v1 = new RunningStats();
        feed(m, 1, 300, "policy", v1, 1);
        feed(m, 1, 200, "reference", null, 2);  // reference samples are kept out of the version's estimate
        feed(m, 2, 30, "policy", null, 3);

        Estimate e = m.estimates(1, 100).get("harmless");
        var normal = ConfidenceBounds.normal(v1, 0.05);
        assertThat(e.n()).isEqualTo(300);
        assertThat(e.mean()).isCloseTo(v1.mean(), within(1e-12));
        assertThat(e.lo()).isCloseTo(normal.lo(), within(1e-12));
        assertThat(e.hi()).isCloseTo(normal.hi(), within(1e-12));
        assertThat(m.estimates(2, 100)).isEmpty(); // 30 < n_min: no decision material yet

        @SuppressWarnings("unchecked")
        List<Map<String, Object>> versions = (List<Map<String, Object>>) m.summary().get("versions");
        Map<String, Object> s1 = versions.stream().filter(v -> v.get("version").equals(1L)).findFirst().orElseThrow();
        @SuppressWarnings("unchecked")
        Map<String, Double> truth = (Map<String, Double>) s1.get("true");
        // the oracle's value of the same responses, without the scorer's noise
        assertThat(truth.get("harmless")).isCloseTo(v1.mean(), within(0.02));
        @SuppressWarnings("unchecked")
        Map<String, Map<String, Object>> est = (Map<String, Map<String, Object>>) s1.get("estimated");
        assertThat(est.get("kl").get("mean")).isEqualTo(-0.5);
        assertThat((Long) est.get("harmless").get("n")).isEqualTo(300L);
    }

    @Test
    void anAnytimeValidRuleReplacesTheNormalIntervalForConstraints() {
        LoopMonitor m = new LoopMonitor("iterative", MARGINS, 0.95,
                r -> ConfidenceBounds.empiricalBernstein(r.clampedTo(-1, 1), 0.05, -1, 1, 1));
        RunningStats v1 = new RunningStats();
        feed(m, 1, 400, "policy", v1, 4);
        Estimate e = m.estimates(1, 100).get("harmless");
        var bernstein = ConfidenceBounds.empiricalBernstein(v1, 0.05, -1, 1, 1);
        var normal = ConfidenceBounds.normal(v1, 0.05);
        assertThat(e.lo()).isCloseTo(bernstein.lo(), within(1e-12));
        assertThat(e.hi()).isCloseTo(bernstein.hi(), within(1e-12));
        // valid at every look, so wider than the fixed-n interval
        assertThat(e.hi() - e.lo()).isGreaterThan(normal.hi() - normal.lo());
    }
}
