package dev.dualign.core.stats;

/**
 * The running anytime-valid confidence sequence every repeatedly examined decision reads (promote,
 * roll back, "violated"): it holds at level 1 − α at every n at once, so looking after each batch
 * costs nothing. It is the predictable plug-in empirical-Bernstein sequence of Waudby-Smith and
 * Ramdas (2023, "Estimating means of bounded random variables by betting", Theorem 2), which bets
 * more on the observations the smaller the running variance is. It is narrower than the stitched
 * empirical-Bernstein bound ({@link StitchedConfidenceSequence}) that decisions read before, so a
 * canary 0.05 above its margin is decided in about 40 % of the samples (docs/experiments.md,
 * {@code canary}; decision 21).
 *
 * <p>With z_i the observation rescaled from [lo, hi] to [0, 1], μ̂ and σ̂² the regularised running
 * mean and variance before i, the bet λ_i = min(1/2, √(2 log(2/α) / (σ̂² · i · log(1 + i)))) and
 * ψ(λ) = (−log(1 − λ) − λ)/4, the interval at n is
 * Σλ_i z_i / Σλ_i ± (log(2/α) + Σ 4(z_i − μ̂)² ψ(λ_i)) / Σλ_i. It is not intersected with the
 * earlier intervals (which the guarantee would allow): if a version's scores drift, an intersection
 * can stick to the old mean and hide a later violation. The bets are tuned to the α given at
 * construction, which is the level the interval is for. Observations outside [lo, hi] are clipped
 * when added and counted: the guarantee is then for E[clip(X)].
 *
 * <p>Mutable and sequential (the bets depend on order). Its {@link #SLOTS} numbers of state are
 * written and read by {@link #state()} and {@link #restore}, or updated in place by
 * {@link #add(double[], int, double, double, double, double)}.
 */
public final class ConfidenceSequence {
    /** Numbers of state: n, Σz, Σ(z − μ̂)², Σλ, Σλz, Σvψ(λ). */
    public static final int SLOTS = 6;
    /** WSR's truncation of the bets (they suggest 1/2 or 3/4). */
    static final double MAX_BET = 0.5;

    private final double lo;
    private final double hi;
    private final double alpha;
    private final double[] st;
    private long clipped;

    public ConfidenceSequence(double lo, double hi, double alpha) {
        check(lo, hi, alpha);
        this.lo = lo;
        this.hi = hi;
        this.alpha = alpha;
        this.st = new double[SLOTS];
    }

    /** Restores the state written by {@link #state()}. */
    public static ConfidenceSequence restore(double lo, double hi, double alpha, double[] state, int at) {
        ConfidenceSequence cs = new ConfidenceSequence(lo, hi, alpha);
        System.arraycopy(state, at, cs.st, 0, SLOTS);
        return cs;
    }

    /** Adds one observation, clipped into the range; returns whether it had to be clipped. */
    public boolean add(double x) {
        boolean clip = add(st, 0, lo, hi, alpha, x);
        if (clipped < Long.MAX_VALUE && clip) {
            clipped++;
        }
        return clip;
    }

    /**
     * Adds one observation to the state at {@code st[at .. at + SLOTS)} in place (as
     * {@link #add(double)}, without an object per observation: the estimator's keyed state is a
     * primitive array updated on every sample; zeros are the empty state).
     *
     * @return whether {@code x} had to be clipped into [lo, hi]
     */
    public static boolean add(double[] st, int at, double lo, double hi, double alpha, double x) {
        if (!Double.isFinite(x)) {
            throw new IllegalArgumentException("refusing non-finite observation " + x);
        }
        boolean clip = x < lo || x > hi;
        double z = (Math.max(lo, Math.min(hi, x)) - lo) / (hi - lo);
        double n = st[at];
        double muBefore = (0.5 + st[at + 1]) / (n + 1);
        double varBefore = (0.25 + st[at + 2]) / (n + 1);
        double t = n + 1;
        double bet = Math.min(MAX_BET, Math.sqrt(2 * Math.log(2 / alpha) / (varBefore * t * Math.log(1 + t))));
        double v = 4 * (z - muBefore) * (z - muBefore);
        st[at] = t;
        st[at + 1] += z;
        double muAfter = (0.5 + st[at + 1]) / (t + 1);
        st[at + 2] += (z - muAfter) * (z - muAfter);
        st[at + 3] += bet;
        st[at + 4] += bet * z;
        st[at + 5] += v * (-Math.log1p(-bet) - bet) / 4;
        return clip;
    }

    /** The two-sided interval at level 1 − α (the α given at construction), valid at every n at once. */
    public Interval interval() {
        long n = n();
        if (n == 0) {
            return new Interval(Double.NaN, lo, hi, 0);
        }
        double width = hi - lo;
        double centre = st[4] / st[3];
        double radius = (Math.log(2 / alpha) + st[5]) / st[3];
        // the mean shown with it is the plain one; the interval is centred on the bet-weighted mean
        return new Interval(lo + width * st[1] / st[0], lo + width * Math.max(0, centre - radius),
                lo + width * Math.min(1, centre + radius), n);
    }

    /** What {@link #restore} needs. */
    public double[] state() {
        return st.clone();
    }

    public long n() {
        return (long) st[0];
    }

    public double alpha() {
        return alpha;
    }

    /** Observations clipped into the range since this object was made (not part of the state). */
    public long clipped() {
        return clipped;
    }

    private static void check(double lo, double hi, double alpha) {
        if (!(hi > lo) || !Double.isFinite(lo) || !Double.isFinite(hi)) {
            throw new IllegalArgumentException("range must satisfy lo < hi, got [" + lo + ", " + hi + "]");
        }
        if (!(alpha > 0 && alpha < 1)) {
            throw new IllegalArgumentException("alpha must be in (0, 1), got " + alpha);
        }
    }
}
