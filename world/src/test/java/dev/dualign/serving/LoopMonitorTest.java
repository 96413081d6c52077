package dev.dualign.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.dualign.core.dual.DualMode;
import dev.dualign.core.dual.StepKind;
import dev.dualign.core.event.DeploymentDecision;
import dev.dualign.core.event.DualUpdate;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.event.VersionEstimate;
import dev.dualign.core.stats.RunningStats;
import dev.dualign.world.Oracle;
import dev.dualign.world.OracleTruth;
import dev.dualign.world.World;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The dashboard's view: the job's estimates per version as they arrive, and the oracle's truth beside them. */
class LoopMonitorTest {
    private static final Map<String, Double> MARGINS = Map.of("harmless", 0.5);

    @SuppressWarnings("unchecked")
    private static Map<String, Object> version(LoopMonitor m, long v) {
        List<Map<String, Object>> versions = (List<Map<String, Object>>) m.summary().get("versions");
        return versions.stream().filter(x -> x.get("version").equals(v)).findFirst().orElseThrow();
    }

    @Test
    @SuppressWarnings("unchecked")
    void showsTheJobsLatestEstimateAndTheOraclesTruthOfServedResponses() {
        LoopMonitor m = new LoopMonitor(DualMode.ITERATIVE, MARGINS, new OracleTruth(), LoopMonitor.Bands.of(0.95, false));
        SplittableRandom rnd = new SplittableRandom(1);
        RunningStats oracle = new RunningStats();
        for (int i = 0; i < 300; i++) {
            World.Prompt p = World.prompt(rnd);
            String response = World.referenceResponse(p.intent(), rnd);
            oracle.add(Oracle.score(p.intent(), response).harmless());
            m.onScored(new ScoredSample("r" + i, "p" + i, p.text(), response, 1L, -3.0, -2.5, "policy", 1L, 0.5,
                    Map.of("harmless", 0.0)));
            // reference samples count as scored but never as the version's truth
            m.onScored(new ScoredSample("q" + i, "p" + i, p.text(), "i can't help", 1L, -3.0, -2.5, "reference", 1L, 0.5,
                    Map.of("harmless", 1.0)));
        }
        m.onEstimate(new VersionEstimate(1, Map.of("harmless", new Estimate(0.4, 0.35, 0.45, 100)), 100));
        m.onEstimate(new VersionEstimate(1, Map.of("harmless", new Estimate(0.42, 0.4, 0.44, 300),
                "kl", new Estimate(-0.5, -0.6, -0.4, 300)), 300));
        m.onEstimate(new VersionEstimate(2, Map.of("harmless", new Estimate(0.6, -1e300, 1e300, 1)), 1));

        Map<String, Object> v1 = version(m, 1);
        Map<String, Map<String, Object>> est = (Map<String, Map<String, Object>>) v1.get("estimated");
        assertThat(est.get("harmless")).containsEntry("mean", 0.42).containsEntry("lo", 0.4).containsEntry("n", 300L);
        assertThat(est.get("kl").get("mean")).isEqualTo(-0.5);
        Map<String, Double> truth = (Map<String, Double>) v1.get("true");
        assertThat(truth.get("harmless")).isCloseTo(oracle.mean(), within(1e-12));
        assertThat(truth).doesNotContainKey("humour"); // not a constraint here
        // no interval yet: shown as absent bounds, not ±1e300
        Map<String, Map<String, Object>> est2 = (Map<String, Map<String, Object>>) version(m, 2).get("estimated");
        assertThat(est2.get("harmless").get("lo")).isNull();
        assertThat(m.scored()).isEqualTo(600);
        // the λ path says what produced each value, on which version; the summary says where the run ended
        m.onDual(new DualUpdate("default", Map.of("harmless", 0.4), Map.of(), DualMode.ITERATIVE, StepKind.ONE_SHOT, 0, 0,
                List.of(), 5L));
        m.onDeployment(new PolicyServer.Deployment(3, 4, 0.3));
        Map<String, Object> summary = m.summary();
        List<Map<String, Object>> path = (List<Map<String, Object>>) summary.get("lambdaPath");
        assertThat(path).singleElement().satisfies(p -> assertThat(p).containsEntry("kind", StepKind.ONE_SHOT)
                .containsEntry("policyVersion", 0L).containsEntry("step", 0L));
        assertThat((Map<String, Object>) summary.get("deployment")).containsEntry("stable", 3L).containsEntry("canary", 4L);
        assertThat(m.statusLine()).contains("v1 harmless 0.420±0.020✗(b=0.50,n=300)");
    }

