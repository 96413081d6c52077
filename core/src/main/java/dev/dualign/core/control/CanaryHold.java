package dev.dualign.core.control;

/**
 * When a newly fine-tuned version may take the canary slot. The iterative loop makes versions
 * faster than an anytime-valid judge can decide a canary (a tight estimate for λ needs ~300
 * samples, a promotion ~1,000+), so replacing the canary on every new version retires each one
 * undecided and nothing after the first is ever promoted. A new version therefore waits while
 * the canary is undecided and younger than {@code holdMs}; it takes the slot as soon as the
 * canary is decided (promoted or rolled back), or when the hold ends — the wait is bounded.
 * Only the newest waiting version is kept.
 */
public final class CanaryHold {
    private CanaryHold() {}

    /**
     * @param canarySince when the current canary took the slot, or −1 when there is none
     * @param now the time now, same clock
     * @param holdMs the longest an undecided canary keeps its slot against a newer version (0: never)
     * @return whether a waiting version may be deployed now
     */
    public static boolean mayReplace(long canarySince, long now, long holdMs) {
        if (holdMs < 0) {
            throw new IllegalArgumentException("hold must be ≥ 0 ms, got " + holdMs);
        }
        return canarySince < 0 || now - canarySince >= holdMs;
    }

    /** When a version waiting behind a canary that took the slot at {@code canarySince} is due at the latest. */
    public static long dueAt(long canarySince, long holdMs) {
        return canarySince < 0 ? Long.MIN_VALUE : canarySince + holdMs;
    }
}
