package dev.dualign.core.stats;

/**
 * Count, mean and variance of a stream in one pass (Welford), mergeable exactly (Chan et al.), so
 * partial estimates from parallel subtasks or checkpoints combine into the estimate of the whole.
 * Mutable and not thread-safe, like Flink state values.
 */
public final class RunningStats {
    private long n;
    private double mean;
    private double m2;
    private double min = Double.POSITIVE_INFINITY;
    private double max = Double.NEGATIVE_INFINITY;

    public RunningStats() {}

    /** Restores a snapshot written by {@link #n()}, {@link #mean()}, {@link #m2()}, min and max. */
    public static RunningStats of(long n, double mean, double m2, double min, double max) {
        RunningStats s = new RunningStats();
        s.n = n;
        s.mean = mean;
        s.m2 = m2;
        s.min = min;
        s.max = max;
        return s;
    }

    /** Adds one observation; a non-finite value is refused so it can never poison the mean. */
    public RunningStats add(double x) {
        if (!Double.isFinite(x)) {
            throw new IllegalArgumentException("refusing non-finite observation " + x);
        }
        n++;
        double d = x - mean;
        mean += d / n;
        m2 += d * (x - mean);
        min = Math.min(min, x);
        max = Math.max(max, x);
        return this;
    }

    /** Adds {@code other} into this one: the result equals the stats of both streams together. */
    public RunningStats merge(RunningStats other) {
        if (other.n == 0) {
            return this;
        }
        if (n == 0) {
            n = other.n;
            mean = other.mean;
            m2 = other.m2;
            min = other.min;
            max = other.max;
            return this;
        }
        long total = n + other.n;
        double d = other.mean - mean;
        mean += d * other.n / total;
        m2 += other.m2 + d * d * ((double) n * other.n / total);
        n = total;
        min = Math.min(min, other.min);
        max = Math.max(max, other.max);
        return this;
    }

    public RunningStats copy() {
        return of(n, mean, m2, min, max);
    }

    public long n() {
        return n;
    }

    public double mean() {
        return n == 0 ? Double.NaN : mean;
    }

    /** Sum of squared deviations from the mean. */
    public double m2() {
        return m2;
    }

    /** Unbiased sample variance (n − 1 in the denominator); NaN below two observations. */
    public double variance() {
        return n < 2 ? Double.NaN : Math.max(0, m2 / (n - 1));
    }

    public double min() {
        return min;
    }

    public double max() {
        return max;
    }

    @Override
    public String toString() {
        return "RunningStats{n=" + n + ", mean=" + mean + ", var=" + variance() + "}";
    }
}
