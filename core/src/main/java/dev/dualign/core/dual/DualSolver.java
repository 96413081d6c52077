package dev.dualign.core.dual;

import java.util.ArrayList;
import java.util.List;

/**
 * Exact one-shot dualization (MoCAN): minimises the empirical dual D(λ) over 0 ≤ λ ≤ λ_max by a
 * projected Newton method (Bertsekas 1982): Newton on the free coordinates, the ε-active ones sent
 * to their bound, Armijo backtracking along the projection arc. D is smooth and convex, so this
 * converges quadratically near λ* and needs only a handful of passes over the samples.
 *
 * <p>Stops when every coordinate of the projected gradient λ − P(λ − ∇D) is below
 * {@code tolerance} × (largest |g_k|).
 */
public final class DualSolver {
    private static final double ARMIJO = 1e-4;
    private static final int MAX_BACKTRACKS = 60;

    private final double tolerance;
    private final int maxIterations;
    private final double lambdaMax;

    public DualSolver() {
        this(1e-9, 500, Double.POSITIVE_INFINITY);
    }

    /**
     * @param tolerance projected-gradient tolerance relative to the scale of g
     * @param maxIterations Newton iterations before giving up with an error
     * @param lambdaMax upper bound on every λ_k ({@code +∞} for none)
     */
    public DualSolver(double tolerance, int maxIterations, double lambdaMax) {
        if (!(tolerance > 0)) {
            throw new IllegalArgumentException("tolerance must be > 0, got " + tolerance);
        }
        if (maxIterations < 1) {
            throw new IllegalArgumentException("maxIterations must be ≥ 1, got " + maxIterations);
        }
        if (!(lambdaMax > 0)) {
            throw new IllegalArgumentException("lambdaMax must be > 0, got " + lambdaMax);
        }
        this.tolerance = tolerance;
        this.maxIterations = maxIterations;
        this.lambdaMax = lambdaMax;
    }

    /**
     * The sensitivity of the tilted policy's expected utilities to λ at {@code lambda}:
     * S = dE_x E_{π_λ}[g]/dλ = E_x Cov_{π_λ}(g | x)/β, k×k row-major, the dual's Hessian. What the
     * {@linkplain NewtonStep Newton dual step} divides by.
     */
    public static double[] sensitivity(DualProblem p, double[] lambda) {
        if (lambda.length != p.k) {
            throw new IllegalArgumentException("lambda has " + lambda.length + " entries, the problem " + p.k + " constraints");
        }
        return DualEvaluation.evaluate(p, lambda, null, new double[DualEvaluation.maxGroup(p)]).hess.clone();
    }

    public DualSolution solve(DualProblem p) {
        return solve(p, null, null);
    }

