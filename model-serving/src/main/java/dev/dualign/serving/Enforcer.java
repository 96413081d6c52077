package dev.dualign.serving;

import dev.dualign.core.control.TiltedChoice;
import dev.dualign.core.event.VersionEstimate;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.model.scorer.ScorerSet;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The live side of enforcement at inference, one for the built-in server and the gateway alike:
 * the job's scorers (one caller at a time), λ by constraint from {@code dualign.dual}, and the
 * draw among each answer's K candidates by {@link TiltedChoice}, uniform before the job's first λ
 * (the reference served as it is, never a reward-greedy choice no margin has checked).
 */
final class Enforcer implements AutoCloseable {
    /** The candidate served, and the selection probabilities it was drawn from. */
    record Choice(int index, double[] p) {
        /** log(π_λ/π_ref) of the served candidate as the candidates show it: log(K·p). */
        double logRatio() {
            return TiltedChoice.logRatio(p, index);
        }
    }

    private final ServerSettings.Enforce settings;
    private final ScorerSet scorers;
    private final SplittableRandom picks;
    private volatile double[] lambda;

    Enforcer(ServerSettings.Enforce settings, ScorerSet scorers, long seed) {
        this.settings = settings;
        this.scorers = scorers;
        this.picks = new SplittableRandom(seed);
    }

    int candidates() {
        return settings.candidates();
    }

    /** λ from the job; constraints it does not name keep their multiplier (0 before the first). */
    void onLambda(Map<String, Double> byName) {
        List<String> names = settings.constraints();
        double[] prev = lambda;
        double[] next = new double[names.size()];
        for (int c = 0; c < next.length; c++) {
            Double v = byName.get(names.get(c));
            next[c] = v != null ? v : prev != null ? prev[c] : 0;
        }
        lambda = next;
    }

    /** The λ it chooses with, by constraint; empty before the job's first. */
    Map<String, Double> lambda() {
        double[] l = lambda;
        Map<String, Double> m = new LinkedHashMap<>();
        if (l != null) {
            for (int c = 0; c < l.length; c++) {
                m.put(settings.constraints().get(c), l[c]);
            }
        }
        return m;
    }

    /** Every candidate's reward and utilities, by name. */
    Map<String, double[]> score(List<Scorer.PromptResponse> pairs) {
        synchronized (scorers) {
            return scorers.score(pairs);
        }
    }

    /** The draw among the K candidates at {@code from} in {@code scores}. */
    Choice choose(Map<String, double[]> scores, int from) {
        int k = settings.candidates();
        double[] l = lambda;
        double[] p;
        if (l == null) {
            p = new double[k];
            Arrays.fill(p, 1.0 / k);
        } else {
            List<String> names = settings.constraints();
            double[] r = Arrays.copyOfRange(scores.get(VersionEstimate.REWARD), from, from + k);
            double[][] g = new double[names.size()][];
            for (int c = 0; c < g.length; c++) {
                g[c] = Arrays.copyOfRange(scores.get(names.get(c)), from, from + k);
            }
            p = TiltedChoice.probabilities(r, g, l, settings.beta());
        }
        double u;
        synchronized (picks) {
            u = picks.nextDouble();
        }
        return new Choice(TiltedChoice.pick(p, u), p);
    }

    @Override
    public void close() {
        synchronized (scorers) { // after a scoring still running on them
            scorers.close();
        }
    }
}
