package dev.dualign.service;

/**
 * How long a Kafka session that failed waits before it starts again: 1 s, doubling to 30 s, and
 * back to 1 s once a session had worked for a minute. Shared by the policy server's loops and the
 * fine-tuner, so a broker outage is ridden out the same way everywhere.
 */
public final class Backoff {
    static final long FIRST_MS = 1000;
    static final long MAX_MS = 30_000;
    static final long WORKED_MS = 60_000;

    private long next = FIRST_MS;

    /** The wait before the next session, after one that ran for {@code ranMs} and failed. */
    public long after(long ranMs) {
        if (ranMs > WORKED_MS) {
            next = FIRST_MS; // it had been working: start the backoff over
        }
        long wait = next;
        next = Math.min(MAX_MS, next * 2);
        return wait;
    }

    /** Sleeps {@code ms}; false when interrupted (the interrupt is kept for the caller). */
    public static boolean sleep(long ms) {
        try {
            Thread.sleep(ms);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
