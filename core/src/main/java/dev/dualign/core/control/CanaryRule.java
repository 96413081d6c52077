package dev.dualign.core.control;

import dev.dualign.core.event.Estimate;
import java.util.Map;

/**
 * Judges a canary from the job's estimate of its utilities: roll back as soon as any margin is
 * violated with confidence (upper bound &lt; b); promote when every margin is met with confidence
 * (lower bound ≥ b) on at least {@code nMin} samples each; else hold. The judge looks again at
 * every estimate, so it must be given the anytime-valid, union-bounded {@link
 * dev.dualign.core.event.VersionEstimate#bounds() bounds}: a fixed-n interval examined every 25
 * samples promotes a version exactly at the margin far more often than its level says
 * (docs/experiments.md, "canary").
 */
public final class CanaryRule {
    /** What to do with the canary. */
    public enum Verdict { PROMOTE, ROLLBACK, HOLD }

    /** The verdict and the evidence behind it, in words for the version timeline. */
    public record CanaryDecision(Verdict verdict, String reason) {}

    private CanaryRule() {}

    /**
     * @param margins utility name → margin b
     * @param estimates utility name → the canary's anytime-valid bound (a missing one means hold)
     * @param nMin samples each estimate needs before a promotion
     * @param source where the estimate comes from, for the reason
     */
    public static CanaryDecision judge(Map<String, Double> margins, Map<String, Estimate> estimates, long nMin,
            String source) {
        boolean allMet = true;
        StringBuilder met = new StringBuilder("every margin met with confidence (" + source + "):");
        for (Map.Entry<String, Double> m : margins.entrySet()) {
            Estimate e = estimates.get(m.getKey());
            if (e == null) {
                allMet = false;
                continue;
            }
            if (e.hi() < m.getValue()) {
                return new CanaryDecision(Verdict.ROLLBACK, String.format("%s %.3f [%.3f, %.3f] below margin %.3f with "
                        + "confidence (%s, n=%d)", m.getKey(), e.mean(), e.lo(), e.hi(), m.getValue(), source, e.n()));
            }
            if (e.lo() < m.getValue() || e.n() < nMin) {
                allMet = false;
            }
            met.append(String.format(" %s [%.3f, %.3f] ≥ %.3f", m.getKey(), e.lo(), e.hi(), m.getValue()));
        }
        return allMet ? new CanaryDecision(Verdict.PROMOTE, met.toString())
                : new CanaryDecision(Verdict.HOLD, "no margin decided with confidence yet (" + source + ")");
    }
}
