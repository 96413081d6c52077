package dev.dualign.core.stats;

/**
 * A running anytime-valid confidence sequence for a mean that the job's decisions read until the
 * narrower {@link ConfidenceSequence} replaced it; kept as the baseline the {@code canary}
 * experiment measures that one against. It holds at level 1 − α simultaneously at every n.
 * Empirical Bernstein (Howard, Ramdas, McAuliffe,
 * Sekhon 2021, Theorem 4) with the predictable centre X̂_i = mean of the observations before i
 * (the middle of the range for the first), which keeps the variance process V = Σ(X_i − X̂_i)²
 * near n·σ² instead of n·(σ² + (μ − centre)²). Observations outside [lo, hi] are clipped when
 * added and counted: the guarantee is then for E[clip(X)].
 *
 * <p>Mutable, sequential (not mergeable: the centre depends on order); three numbers of state,
 * written and read by {@link #state()} and {@link #restore}, or updated in place by
 * {@link #add(double[], int, double, double, double)}.
 */
public final class StitchedConfidenceSequence {
    private final double lo;
    private final double hi;
    /** [n, mean, v]. */
    private final double[] st = new double[3];
    private long clipped;

    public StitchedConfidenceSequence(double lo, double hi) {
        if (!(hi > lo) || !Double.isFinite(lo) || !Double.isFinite(hi)) {
            throw new IllegalArgumentException("range must satisfy lo < hi, got [" + lo + ", " + hi + "]");
        }
        this.lo = lo;
        this.hi = hi;
    }

    /** Restores {@code [n, mean, v]} as written by {@link #state()}. */
    public static StitchedConfidenceSequence restore(double lo, double hi, double n, double mean, double v) {
        StitchedConfidenceSequence cs = new StitchedConfidenceSequence(lo, hi);
        cs.st[0] = n;
        cs.st[1] = mean;
        cs.st[2] = v;
        return cs;
    }

    /** Adds one observation, clipped into the range; returns whether it had to be clipped. */
    public boolean add(double x) {
        boolean clip = add(st, 0, lo, hi, x);
        if (clip) {
            clipped++;
        }
        return clip;
    }

    /**
     * Adds one observation to the state {@code [n, mean, v]} at {@code st[at..at+2]} in place (as
     * {@link #add(double)}, without an object per observation: the estimator's keyed state is a
     * primitive array updated on every sample).
     *
     * @return whether {@code x} had to be clipped into [lo, hi]
     */
    public static boolean add(double[] st, int at, double lo, double hi, double x) {
        if (!Double.isFinite(x)) {
            throw new IllegalArgumentException("refusing non-finite observation " + x);
        }
        boolean clip = x < lo || x > hi;
        double y = Math.max(lo, Math.min(hi, x));
        double centre = st[at] == 0 ? (lo + hi) / 2 : st[at + 1];
        st[at + 2] += (y - centre) * (y - centre);
        st[at] += 1;
        st[at + 1] += (y - st[at + 1]) / st[at];
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
        long n = n();
        if (n == 0) {
            return new Interval(Double.NaN, lo, hi, 0);
        }
        double mean = st[1];
        double c = hi - lo;
        double radius = ConfidenceBounds.polyStitching(st[2], alpha / 2, c * c, c, ConfidenceBounds.S, ConfidenceBounds.ETA) / n;
        return new Interval(mean, Math.max(lo, mean - radius), Math.min(hi, mean + radius), n);
    }

    /** {@code [n, mean, v]}: what {@link #restore} needs. */
    public double[] state() {
        return st.clone();
    }

    public long n() {
        return (long) st[0];
    }

    public double mean() {
        return st[0] == 0 ? Double.NaN : st[1];
    }

    /** Observations clipped into the range since this object was made (not part of the state). */
    public long clipped() {
        return clipped;
    }
}
