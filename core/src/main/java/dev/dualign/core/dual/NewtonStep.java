package dev.dualign.core.dual;

/**
 * A dual step sized by the measured sensitivity of the constraints to λ, so that the loop gain
 * stays below 1 and λ approaches its target from one side instead of swinging across it
 * (decision 27). Under the tilted policy π_λ ∝ π_ref·exp((r + λ·g)/β) the sensitivity is
 * S = dE_{π_λ}[g]/dλ = E_x Cov_{π_λ}(g | x)/β, the Hessian of the dual ({@link
 * DualSolver#sensitivity}); with u = ĝ − b the measured margin error, the step is
 * <pre>  Δλ = −d · S⁻¹ u,  capped to |Δλ_k| ≤ maxStep (the direction kept),  λ ← min(λ_max, [λ + Δλ]₊)  </pre>
 * where d ∈ (0, 1] is the damping: on a plant whose true slope is k the loop gain is d·k/S, so d
 * = 1/2 tolerates a true slope twice the measured one without overshooting.
 *
 * <p>When S is not known (no one-shot solve: λ(0) came from {@code dual.lambda-init}), is not
 * finite, or some diagonal S_kk is below {@link #MIN_SENSITIVITY}, the step falls back to a
 * gain-limited subgradient step per constraint: η_k = gain / s_k with s_k the larger of S_kk and
 * {@link #ASSUMED_VARIANCE}/β, so that η_k·s_k ≤ gain &lt; 1 for any slope up to s_k.
 */
public final class NewtonStep {
    /**
     * The variance a utility is assumed to have under π_λ when none is measured: 0.25, a standard
     * deviation of 0.5 (the demo's harmlessness scores; the largest variance of a score in [0, 1]).
     */
    public static final double ASSUMED_VARIANCE = 0.25;
    /** A sensitivity below this (utility per unit λ) is too small to divide by: the fallback step is taken. */
    public static final double MIN_SENSITIVITY = 1e-3;

    /** The new λ and whether it came from the Newton step ({@code false}: the gain-limited fallback). */
    public record Result(double[] lambda, boolean newton) {}

    private final double damping;
    private final double maxStep;
    private final double gain;
    private final double beta;
    private final double lambdaMax;

    /**
     * @param damping d ∈ (0, 1]
     * @param maxStep the largest |Δλ_k| of one step (&gt; 0)
     * @param gain the fallback's loop-gain bound, in (0, 1)
     * @param beta the KL weight β (scales the assumed sensitivity)
     * @param lambdaMax the upper end of λ's box
     */
    public NewtonStep(double damping, double maxStep, double gain, double beta, double lambdaMax) {
        if (!(damping > 0 && damping <= 1)) {
            throw new IllegalArgumentException("damping must be in (0, 1], got " + damping);
        }
        if (!(maxStep > 0) || !Double.isFinite(maxStep)) {
            throw new IllegalArgumentException("max step must be a finite number > 0, got " + maxStep);
        }
        if (!(gain > 0 && gain < 1)) {
            throw new IllegalArgumentException("gain must be in (0, 1), got " + gain);
        }
        if (!(beta > 0) || !(lambdaMax > 0)) {
            throw new IllegalArgumentException("beta and lambdaMax must be > 0, got " + beta + ", " + lambdaMax);
        }
        this.damping = damping;
        this.maxStep = maxStep;
        this.gain = gain;
        this.beta = beta;
        this.lambdaMax = lambdaMax;
    }

    /**
     * One step.
     *
     * @param lambda current λ (finite, ≥ 0)
     * @param estimate ĝ_k, the measured mean utility of the version
     * @param targets what λ aims at (margins plus headroom)
     * @param sensitivity S, k×k row-major (symmetric), or null when unknown
     * @throws IllegalArgumentException on a non-finite estimate, an invalid λ or mismatched lengths
     */
    public Result step(double[] lambda, double[] estimate, double[] targets, double[] sensitivity) {
        int k = lambda.length;
        if (estimate.length != k || targets.length != k || (sensitivity != null && sensitivity.length != k * k)) {
            throw new IllegalArgumentException("lambda, estimate, targets (k) and sensitivity (k×k) must agree in size");
        }
        double[] u = new double[k];
        for (int c = 0; c < k; c++) {
            if (!Double.isFinite(estimate[c])) {
                throw new IllegalArgumentException("refusing a non-finite constraint estimate " + estimate[c]
                        + " for constraint " + c);
            }
            if (!Double.isFinite(lambda[c]) || lambda[c] < 0) {
                throw new IllegalArgumentException("lambda must be finite and ≥ 0, got " + lambda[c]);
            }
            u[c] = estimate[c] - targets[c];
        }
        double[] delta = usable(sensitivity, k) ? Cholesky.solve(sensitivity, u, k, 0) : null;
        boolean newton = delta != null;
        if (newton) {
            for (int c = 0; c < k; c++) {
                delta[c] *= -damping;
            }
        } else {
            delta = new double[k];
            double floor = ASSUMED_VARIANCE / beta;
            for (int c = 0; c < k; c++) {
                double s = sensitivity == null || !Double.isFinite(sensitivity[c * k + c]) ? floor
                        : Math.max(floor, sensitivity[c * k + c]);
                delta[c] = -gain / s * u[c];
            }
        }
        double longest = 0;
        for (double v : delta) {
            longest = Math.max(longest, Math.abs(v));
        }
        double scale = longest > maxStep ? maxStep / longest : 1;
        double[] next = new double[k];
        for (int c = 0; c < k; c++) {
            next[c] = Math.min(lambdaMax, Math.max(0, lambda[c] + scale * delta[c]));
        }
        return new Result(next, newton);
    }

    private static boolean usable(double[] s, int k) {
        if (s == null) {
            return false;
        }
        for (double v : s) {
            if (!Double.isFinite(v)) {
                return false;
            }
        }
        for (int c = 0; c < k; c++) {
            if (!(s[c * k + c] >= MIN_SENSITIVITY)) {
                return false;
            }
        }
        return true;
    }
}
