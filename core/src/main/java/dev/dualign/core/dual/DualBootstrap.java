package dev.dualign.core.dual;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Finite-sample honesty for λ*, for two different quantities:
 * <ul>
 *   <li>λ̂ at this K (samples per prompt): prompts resampled with replacement (as multiplicities,
 *       so no data is copied), re-solved warm-started; percentile interval {@code lo..hi}. It
 *       cannot see the finite-K bias: log of a K-sample mean is biased (Jensen), so λ̂ is off
 *       the infinite-K λ* that fine-tuning targets by O(1/K) however many prompts there are.
 *   <li>the infinite-K λ*: the same resampling of an extrapolated estimator. Each prompt's
 *       samples are thinned to K/2 (when K ≥ {@link #MIN_GROUP_TO_CORRECT}), λ̂ re-solved on each, and λ̂
 *       extrapolated to K → ∞ ({@link Extrapolation}); {@code bias} is λ̂ − that limit, and
 *       {@code limitLo..limitHi} the interval for λ*. Coverage of both, measured at K = 4, 16,
 *       64 on a Gaussian world whose λ* is known in closed form: docs/experiments.md, "lambda-ci".
 * </ul>
 * Resamples on which a margin is infeasible are counted, not hidden.
 */
public final class DualBootstrap {
    /** Thinned re-solves per level, averaged: the thinning's own noise would otherwise dominate. */
    public static final int DEFAULT_REPEATS = 2;
    /**
     * The fewest samples every prompt needs for a bias estimate: at K = 4 the K/2 = 2 solve is so
     * biased that extrapolating from it over-corrects (coverage 0.33–0.73 in the lambda-ci experiment).
     */
    public static final int MIN_GROUP_TO_CORRECT = 8;

    private DualBootstrap() {}

    /**
     * @param lo lower percentile bound of λ̂ at this K, per constraint
     * @param hi upper percentile bound of λ̂ at this K
     * @param resamples resamples asked for
     * @param infeasible resamples on which the margins could not be met (excluded from the bounds)
     * @param confidence the two-sided level, e.g. 0.95
     * @param meanK mean samples per prompt
     * @param bias estimated finite-K bias λ̂ − λ*(K = ∞) on the full data (NaN: too few samples per prompt)
     * @param limitLo lower bound for the infinite-K λ* (NaN: no extrapolation possible)
     * @param limitHi upper bound for the infinite-K λ*
     * @param levels the K's extrapolated from (K, K/2), empty when none
     */
    public record Result(List<String> names, double[] lo, double[] hi, int resamples, int infeasible,
            double confidence, double meanK, double[] bias, double[] limitLo, double[] limitHi, double[] levels) {}

    /**
     * How λ̂ is assumed to approach λ* as K grows. The delta method's 1/K holds once K is far
     * beyond e^{s²} (s: the spread of (r + λ·g)/β within a prompt); with heavier tails the bias
     * falls more slowly. Which one fits depends on the world: on a Gaussian world with s ≈ 2.6
     * 1/√K matched and 1/K under-corrected ("lambda-ci"); on the chat world's own policy and
     * scorers 1/K matched and 1/√K over-corrected by ≈ 0.1 at K = 16 ("oneshot-bias",
     * docs/experiments.md). The default is 1/K: under-correcting leaves λ a little high (a
     * slightly over-safe policy), over-correcting leaves it low (an unsafe one).
     */
    public enum Extrapolation {
        INVERSE_K(1.0),
        INVERSE_SQRT_K(0.5);

        final double exponent;

        Extrapolation(double exponent) {
            this.exponent = exponent;
        }
    }

    public static Result run(DualSolver solver, DualProblem p, DualSolution at, int resamples,
            double confidence, long seed) {
        return run(solver, p, at, resamples, confidence, seed, DEFAULT_REPEATS, Extrapolation.INVERSE_K,
                MIN_GROUP_TO_CORRECT);
    }

    /** @param minGroupToCorrect estimate the bias only when every prompt has at least this many samples (≥ 4) */
    public static Result run(DualSolver solver, DualProblem p, DualSolution at, int resamples,
            double confidence, long seed, int repeats, Extrapolation extrapolation, int minGroupToCorrect) {
        if (resamples < 1) {
            throw new IllegalArgumentException("bootstrap resamples must be ≥ 1, got " + resamples);
        }
        if (!(confidence > 0 && confidence < 1)) {
            throw new IllegalArgumentException("confidence must be in (0, 1), got " + confidence);
        }
        if (minGroupToCorrect < 4) {
            throw new IllegalArgumentException("thinning to half needs ≥ 4 samples per prompt, got " + minGroupToCorrect);
        }
        if (repeats < 1) {
            throw new IllegalArgumentException("repeats must be ≥ 1, got " + repeats);
        }
        int m = p.prompts();
        int k = p.constraints();
        SplittableRandom rnd = new SplittableRandom(seed);
        Levels levels = p.minGroup() >= minGroupToCorrect ? Levels.of(p, repeats, rnd) : null; // fixed thinnings
        double[] bias = new double[k];
        Arrays.fill(bias, Double.NaN);
        if (levels != null) {
            try {
                double[] limit = limit(solver, levels, null, at.lambda(), at.lambda(), extrapolation);
                for (int c = 0; c < k; c++) {
                    bias[c] = at.lambda()[c] - limit[c];
                }
            } catch (InfeasibleException e) {
                // a thinned problem cannot meet a margin: no bias estimate
            }
        }
        double[][] draws = new double[k][resamples];
        double[][] limitDraws = new double[k][resamples];
        int ok = 0;
        int okLimit = 0;
        int infeasible = 0;
        double[] weights = new double[m];
        for (int b = 0; b < resamples; b++) {
            Arrays.fill(weights, 0);
            for (int i = 0; i < m; i++) {
                weights[rnd.nextInt(m)] += 1;
            }
            DualSolution s;
            try {
                s = solver.solve(p, weights, at.lambda());
            } catch (InfeasibleException e) {
                infeasible++;
                continue;
            }
            for (int c = 0; c < k; c++) {
                draws[c][ok] = s.lambda()[c];
            }
            ok++;
            if (levels != null) {
                try {
                    double[] limit = limit(solver, levels, weights, s.lambda(), at.lambda(), extrapolation);
                    for (int c = 0; c < k; c++) {
                        limitDraws[c][okLimit] = limit[c];
                    }
                    okLimit++;
                } catch (InfeasibleException e) {
                    // counted by the limit interval resting on fewer resamples
                }
            }
        }
        double a = (1 - confidence) / 2;
        double[] lo = new double[k];
        double[] hi = new double[k];
        double[] limitLo = new double[k];
        double[] limitHi = new double[k];
        for (int c = 0; c < k; c++) {
            double[] d = sorted(draws[c], ok);
            double[] l = sorted(limitDraws[c], okLimit);
            lo[c] = ok == 0 ? Double.NaN : quantile(d, a);
            hi[c] = ok == 0 ? Double.NaN : quantile(d, 1 - a);
            limitLo[c] = okLimit == 0 ? Double.NaN : quantile(l, a);
            limitHi[c] = okLimit == 0 ? Double.NaN : quantile(l, 1 - a);
        }
        return new Result(p.names(), lo, hi, resamples, infeasible, confidence, (double) p.samples() / m, bias, limitLo,
                limitHi, levels != null ? levels.k() : new double[0]);
    }

    /**
     * The finite-K-corrected point estimate of the infinite-K λ* (no resampling): λ̂ re-solved on
     * K/2 samples per prompt ({@link #DEFAULT_REPEATS} thinnings, averaged) and extrapolated as
     * 1/K ({@link Extrapolation}); null when some prompt has fewer than {@link #MIN_GROUP_TO_CORRECT} samples.
     *
     * @throws InfeasibleException when a thinned problem cannot meet a margin
     */
    public static double[] corrected(DualSolver solver, DualProblem p, DualSolution at, long seed) {
        return corrected(solver, p, at, seed, Extrapolation.INVERSE_K);
    }

    /** As {@link #corrected(DualSolver, DualProblem, DualSolution, long)}, with another extrapolation. */
    public static double[] corrected(DualSolver solver, DualProblem p, DualSolution at, long seed, Extrapolation extrapolation) {
        if (p.minGroup() < MIN_GROUP_TO_CORRECT) {
            return null;
        }
        Levels levels = Levels.of(p, DEFAULT_REPEATS, new SplittableRandom(seed));
        return limit(solver, levels, null, at.lambda(), at.lambda(), extrapolation);
    }

    /**
     * The problems λ̂ is re-solved on besides the full one: {@code repeats} random thinnings to half
     * the samples per prompt; {@code k} holds the mean samples per prompt of the full and the half level.
     */
    private record Levels(DualProblem[] halves, double[] k) {
        static Levels of(DualProblem p, int repeats, SplittableRandom rnd) {
            DualProblem[] half = new DualProblem[repeats];
            for (int r = 0; r < repeats; r++) {
                half[r] = p.thinned(2, rnd.split());
            }
            return new Levels(half, new double[] {(double) p.samples() / p.prompts(), (double) half[0].samples() / p.prompts()});
        }
    }

    /** λ̂ at each level (the thinned ones averaged), extrapolated to K → ∞ and projected onto λ ≥ 0. */
    private static double[] limit(DualSolver solver, Levels levels, double[] weights, double[] atK, double[] warm,
            Extrapolation extrapolation) {
        int k = atK.length;
        double[] half = new double[k];
        for (DualProblem t : levels.halves()) {
            double[] l = solver.solve(t, weights, warm).lambda();
            for (int c = 0; c < k; c++) {
                half[c] += l[c] / levels.halves().length;
            }
        }
        double[] h = {Math.pow(levels.k()[0], -extrapolation.exponent), Math.pow(levels.k()[1], -extrapolation.exponent)};
        double[] out = new double[k];
        for (int c = 0; c < k; c++) {
            out[c] = Math.max(0, extrapolate(h, new double[] {atK[c], half[c]}));
        }
        return out;
    }

    /**
     * The value at h = 0 of the polynomial of degree n − 1 through the n points (h_i, y_i)
     * (Neville): Richardson extrapolation, first order from two levels.
     */
    static double extrapolate(double[] h, double[] y) {
        double[] p = y.clone();
        int n = h.length;
        for (int j = 1; j < n; j++) {
            for (int i = 0; i < n - j; i++) {
                p[i] = (h[i + j] * p[i] - h[i] * p[i + 1]) / (h[i + j] - h[i]);
            }
        }
        return p[0];
    }

    private static double[] sorted(double[] d, int n) {
        double[] s = Arrays.copyOf(d, n);
        Arrays.sort(s);
        return s;
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
