package dev.dualign.core.stats;

/**
 * Confidence bounds for the mean of a stream, computed from mergeable {@link RunningStats}.
 *
 * <ul>
 *   <li>{@link #normal}: mean ± z·s/√n. Valid at one fixed n, asymptotically; cheap and familiar.
 *   <li>{@link #empiricalBernstein}: an anytime-valid confidence sequence for observations in a
 *       known range [a, b] (Howard, Ramdas, McAuliffe, Sekhon 2021, Theorem 4 with the polynomial
 *       stitching boundary of Theorem 1). It stays valid however often it is looked at, which is
 *       what a controller that checks "tight enough yet?" after every record needs.
 * </ul>
 *
 * <p>Theorem 4 allows any predictable centre X̂; we use a fixed one (the middle of the range by
 * default), so the variance process V = Σ(X − X̂)² = M2 + n·(mean − X̂)² is computed from the
 * mergeable state exactly.
 */
public final class ConfidenceBounds {
    /** Stitching parameters recommended by Howard et al. */
    static final double ETA = 2.0;
    static final double S = 1.4;

    private ConfidenceBounds() {}

    /** Two-sided normal-approximation interval at level {@code 1 − alpha}. */
    public static Interval normal(RunningStats s, double alpha) {
        checkAlpha(alpha);
        long n = s.n();
        if (n < 2) {
            return new Interval(s.mean(), Double.NEGATIVE_INFINITY, Double.POSITIVE_INFINITY, n);
        }
        double half = Normal.quantile(1 - alpha / 2) * Math.sqrt(s.variance() / n);
        return new Interval(s.mean(), s.mean() - half, s.mean() + half, n);
    }

    /**
     * Anytime-valid two-sided empirical-Bernstein confidence sequence at level {@code 1 − alpha}
     * for observations known to lie in [{@code lo}, {@code hi}].
     *
     * @param vMin intrinsic time at which the boundary is tightest, in units of squared range
     *     ({@code vMin · (hi − lo)²}); 1 is a reasonable default
     */
    public static Interval empiricalBernstein(RunningStats s, double alpha, double lo, double hi, double vMin) {
        checkAlpha(alpha);
        if (!(hi > lo)) {
            throw new IllegalArgumentException("range must satisfy lo < hi, got [" + lo + ", " + hi + "]");
        }
        long n = s.n();
        if (n == 0) {
            return new Interval(Double.NaN, lo, hi, 0);
        }
        if (s.min() < lo || s.max() > hi) {
            throw new IllegalArgumentException("observations outside the declared range [" + lo + ", " + hi
                    + "]: saw [" + s.min() + ", " + s.max() + "]");
        }
        double c = hi - lo;
        double centre = (lo + hi) / 2;
        double d = s.mean() - centre;
        double v = s.m2() + n * d * d;
        double radius = polyStitching(v, alpha / 2, vMin * c * c, c, S, ETA) / n;
        return new Interval(s.mean(), Math.max(lo, s.mean() - radius), Math.min(hi, s.mean() + radius), n);
    }

    /**
     * The polynomial stitching boundary u(v): for a sub-gamma process S_t with variance process
     * V_t and scale c, P(∃t: S_t ≥ u(V_t)) ≤ alpha (Howard et al. 2021, Theorem 1).
     */
    static double polyStitching(double v, double alpha, double vMin, double c, double s, double eta) {
        double k1 = (Math.pow(eta, 0.25) + Math.pow(eta, -0.25)) / Math.sqrt(2);
        double k2 = (Math.sqrt(eta) + 1) / 2;
        double useV = Math.max(v, vMin);
        double ell = s * Math.log(Math.log(eta * useV / vMin))
                + Math.log(zeta(s) / Math.pow(Math.log(eta), s)) + Math.log(1 / alpha);
        double term2 = k2 * c * ell;
        return Math.sqrt(k1 * k1 * useV * ell + term2 * term2) + term2;
    }

    /** Riemann ζ(s) for s > 1 by Euler–Maclaurin (error far below 1e-10 for s ≥ 1.1). */
    static double zeta(double s) {
        if (!(s > 1)) {
            throw new IllegalArgumentException("zeta needs s > 1");
        }
        int n = 20;
        double sum = 0;
        for (int k = 1; k < n; k++) {
            sum += Math.pow(k, -s);
        }
        double nn = n;
        sum += Math.pow(nn, 1 - s) / (s - 1) + 0.5 * Math.pow(nn, -s);
        // Bernoulli terms B2/2!, B4/4!, B6/6!
        double t = s * Math.pow(nn, -s - 1);
        sum += t / 12;
        t *= (s + 1) * (s + 2) / (nn * nn);
        sum -= t / 720;
        t *= (s + 3) * (s + 4) / (nn * nn);
        sum += t / 30240;
        return sum;
    }

    private static void checkAlpha(double alpha) {
        if (!(alpha > 0 && alpha < 1)) {
            throw new IllegalArgumentException("alpha must be in (0, 1), got " + alpha);
        }
    }
}
