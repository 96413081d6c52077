package dev.dualign.core.control;

/**
 * The enforcement rule: of K candidate responses to a prompt, drawn from the reference, serve
 * candidate i with probability p_i ∝ exp((r_i + Σ_c λ_c g_ci)/β). This is the tilted policy
 * π_λ ∝ π_ref·exp((r + λ·g)/β) realised over the candidates, and its expected utility over prompts
 * is the gradient term of the empirical dual the one-shot solver minimises on the same candidate
 * sets: at that solver's λ the served responses meet the margins, in expectation, on those sets.
 */
public final class TiltedChoice {
    private TiltedChoice() {}

    /**
     * The selection probabilities. A candidate whose score is not finite (a scorer's overflow) is
     * never served while another is scored, and when none is the pick is uniform: a bad score
     * neither fails the answer nor wins it.
     *
     * @param reward r of each candidate
     * @param utilities g[c][i]: utility c of candidate i
     * @param lambda λ_c ≥ 0 per constraint
     * @param beta the KL weight β > 0
     */
    public static double[] probabilities(double[] reward, double[][] utilities, double[] lambda, double beta) {
        if (!(beta > 0)) {
            throw new IllegalArgumentException("β must be > 0, got " + beta);
        }
        if (utilities.length != lambda.length) {
            throw new IllegalArgumentException(utilities.length + " utilities for " + lambda.length + " multipliers");
        }
        int k = reward.length;
        if (k == 0) {
            throw new IllegalArgumentException("no candidates");
        }
        double[] z = new double[k];
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < k; i++) {
            double v = reward[i];
            for (int c = 0; c < lambda.length; c++) {
                v += lambda[c] * utilities[c][i];
            }
            z[i] = v / beta;
            if (Double.isFinite(z[i])) {
                max = Math.max(max, z[i]);
            }
        }
        if (max == Double.NEGATIVE_INFINITY) { // nothing finite to tilt by
            java.util.Arrays.fill(z, 1.0 / k);
            return z;
        }
        double sum = 0;
        for (int i = 0; i < k; i++) {
            z[i] = Double.isFinite(z[i]) ? Math.exp(z[i] - max) : 0; // stable: the largest weight is 1
            sum += z[i];
        }
        for (int i = 0; i < k; i++) {
            z[i] /= sum;
        }
        return z;
    }

    /** The candidate a uniform {@code u} in [0, 1) picks from {@code p} (inverse CDF). */
    public static int pick(double[] p, double u) {
        double cum = 0;
        for (int i = 0; i < p.length; i++) {
            cum += p[i];
            if (u < cum) {
                return i;
            }
        }
        return p.length - 1;
    }

    /**
     * log(π_λ(y)/π_ref(y)) of a served candidate as far as the candidates show it: log(K·p_i), the
     * log-ratio of the selection to a uniform pick. Its mean is KL(selection ‖ uniform), which
     * bounds the KL of the served policy to the reference from above (data processing), so the
     * job's KL estimate for an enforced policy errs high.
     */
    public static double logRatio(double[] p, int chosen) {
        return Math.log(p.length * p[chosen]);
    }
}
