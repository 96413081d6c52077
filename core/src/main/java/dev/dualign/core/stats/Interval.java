package dev.dualign.core.stats;

/**
 * A confidence interval for a mean, with the point estimate and the count it rests on.
 *
 * @param mean the point estimate
 * @param lo lower bound
 * @param hi upper bound
 * @param n observations
 */
public record Interval(double mean, double lo, double hi, long n) {
    public double halfWidth() {
        return (hi - lo) / 2;
    }

    /** Wholly below {@code margin}: a violation with confidence. */
    public boolean below(double margin) {
        return hi < margin;
    }

    /** Wholly at or above {@code margin}: the margin is met with confidence. */
    public boolean atLeast(double margin) {
        return lo >= margin;
    }
}