    /**
     * @param promptWeights multiplicity of each prompt (bootstrap), or {@code null} for all ones
     * @param start warm start, or {@code null} for λ = 0
     * @throws InfeasibleException when some margin exceeds what the best responses reach
     */
    public DualSolution solve(DualProblem p, double[] promptWeights, double[] start) {
        final int k = p.k;
        checkFeasible(p, promptWeights);
        double[] tol = new double[k];
        double[] divergence = new double[k];
        double rRange = range(p.reward, 0, 1);
        for (int c = 0; c < k; c++) {
            tol[c] = tolerance * p.gScale(c);
            double gRange = range(p.g, c, k);
            // λ beyond which exp((r + λ·g)/β) puts all weight on the best response of every
            // prompt to double precision: a larger λ can only mean the margins conflict.
            divergence[c] = gRange > 0 ? 1e6 * (800 * p.beta + rRange) / gRange : Double.POSITIVE_INFINITY;
        }
        double[] scratch = new double[DualEvaluation.maxGroup(p)];
        double[] lambda = new double[k];
        if (start != null) {
            for (int c = 0; c < k; c++) {
                lambda[c] = clamp(Double.isFinite(start[c]) ? start[c] : 0);
            }
        }
        DualEvaluation ev = DualEvaluation.evaluate(p, lambda, promptWeights, scratch);
        // Trust region on the step (max-norm), starting at the natural scale of λ: the λ that moves
        // the exponent (r + λ·g)/β by as much as the spread of r does. Where the tilted policy is a
        // point mass the Hessian underflows and a Newton step is astronomically long; the region
        // keeps such steps sane and grows geometrically while steps succeed.
        double radius = 0;
        for (int c = 0; c < k; c++) {
            double gRange = range(p.g, c, k);
            radius = Math.max(radius, gRange > 0 ? (rRange + p.beta) / gRange : 1);
        }
        int iter = 0;
        int polish = 0;
        double pgNorm = projectedGradientNorm(lambda, ev.grad, tol);
        // Once within tolerance, one more Newton step (quadratic convergence) costs one pass and
        // takes λ to near machine precision.
        while (pgNorm > 1.0 || polish++ == 0 && pgNorm > 0 && iter > 0) {
            if (++iter > maxIterations) {
                throw new IllegalStateException("dual solve did not converge in " + maxIterations
                        + " iterations (relative projected gradient " + pgNorm + ")");
            }
            double[] dir = newtonDirection(lambda, ev, tol, pgNorm);
            double len = 0;
            for (double v : dir) {
                len = Math.max(len, Math.abs(v));
            }
            boolean capped = len > radius;
            if (capped) {
                for (int c = 0; c < k; c++) {
                    dir[c] *= radius / len;
                }
            }
            double[] trial = new double[k];
            DualEvaluation next = null;
            double alpha = 1;
            for (int bt = 0; bt < MAX_BACKTRACKS; bt++, alpha *= 0.5) {
                double decrease = 0;
                for (int c = 0; c < k; c++) {
                    trial[c] = clamp(lambda[c] + alpha * dir[c]);
                    decrease += ev.grad[c] * (trial[c] - lambda[c]);
                }
                if (decrease >= 0) {
                    continue;
                }
                DualEvaluation cand = DualEvaluation.evaluate(p, trial, promptWeights, scratch);
                if (cand.value <= ev.value + ARMIJO * decrease) {
                    next = cand;
                    break;
                }
                // Near λ* the decrease is below the rounding of D itself; then a step that
                // shrinks the projected gradient is progress the value cannot show.
                double noise = 1e-14 * (Math.abs(ev.value) + 1);
                if (cand.value <= ev.value + noise
                        && projectedGradientNorm(trial, cand.grad, tol) < pgNorm) {
                    next = cand;
                    break;
                }
            }
            if (next == null) {
                if (pgNorm <= 1.0) {
                    break; // polishing found nothing better: already at machine precision
                }
                if (pgNorm * tolerance <= 1e-7) {
                    break; // no representable step improves D: converged to machine precision
                }
                throw new IllegalStateException("dual solve stalled at λ=" + java.util.Arrays.toString(lambda)
                        + " with relative projected gradient " + pgNorm * tolerance);
            }
            if (alpha == 1 && capped) {
                radius *= 4;
            } else if (alpha < 1) {
                radius = Math.max(alpha * Math.min(len, radius), Double.MIN_NORMAL);
            }
            lambda = trial.clone();
            ev = next;
            pgNorm = projectedGradientNorm(lambda, ev.grad, tol);
            List<String> diverged = new ArrayList<>();
            for (int c = 0; c < k; c++) {
                if (lambda[c] > divergence[c]) {
                    diverged.add(p.names[c]);
                }
            }
            if (!diverged.isEmpty()) {
                throw new InfeasibleException(diverged, "the margins cannot all be met at once "
                        + "(λ grows without bound: each is attainable alone, not together)");
            }
        }
        List<String> atMax = new ArrayList<>();
        for (int c = 0; c < k; c++) {
            if (lambda[c] >= lambdaMax && ev.grad[c] < -tol[c]) {
                atMax.add(p.names[c]);
            }
        }
        return new DualSolution(p.names(), lambda, ev.value, ev.expectedG.clone(), ev.expectedR, iter,
                pgNorm * tolerance, List.copyOf(atMax), countPrompts(promptWeights, p), p.samples());
    }

