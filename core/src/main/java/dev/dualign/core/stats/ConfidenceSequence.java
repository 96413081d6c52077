package dev.dualign.core.stats;

/**
 * A running anytime-valid confidence sequence for a mean, the one every repeatedly examined
 * decision reads (promote, roll back, "violated"): it holds at level 1 − α simultaneously at every
 * n, so looking after each batch costs nothing. Empirical Bernstein (Howard, Ramdas, McAuliffe,
 * Sekhon 2021, Theorem 4) with the predictable centre X̂_i = mean of the observations before i
 * (the middle of the range for the first), which keeps the variance process V = Σ(X_i − X̂_i)²
 * near n·σ² instead of n·(σ² + (μ − centre)²). Observations outside [lo, hi] are clipped when
 * added and counted: the guarantee is then for E[clip(X)].
 *
 * <p>Mutable, sequential (not mergeable: the centre depends on order); three numbers of state,
 * written and read by {@link #state()} and {@link #restore}.
 */
public final class ConfidenceSequence {
    private final double lo;
    private final double hi;
    private long n;
    private double mean;
    private double v;
    private long clipped;

    public ConfidenceSequence(double lo, double hi) {
        if (!(hi > lo) || !Double.isFinite(lo) || !Double.isFinite(hi)) {
            throw new IllegalArgumentException("range must satisfy lo < hi, got [" + lo + ", " + hi + "]");
        }
        this.lo = lo;
        this.hi = hi;
    }

    /** Restores {@code [n, mean, v]} as written by {@link #state()}. */
    public static ConfidenceSequence restore(double lo, double hi, double n, double mean, double v) {
        ConfidenceSequence cs = new ConfidenceSequence(lo, hi);
        cs.n = (long) n;
        cs.mean = mean;
        cs.v = v;
        return cs;
    }

    /** Adds one observation, clipped into the range; returns whether it had to be clipped. */
    public boolean add(double x) {
        if (!Double.isFinite(x)) {
            throw new IllegalArgumentException("refusing non-finite observation " + x);
        }
        boolean clip = x < lo || x > hi;
        double y = Math.max(lo, Math.min(hi, x));
        double centre = n == 0 ? (lo + hi) / 2 : mean;
        v += (y - centre) * (y - centre);
        n++;
        mean += (y - mean) / n;
        if (clip) {
            clipped++;
        }
        return clip;
    }

    /**
     * The two-sided interval at level {@code 1 − alpha}, valid at every n at once. For m
     * constraints decided together pass α/m (a union bound).
     */
    public Interval interval(double alpha) {
        if (!(alpha > 0 && alpha < 1)) {
            throw new IllegalArgumentException("alpha must be in (0, 1), got " + alpha);
        }
        if (n == 0) {
            return new Interval(Double.NaN, lo, hi, 0);
        }
        double c = hi - lo;
        double radius = ConfidenceBounds.polyStitching(v, alpha / 2, c * c, c, ConfidenceBounds.S, ConfidenceBounds.ETA) / n;
        return new Interval(mean, Math.max(lo, mean - radius), Math.min(hi, mean + radius), n);
    }

    /** {@code [n, mean, v]}: what {@link #restore} needs. */
    public double[] state() {
        return new double[] {n, mean, v};
    }

    public long n() {
        return n;
    }

    public double mean() {
        return n == 0 ? Double.NaN : mean;
    }

    /** Observations clipped into the range since this object was made (not part of the state). */
    public long clipped() {
        return clipped;
    }
}
