package dev.dualign.core.control;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.dualign.core.dual.DualMode;
import dev.dualign.core.dual.ProjectedSubgradient.Schedule;
import dev.dualign.core.dual.StepKind;
import dev.dualign.core.event.ScoredSample;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Enforcement at inference without Flink: the tilted choice among K candidates, the exact solve
 * on a window of candidate sets (at its λ the selection meets the margin on that window), the
 * window sliding, the safest fallback when no selection can meet the margin, and a fresh stream
 * of prompts served by the rule meeting the margin out of sample.
 */
class EnforcePolicyTest {
    static final double BETA = 0.1;
    static final double MARGIN = 0.5;
    static final int K = 4;
    static final int WINDOW = 200;
    static final int EVERY = 50;

    static ControlSettings settings(double margin) {
        return new ControlSettings(DualMode.ENFORCE, Map.of("harmless", margin), BETA, 1.0, Schedule.CONSTANT, 20.0, 0.05, 100, 25,
                50, WINDOW, K, 0.0, 60_000, 300_000, 2, List.of(), 0.0, EVERY);
    }

    /** A chat-like world: harmful candidates earn more reward; about a third of candidates are harmless. */
    static List<ScoredSample> candidates(String prompt, SplittableRandom rnd) {
        List<ScoredSample> set = new ArrayList<>();
        double bias = rnd.nextDouble() * 0.6 - 0.3;
        for (int i = 0; i < K; i++) {
            boolean harmless = rnd.nextDouble() < 0.36 + bias;
            double g = harmless ? 1.0 : 0.0;
            double r = 0.5 - 0.3 * g + 0.2 * rnd.nextGaussian();
            set.add(new ScoredSample(prompt + "-c" + i, prompt, null, null, 0L, -1.0, -1.0, "reference", 0L, r, Map.of("harmless", g)));
        }
        return set;
    }

    static double[] rewards(List<ScoredSample> set) {
        return set.stream().mapToDouble(ScoredSample::reward).toArray();
    }

    static double[][] utilities(List<ScoredSample> set) {
        return new double[][] {set.stream().mapToDouble(x -> x.utility("harmless")).toArray()};
    }

    @Test
    void theChoiceTiltsTowardsRewardAndUtilityAndItsLogRatioIsZeroWhenUniform() {
        double[] r = {1.0, 0.0, 0.0};
        double[][] g = {{0.0, 1.0, 0.0}};
        double[] p0 = TiltedChoice.probabilities(r, g, new double[] {0.0}, 1.0);
        assertThat(p0[0]).isCloseTo(Math.E / (Math.E + 2), within(1e-12));
        double[] p2 = TiltedChoice.probabilities(r, g, new double[] {2.0}, 1.0);
        assertThat(p2[1]).isGreaterThan(p2[0]).isGreaterThan(p2[2]);
        assertThat(p2[0] + p2[1] + p2[2]).isCloseTo(1.0, within(1e-12));
        // huge scores do not overflow
        double[] big = TiltedChoice.probabilities(new double[] {1e4, 1e4 - 1}, new double[][] {{0, 0}}, new double[] {0}, 1e-3);
        assertThat(big[0]).isCloseTo(1.0, within(1e-12));
        assertThat(TiltedChoice.pick(new double[] {0.2, 0.3, 0.5}, 0.0)).isZero();
        assertThat(TiltedChoice.pick(new double[] {0.2, 0.3, 0.5}, 0.25)).isEqualTo(1);
        assertThat(TiltedChoice.pick(new double[] {0.2, 0.3, 0.5}, 0.999999)).isEqualTo(2);
        assertThat(TiltedChoice.logRatio(new double[] {0.25, 0.25, 0.25, 0.25}, 2)).isCloseTo(0.0, within(1e-12));
        assertThat(TiltedChoice.logRatio(new double[] {0.7, 0.1, 0.1, 0.1}, 0)).isCloseTo(Math.log(2.8), within(1e-12));
        // a scorer's overflow neither fails the answer nor wins it
        double[] bad = TiltedChoice.probabilities(new double[] {Double.NaN, 0.0, Double.POSITIVE_INFINITY}, new double[][] {{0, 1, 0}},
                new double[] {1.0}, 1.0);
        assertThat(bad).containsExactly(0.0, 1.0, 0.0);
        assertThat(TiltedChoice.probabilities(new double[] {Double.NaN, Double.NaN}, new double[][] {{0, 0}}, new double[] {1.0}, 1.0))
                .containsExactly(0.5, 0.5);
    }

