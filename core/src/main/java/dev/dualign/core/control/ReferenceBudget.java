package dev.dualign.core.control;

/**
 * How much of a server's generation the reference samples for the one-shot solve may take: a
 * share of its time, spent off the users' request path, and only until the solve has the prompts
 * it needs. Before it, a server that had not seen λ(0) spent 4.8 extra generations per request on
 * them for as long as λ(0) did not come (the job not started, down, or the server restarted).
 * Pure and clock-free: the caller passes the time.
 */
public final class ReferenceBudget {
    private final double share;
    private final long burstNanos;
    private final long targetPrompts;
    private double credit;
    private long last;
    private long sampledPrompts;

    /**
     * @param share the share of wall time reference generation may use, in (0, 1]
     * @param burstNanos the most unused time that may be saved up and spent at once
     * @param targetPrompts prompts the one-shot solve needs; once that many are sampled it stops
     * @param now the time, in nanoseconds, credit starts to accrue
     */
    public ReferenceBudget(double share, long burstNanos, long targetPrompts, long now) {
        if (!(share > 0 && share <= 1)) {
            throw new IllegalArgumentException("the reference share must be in (0, 1], got " + share);
        }
        if (burstNanos < 0 || targetPrompts < 1) {
            throw new IllegalArgumentException("burst must be ≥ 0 and the target ≥ 1 prompt, got " + burstNanos + ", " + targetPrompts);
        }
        this.share = share;
        this.burstNanos = burstNanos;
        this.targetPrompts = targetPrompts;
        this.last = now;
    }

    /** Nanoseconds to wait before the next reference generation may start; 0: now. */
    public synchronized long waitNanos(long now) {
        accrue(now);
        return credit >= 0 ? 0 : (long) Math.ceil(-credit / share);
    }

    /** A reference generation for {@code prompts} prompts took {@code nanos}, ending at {@code now}. */
    public synchronized void spent(long now, long nanos, int prompts) {
        accrue(now);
        credit -= nanos;
        sampledPrompts += prompts;
    }

    /** Whether the one-shot solve has the prompts it needs from this server. */
    public synchronized boolean done() {
        return sampledPrompts >= targetPrompts;
    }

    public synchronized long sampledPrompts() {
        return sampledPrompts;
    }

    private void accrue(long now) {
        if (now > last) {
            credit = Math.min(burstNanos, credit + share * (now - last));
            last = now;
        }
    }
}
