package dev.dualign.core.control;

/**
 * Whether a freshly trained version may be published: its Lagrangian L = E[s] − β·KL(π‖π_ref),
 * s = r + λ·g scored at the request's λ, must not fall below the stable version's (nor π_ref's,
 * whose L is E_ref[s]) by more than a tolerance. The policy step is meant to be an ascent step on L
 * (docs/mathematics.md, §2); a version that loses L to what already serves is a failed step, not
 * progress, whatever its constraint estimate says (issue #29: DPO versions did, at every λ ≤ 0.9).
 */
public final class PolicyStepGate {
    private PolicyStepGate() {}

    /**
     * L of one policy at one λ, estimated on its own scored responses.
     *
     * @param meanScore E[s] of the policy's responses, s = r + λ·g by the scorers
     * @param kl KL(π‖π_ref) estimate (mean log π/π_ref of its own responses; 0 for π_ref)
     */
    public record Estimate(double meanScore, double kl) {
        /** L = E[s] − β·KL (the −λ·b term is the same for every policy at one λ and is left out). */
        public double lagrangian(double beta) {
            return meanScore - beta * kl;
        }
    }

    /** The gate's answer, with a reason for the fine-tuner's log and the manifest. */
    public record Verdict(boolean publish, double candidate, double bar, String reason) {}

    /**
     * @param candidate the trained version
     * @param stable the version serving now (π_ref when nothing else has been promoted)
     * @param reference π_ref at the same λ (KL 0)
     * @param beta the KL weight β > 0
     * @param tolerance how far below the bar an estimate may fall and still pass (the estimates' noise), ≥ 0
     */
    public static Verdict judge(Estimate candidate, Estimate stable, Estimate reference, double beta, double tolerance) {
        if (!(beta > 0) || !(tolerance >= 0)) {
            throw new IllegalArgumentException("β must be > 0 and the tolerance ≥ 0, got " + beta + ", " + tolerance);
        }
        double lc = candidate.lagrangian(beta);
        double ls = stable.lagrangian(beta);
        double lr = reference.lagrangian(beta);
        if (!Double.isFinite(lr)) {
            throw new IllegalArgumentException("π_ref's L must be finite, got " + lr);
        }
        boolean stableCounts = Double.isFinite(ls) && ls >= lr; // an unmeasurable stable version leaves π_ref's bar
        double bar = stableCounts ? ls : lr;
        String which = stableCounts ? "the stable version's" : "π_ref's";
        if (!Double.isFinite(lc)) {
            return new Verdict(false, lc, bar, "the candidate's L is not finite");
        }
        if (lc < bar - tolerance) {
            return new Verdict(false, lc, bar, String.format("L = E[s] − β·KL = %.4f is below %s %.4f (tolerance %.4f)",
                    lc, which, bar, tolerance));
        }
        return new Verdict(true, lc, bar, String.format("L = %.4f ≥ %s %.4f − %.4f", lc, which, bar, tolerance));
    }
}
