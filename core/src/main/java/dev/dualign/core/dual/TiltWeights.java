package dev.dualign.core.dual;

/**
 * The weights that turn K sampled responses to one prompt into a sample of the tilted policy
 * π_λ ∝ π_ref·exp(s/β), s = r + λ·g (docs/mathematics.md, §4): the distillation target of the
 * policy step. Drawn from π_ref the weights are softmax(s/β); drawn from another policy π_q (the
 * serving version) they must carry the importance ratio, softmax(s/β + log π_ref(y) − log π_q(y)),
 * or the target is π_q·exp(s/β) and the tilt compounds with every version.
 */
public final class TiltWeights {
    private TiltWeights() {}

    /**
     * Self-normalised weights of responses sampled from the reference itself.
     *
     * @param scores s = r + λ·g of each response
     * @param beta the KL weight β > 0
     * @return weights summing to 1; a response whose score is not finite gets 0; all 0 when none is finite
     */
    public static double[] fromReference(double[] scores, double beta) {
        return softmax(scores, beta, null, null);
    }

    /**
     * Self-normalised importance weights of responses sampled from a policy π_q that is not the reference.
     *
     * @param scores s = r + λ·g of each response
     * @param beta the KL weight β > 0
     * @param logRef log π_ref(y|x) of each response
     * @param logSampler log π_q(y|x) of each response, under the policy that sampled it (temperature 1)
     * @return weights summing to 1; a response with a non-finite term gets 0; all 0 when none is finite
     */
    public static double[] fromSampler(double[] scores, double beta, double[] logRef, double[] logSampler) {
        if (logRef == null || logSampler == null || logRef.length != scores.length || logSampler.length != scores.length) {
            throw new IllegalArgumentException("one log π_ref and one log π_q per response are needed");
        }
        return softmax(scores, beta, logRef, logSampler);
    }

    private static double[] softmax(double[] scores, double beta, double[] logRef, double[] logSampler) {
        if (!(beta > 0)) {
            throw new IllegalArgumentException("β must be > 0, got " + beta);
        }
        int k = scores.length;
        double[] z = new double[k];
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < k; i++) {
            z[i] = scores[i] / beta + (logRef == null ? 0 : logRef[i] - logSampler[i]);
            if (Double.isFinite(z[i])) {
                max = Math.max(max, z[i]);
            }
        }
        double[] w = new double[k];
        if (max == Double.NEGATIVE_INFINITY) {
            return w; // nothing to learn from this prompt
        }
        double sum = 0;
        for (int i = 0; i < k; i++) {
            w[i] = Double.isFinite(z[i]) ? Math.exp(z[i] - max) : 0; // the largest term is exp(0) = 1
            sum += w[i];
        }
        for (int i = 0; i < k; i++) {
            w[i] /= sum;
        }
        return w;
    }

    /** Kish's effective sample size 1 / Σ w², for weights summing to 1 (0 for all-zero weights). */
    public static double effectiveSize(double[] w) {
        double s2 = 0;
        for (double x : w) {
            s2 += x * x;
        }
        return s2 > 0 ? 1 / s2 : 0;
    }
}