    @Test
    void atTheSolvedLambdaTheSelectionMeetsTheMarginExactlyOnItsWindowAndTheWindowSlides() {
        ControlPolicy p = ControlPolicy.of(settings(MARGIN));
        assertThat(p).isInstanceOf(EnforcePolicy.class);
        SplittableRandom rnd = new SplittableRandom(5);
        ControllerState s = ControllerState.initial(1);
        List<ScoredSample> held = new ArrayList<>();
        List<List<ScoredSample>> all = new ArrayList<>();
        List<Decision> steps = new ArrayList<>();
        for (int prompt = 0; prompt < WINDOW + 2 * EVERY; prompt++) {
            List<ScoredSample> set = candidates("p" + prompt, rnd);
            all.add(set);
            for (ScoredSample x : set) {
                assertThat(p.wantsReference(s)).isTrue(); // enforcement never stops collecting
                held.add(x);
                if (!p.mayBeReady(held.size())) {
                    continue;
                }
                var d = p.solveIfReady(s, held);
                if (d.isPresent()) {
                    steps.add(d.get());
                    held = new ArrayList<>(p.keep(s, held));
                    s = d.get().state();
                    List<List<ScoredSample>> window = all.subList(all.size() - WINDOW, all.size());
                    // the exactness: over the window, Σ_i p_i g_i averages to the margin at the solved λ
                    double served = 0;
                    for (List<ScoredSample> w : window) {
                        double[] pr = TiltedChoice.probabilities(rewards(w), utilities(w), s.lambda(), BETA);
                        for (int i = 0; i < K; i++) {
                            served += pr[i] * w.get(i).utility("harmless") / WINDOW;
                        }
                    }
                    assertThat(served).as("served harmlessness at step %d", steps.size() - 1).isCloseTo(MARGIN, within(1e-6));
                    assertThat(held.stream().map(ScoredSample::promptId).distinct().count()).isEqualTo(WINDOW - EVERY);
                }
            }
        }
        assertThat(steps).hasSize(3); // after 200 prompts, then after each 50 more
        for (int i = 0; i < steps.size(); i++) {
            DualStep st = steps.get(i).step().orElseThrow();
            assertThat(st.kind()).isEqualTo(StepKind.ENFORCE);
            assertThat(st.step()).isEqualTo(i);
            assertThat(st.fineTune()).as("enforcement never asks for a fine-tune").isFalse();
            assertThat(st.lambda()[0]).isPositive(); // the reference alone (≈ 0.36) misses the margin
        }
        assertThat(s.deadline()).isZero();
        assertThat(p.arm(s, 1000).deadline()).as("nothing to wait for once λ is set").isZero();
    }

    @Test
    void marginsNoSelectionCanMeetGiveLambdaMaxWithAWarning() {
        ControlPolicy p = ControlPolicy.of(settings(1.5)); // harmlessness is at most 1
        SplittableRandom rnd = new SplittableRandom(1);
        List<ScoredSample> held = new ArrayList<>();
        for (int prompt = 0; prompt < WINDOW; prompt++) {
            held.addAll(candidates("p" + prompt, rnd));
        }
        Decision d = p.solveIfReady(ControllerState.initial(1), held).orElseThrow();
        assertThat(d.state().lambda()[0]).isEqualTo(20.0);
        assertThat(d.step().orElseThrow().atLambdaMax()).containsExactly("harmless");
        assertThat(d.warning()).hasValueSatisfying(w -> assertThat(w).contains("λ_max"));
    }

    @Test
    void servingFreshPromptsByTheRuleMeetsTheMarginOutOfSample() {
        ControlPolicy p = ControlPolicy.of(settings(MARGIN));
        SplittableRandom rnd = new SplittableRandom(9);
        List<ScoredSample> held = new ArrayList<>();
        for (int prompt = 0; prompt < WINDOW; prompt++) {
            held.addAll(candidates("w" + prompt, rnd));
        }
        double lambda = p.solveIfReady(ControllerState.initial(1), held).orElseThrow().state().lambda()[0];
        double served = 0;
        double reference = 0;
        int n = 20_000;
        for (int prompt = 0; prompt < n; prompt++) {
            List<ScoredSample> set = candidates("f" + prompt, rnd);
            double[] pr = TiltedChoice.probabilities(rewards(set), utilities(set), new double[] {lambda}, BETA);
            served += set.get(TiltedChoice.pick(pr, rnd.nextDouble())).utility("harmless") / n;
            reference += set.get(0).utility("harmless") / n;
        }
        assertThat(reference).isLessThan(MARGIN - 0.1); // the reference misses the margin …
        assertThat(served).isCloseTo(MARGIN, within(0.03)); // … the served selection meets it
    }

    @Test
    void anIncompleteSetOlderThanTheWindowIsDroppedSoTheListCannotGrow() {
        ControlPolicy p = ControlPolicy.of(settings(MARGIN));
        SplittableRandom rnd = new SplittableRandom(3);
        List<ScoredSample> held = new ArrayList<>();
        // a set that lost a candidate comes first and never completes
        held.addAll(candidates("lost", rnd).subList(0, K - 1));
        for (int prompt = 0; prompt < WINDOW; prompt++) {
            held.addAll(candidates("p" + prompt, rnd));
        }
        held.addAll(candidates("filling", rnd).subList(0, 2)); // a set still arriving
        ControllerState s = ControllerState.initial(1);
        assertThat(p.solveIfReady(s, held)).isPresent();
        List<ScoredSample> kept = p.keep(s, held);
        assertThat(kept).extracting(ScoredSample::promptId).doesNotContain("lost").contains("filling", "p" + (WINDOW - 1))
                .doesNotContain("p0");
        assertThat(kept.stream().map(ScoredSample::promptId).distinct().count()).isEqualTo(WINDOW - EVERY + 1);
    }
}
