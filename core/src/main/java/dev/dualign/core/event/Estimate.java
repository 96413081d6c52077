package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.dualign.core.stats.Interval;

/**
 * A mean with its confidence interval and count, as published in {@link DualUpdate} and {@link Alert}.
 *
 * @param mean point estimate
 * @param lo lower confidence bound
 * @param hi upper confidence bound
 * @param n observations
 */
@JsonPropertyOrder({"mean", "lo", "hi", "n"})
public record Estimate(double mean, double lo, double hi, long n) {
    public Estimate {
        if (!Double.isFinite(mean)) {
            throw new InvalidEventException("mean", "must be finite, got " + mean);
        }
        if (Double.isNaN(lo) || Double.isNaN(hi) || lo > hi) {
            throw new InvalidEventException("lo", "interval must satisfy lo ≤ hi, got [" + lo + ", " + hi + "]");
        }
        if (n < 0) {
            throw new InvalidEventException("n", "must be ≥ 0, got " + n);
        }
    }

    public static Estimate of(Interval i) {
        return new Estimate(i.mean(), i.lo(), i.hi(), i.n());
    }

    static Estimate fromJson(String field, JsonFields f) {
        try {
            return new Estimate(f.requireFinite("mean"), f.requireFinite("lo"), f.requireFinite("hi"), f.requireLong("n"));
        } catch (InvalidEventException e) {
            throw new InvalidEventException(field + "." + (e.field() == null ? "" : e.field()),
                    e.getMessage().replaceFirst("^field '[^']*': ", ""));
        }
    }
}