    @Test
    @SuppressWarnings("unchecked")
    void eachVersionShowsTheScorersItsEstimateWasScoredWith() {
        LoopMonitor m = new LoopMonitor(DualMode.ITERATIVE, MARGINS, new OracleTruth(), LoopMonitor.Bands.of(0.95, false));
        Estimate e = new Estimate(0.6, 0.55, 0.65, 100);
        m.onEstimate(new VersionEstimate(1, Map.of("harmless", e), Map.of(), 100, Map.of("reward", 1L, "harmless", 1L)));
        // the job restarted with a newer harmless scorer: version 2's estimate is of the new one
        m.onEstimate(new VersionEstimate(2, Map.of("harmless", e), Map.of(), 100, Map.of("reward", 1L, "harmless", 2L)));
        m.onDecision(new DeploymentDecision(2, DeploymentDecision.Action.PROMOTE, "met", Map.of("harmless", e), 7L,
                Map.of("reward", 1L, "harmless", 2L)));
        assertThat(version(m, 1).get("scorers")).isEqualTo(Map.of("reward", 1L, "harmless", 1L));
        assertThat(version(m, 2).get("scorers")).isEqualTo(Map.of("reward", 1L, "harmless", 2L));
        assertThat(m.state().get("scorers")).isEqualTo(Map.of("reward", 1L, "harmless", 2L));
        assertThat(m.summary().get("scorers")).isEqualTo(Map.of("reward", 1L, "harmless", 2L));
        assertThat((List<Map<String, Object>>) m.state().get("decisions")).singleElement()
                .satisfies(d -> assertThat(d).containsEntry("scorers", Map.of("reward", 1L, "harmless", 2L)));
    }

    @Test
    @SuppressWarnings("unchecked")
    void aRealChatbotHasNoTruth() {
        LoopMonitor m = new LoopMonitor(DualMode.MONITOR, MARGINS, GroundTruth.NONE, LoopMonitor.Bands.of(0.9, true));
        m.onScored(new ScoredSample("r", "p", "how do i reset my password", "click reset", 3L, -3.0, -2.5, "policy", 1L,
                0.5, Map.of("harmless", 0.9)));
        m.onEstimate(new VersionEstimate(3, Map.of("harmless", new Estimate(0.9, 0.8, 1.0, 50)), 50));
        assertThat((Map<String, Double>) version(m, 3).get("true")).isEmpty();
        // the dashboard labels each band with its real level and kind, not "95 %" whatever they are
        assertThat(m.state().get("bands")).isEqualTo(new LoopMonitor.Bands("90 % anytime-valid (Bernstein) band",
                "90 % normal band"));
        assertThat(LoopMonitor.Bands.of(0.95, false).constraints()).isEqualTo("95 % normal band");
        assertThat(LoopMonitor.Bands.of(0.975, false).others()).isEqualTo("97.5 % normal band");
    }

    @Test
    @SuppressWarnings("unchecked")
    void showsDeadLettersWithTheirRateAndTheFineTunersStateWhenItRunsAlongside() {
        LoopMonitor m = new LoopMonitor(DualMode.ITERATIVE, MARGINS, GroundTruth.NONE, LoopMonitor.Bands.of(0.95, true));
        assertThat(m.state().get("fineTuner")).isNull(); // in another process: unknown here
        long now = System.currentTimeMillis();
        m.onDeadLetter(dev.dualign.core.event.DeadLetter.of("dualign.responses", 0, 7, new byte[] {1, 2}, "unparseable: x".repeat(30),
                now - 120_000), now - 120_000);
        m.onDeadLetter(dev.dualign.core.event.DeadLetter.of("dualign.prompts", 0, 9, new byte[] {3}, "unanswerable prompt: empty",
                now), now);
        Map<String, Object> dl = (Map<String, Object>) m.state().get("deadLetters");
        assertThat(dl.get("total")).isEqualTo(2L);
        assertThat(dl.get("lastMinute")).isEqualTo(1); // the older one is out of the window
        List<Map<String, Object>> latest = (List<Map<String, Object>>) dl.get("latest");
        assertThat(latest).hasSize(2);
        assertThat(latest.get(1)).containsEntry("source", "dualign.prompts").containsEntry("reason", "unanswerable prompt: empty");
        assertThat((String) latest.get(0).get("reason")).hasSize(201).endsWith("…"); // long reasons are cut
        String[] status = {"waiting for traffic (3 pairs)"};
        m.showFineTuner(() -> status[0]);
        assertThat(m.state().get("fineTuner")).isEqualTo("waiting for traffic (3 pairs)");
        status[0] = "training for λ={harmless=0.3}, step 5";
        assertThat(m.state().get("fineTuner")).isEqualTo("training for λ={harmless=0.3}, step 5");
    }
}
