package dev.dualign.core.dual;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Finite-sample honesty for λ*: resamples prompts with replacement (as multiplicities, so no data
 * is copied), re-solves warm-started at λ*, and reports percentile intervals for each λ*_k.
 * Resamples on which a margin is infeasible are counted, not hidden.
 */
public final class DualBootstrap {
    private DualBootstrap() {}

    /**
     * @param lo lower percentile bound per constraint
     * @param hi upper percentile bound per constraint
     * @param resamples resamples asked for
     * @param infeasible resamples on which the margins could not be met (excluded from the bounds)
     * @param confidence the two-sided level, e.g. 0.95
     */
    public record Result(List<String> names, double[] lo, double[] hi, int resamples, int infeasible,
            double confidence) {}

    public static Result run(DualSolver solver, DualProblem p, DualSolution at, int resamples,
            double confidence, long seed) {
        if (resamples < 1) {
            throw new IllegalArgumentException("bootstrap resamples must be ≥ 1, got " + resamples);
        }
        if (!(confidence > 0 && confidence < 1)) {
            throw new IllegalArgumentException("confidence must be in (0, 1), got " + confidence);
        }
        int m = p.prompts();
        int k = p.constraints();
        SplittableRandom rnd = new SplittableRandom(seed);
        double[][] draws = new double[k][resamples];
        int ok = 0;
        int infeasible = 0;
        double[] weights = new double[m];
        for (int b = 0; b < resamples; b++) {
            Arrays.fill(weights, 0);
            for (int i = 0; i < m; i++) {
                weights[rnd.nextInt(m)] += 1;
            }
            try {
                DualSolution s = solver.solve(p, weights, at.lambda());
                for (int c = 0; c < k; c++) {
                    draws[c][ok] = s.lambda()[c];
                }
                ok++;
            } catch (InfeasibleException e) {
                infeasible++;
            }
        }
        double[] lo = new double[k];
        double[] hi = new double[k];
        for (int c = 0; c < k; c++) {
            if (ok == 0) {
                lo[c] = Double.NaN;
                hi[c] = Double.NaN;
                continue;
            }
            double[] d = Arrays.copyOf(draws[c], ok);
            Arrays.sort(d);
            double a = (1 - confidence) / 2;
            lo[c] = quantile(d, a);
            hi[c] = quantile(d, 1 - a);
        }
        return new Result(p.names(), lo, hi, resamples, infeasible, confidence);
    }

    /** Linear interpolation between order statistics (type 7, as numpy's default). */
    static double quantile(double[] sorted, double q) {
        double pos = q * (sorted.length - 1);
        int i = (int) Math.floor(pos);
        int j = Math.min(i + 1, sorted.length - 1);
        double f = pos - i;
        return sorted[i] * (1 - f) + sorted[j] * f;
    }
}
