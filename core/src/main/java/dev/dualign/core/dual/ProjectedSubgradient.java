package dev.dualign.core.dual;

/**
 * The iterative dual step (CAID; also the primal-dual baseline):
 * λ_k ← min(λ_max, [λ_k − η_t·(ĝ_k − b_k)]₊), where ĝ_k is a constraint estimate measured on the
 * traffic of one policy version. A non-finite estimate is refused, so λ is never NaN or negative.
 */
public final class ProjectedSubgradient {
    /** How η shrinks with the step number t = 1, 2, …. */
    public enum Schedule {
        /** η_t = η₀. */
        CONSTANT,
        /** η_t = η₀ / √t, the classical rate for subgradient methods. */
        INVERSE_SQRT;

        double eta(double eta0, long t) {
            return this == CONSTANT ? eta0 : eta0 / Math.sqrt(t);
        }
    }

    private final double eta0;
    private final Schedule schedule;
    private final double lambdaMax;

    public ProjectedSubgradient(double eta0, Schedule schedule, double lambdaMax) {
        if (!(eta0 > 0) || !Double.isFinite(eta0)) {
            throw new IllegalArgumentException("step size eta must be a positive finite number, got " + eta0);
        }
        if (!(lambdaMax > 0)) {
            throw new IllegalArgumentException("lambdaMax must be > 0, got " + lambdaMax);
        }
        this.eta0 = eta0;
        this.schedule = java.util.Objects.requireNonNull(schedule, "schedule");
        this.lambdaMax = lambdaMax;
    }

    /**
     * One step.
     *
     * @param lambda current λ (finite, ≥ 0)
     * @param estimate ĝ_k, the measured mean utility of the version
     * @param margins b_k
     * @param t the step number, from 1
     * @return the new λ (a fresh array)
     * @throws IllegalArgumentException on a non-finite estimate or an invalid λ
     */
    public double[] step(double[] lambda, double[] estimate, double[] margins, long t) {
        if (lambda.length != estimate.length || lambda.length != margins.length) {
            throw new IllegalArgumentException("lambda, estimate and margins must have the same length");
        }
        if (t < 1) {
            throw new IllegalArgumentException("step number t starts at 1, got " + t);
        }
        double eta = schedule.eta(eta0, t);
        double[] next = new double[lambda.length];
        for (int c = 0; c < lambda.length; c++) {
            if (!Double.isFinite(estimate[c])) {
                throw new IllegalArgumentException("refusing a non-finite constraint estimate " + estimate[c]
                        + " for constraint " + c);
            }
            if (!Double.isFinite(lambda[c]) || lambda[c] < 0) {
                throw new IllegalArgumentException("lambda must be finite and ≥ 0, got " + lambda[c]);
            }
            double v = lambda[c] - eta * (estimate[c] - margins[c]);
            next[c] = Double.isFinite(v) ? Math.min(lambdaMax, Math.max(0, v)) : (v > 0 ? lambdaMax : 0);
        }
        return next;
    }

    public double eta(long t) {
        return schedule.eta(eta0, t);
    }
}
