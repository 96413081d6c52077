package dev.dualign.service;

/**
 * A client's request budget: {@code perMinute} requests a minute on average, up to a burst of the
 * same number at once. Pure and clock-free (the caller passes the time), so its decisions are
 * unit-tested without waiting.
 */
public final class TokenBucket {
    private final double capacity;
    private final double perNano;
    private double tokens;
    private long last;

    /** @param perMinute requests a minute, ≥ 1 */
    public TokenBucket(int perMinute, long nowNanos) {
        if (perMinute < 1) {
            throw new IllegalArgumentException("a rate limit must be ≥ 1 request a minute, got " + perMinute);
        }
        this.capacity = perMinute;
        this.perNano = perMinute / 60e9;
        this.tokens = capacity;
        this.last = nowNanos;
    }

    /**
     * Takes one request's token if there is one.
     *
     * @return 0 when the request may go ahead; else the nanoseconds until a token is back (the
     *     request is refused and nothing is taken)
     */
    public synchronized long tryTake(long nowNanos) {
        if (nowNanos > last) {
            tokens = Math.min(capacity, tokens + (nowNanos - last) * perNano);
            last = nowNanos;
        }
        if (tokens >= 1) {
            tokens -= 1;
            return 0;
        }
        return Math.max(1, (long) Math.ceil((1 - tokens) / perNano));
    }
}