    private static int countPrompts(double[] w, DualProblem p) {
        if (w == null) {
            return p.prompts();
        }
        int n = 0;
        for (double v : w) {
            n += v > 0 ? 1 : 0;
        }
        return n;
    }

    private void checkFeasible(DualProblem p, double[] weights) {
        double[] best = p.bestAttainable(weights);
        List<String> bad = new ArrayList<>();
        StringBuilder detail = new StringBuilder();
        for (int c = 0; c < p.k; c++) {
            if (best[c] < p.margins[c]) {
                bad.add(p.names[c]);
                if (detail.length() > 0) {
                    detail.append("; ");
                }
                detail.append(p.names[c]).append(": best attainable mean ").append(best[c])
                        .append(" < margin ").append(p.margins[c]);
            }
        }
        if (!bad.isEmpty()) {
            throw new InfeasibleException(bad, detail.toString());
        }
    }

    /** max_c |λ_c − P(λ_c − ∂_c D)| / tol_c. */
    private double projectedGradientNorm(double[] lambda, double[] grad, double[] tol) {
        double worst = 0;
        for (int c = 0; c < lambda.length; c++) {
            double pg = lambda[c] - clamp(lambda[c] - grad[c]);
            worst = Math.max(worst, Math.abs(pg) / tol[c]);
        }
        return worst;
    }

    private double[] newtonDirection(double[] lambda, DualEvaluation ev, double[] tol, double pgNorm) {
        int k = lambda.length;
        double[] dir = new double[k];
        boolean[] free = new boolean[k];
        int nFree = 0;
        for (int c = 0; c < k; c++) {
            double eps = Math.min(1e-3, pgNorm * tol[c]);
            boolean atLower = lambda[c] <= eps && ev.grad[c] > 0;
            boolean atUpper = lambda[c] >= lambdaMax - eps && ev.grad[c] < 0;
            if (atLower) {
                dir[c] = -lambda[c];
            } else if (atUpper) {
                dir[c] = lambdaMax - lambda[c];
            } else {
                free[c] = true;
                nFree++;
            }
        }
        if (nFree == 0) {
            return dir;
        }
        int[] idx = new int[nFree];
        for (int c = 0, j = 0; c < k; c++) {
            if (free[c]) {
                idx[j++] = c;
            }
        }
        double[] h = new double[nFree * nFree];
        double[] rhs = new double[nFree];
        double maxDiag = 0;
        for (int a = 0; a < nFree; a++) {
            rhs[a] = -ev.grad[idx[a]];
            for (int b = 0; b < nFree; b++) {
                h[a * nFree + b] = ev.hess[idx[a] * k + idx[b]];
            }
            maxDiag = Math.max(maxDiag, h[a * nFree + a]);
        }
        double mu = 0;
        double[] step = null;
        for (int attempt = 0; attempt < 40 && step == null; attempt++) {
            step = Cholesky.solve(h, rhs, nFree, mu);
            mu = mu == 0 ? Math.max(maxDiag, Double.MIN_NORMAL) * 1e-12 : mu * 10;
        }
        if (step == null) {
            // Hessian numerically zero (every prompt's tilted policy is a point mass): the dual
            // is linear here, so move along the gradient by a size that leaves the flat region.
            step = new double[nFree];
            for (int a = 0; a < nFree; a++) {
                step[a] = rhs[a] / Math.max(maxDiag, 1e-300);
            }
        }
        for (int a = 0; a < nFree; a++) {
            dir[idx[a]] = step[a];
        }
        return dir;
    }

    private double clamp(double v) {
        return v < 0 ? 0 : Math.min(v, lambdaMax);
    }

    private static double range(double[] v, int start, int stride) {
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        for (int i = start; i < v.length; i += stride) {
            lo = Math.min(lo, v[i]);
            hi = Math.max(hi, v[i]);
        }
        return hi - lo;
    }
}
