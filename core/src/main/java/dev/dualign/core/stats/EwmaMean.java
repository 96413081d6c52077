package dev.dualign.core.stats;

/**
 * Exponentially weighted mean with weight (1 − α)^age on each observation, normalised by the total
 * weight (so it is unbiased from the first observation). Keeps the weighted sum and the weight
 * apart, which makes two partial estimators over consecutive stretches merge exactly.
 */
public final class EwmaMean {
    private final double alpha;
    private double sum;
    private double weight;
    private long n;

    public EwmaMean(double alpha) {
        if (!(alpha > 0 && alpha <= 1)) {
            throw new IllegalArgumentException("EWMA alpha must be in (0, 1], got " + alpha);
        }
        this.alpha = alpha;
    }

    public EwmaMean add(double x) {
        if (!Double.isFinite(x)) {
            throw new IllegalArgumentException("refusing non-finite observation " + x);
        }
        sum = (1 - alpha) * sum + x;
        weight = (1 - alpha) * weight + 1;
        n++;
        return this;
    }

    /**
     * Appends {@code later}, a stretch observed after this one: every observation of this one ages
     * by {@code later.n()}.
     */
    public EwmaMean mergeLater(EwmaMean later) {
        if (later.alpha != alpha) {
            throw new IllegalArgumentException("cannot merge EWMAs with different alpha");
        }
        double decay = Math.pow(1 - alpha, later.n);
        sum = decay * sum + later.sum;
        weight = decay * weight + later.weight;
        n += later.n;
        return this;
    }

    public double mean() {
        return weight == 0 ? Double.NaN : sum / weight;
    }

    public long n() {
        return n;
    }

    public double alpha() {
        return alpha;
    }
}
