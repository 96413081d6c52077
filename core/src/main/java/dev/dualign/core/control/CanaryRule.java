package dev.dualign.core.control;

import dev.dualign.core.event.Estimate;
import java.util.Map;

/**
 * Judges a canary from the job's estimate of its utilities: roll back as soon as any margin is
 * violated with confidence (upper bound &lt; b); promote when every margin is met with confidence
 * (lower bound ≥ b) on at least {@code nMin} samples each; else hold. With the stable version's
 * reward bound it also refuses a canary that is clearly worse on reward (a non-inferiority test,
 * {@link #judge(Map, Map, long, String, Estimate, Estimate, double)}). The judge looks again at
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

    /**
     * The constraint test above, and beside it a non-inferiority test on reward against the stable
     * version (decision 27): with [lo_c, hi_c] and [lo_s, hi_s] the anytime-valid bounds of the
     * canary's and the stable version's mean reward, the difference Δ = reward_canary −
     * reward_stable lies in [lo_c − hi_s, hi_c − lo_s] whenever both do, so at every look at once
     * (the levels add: the caller reads each bound at its share of α). Three ways, like a margin:
     * roll back when Δ's upper bound is below −δ (clearly worse on reward), count reward as met
     * when Δ's lower bound is ≥ −δ on n-min samples of each, else hold. A canary is promoted only
     * when every margin and reward are met; a violated margin is reported first.
     *
     * @param canaryReward the canary's anytime-valid reward bound, or null (hold)
     * @param stableReward the stable version's anytime-valid reward bound, or null (hold)
     * @param rewardMargin δ ≥ 0, the reward the canary may lose against the stable version
     */
    public static CanaryDecision judge(Map<String, Double> margins, Map<String, Estimate> estimates, long nMin, String source,
            Estimate canaryReward, Estimate stableReward, double rewardMargin) {
        if (!(rewardMargin >= 0) || !Double.isFinite(rewardMargin)) {
            throw new IllegalArgumentException("reward margin must be a finite number ≥ 0, got " + rewardMargin);
        }
        CanaryDecision constraints = judge(margins, estimates, nMin, source);
        if (constraints.verdict() == Verdict.ROLLBACK) {
            return constraints;
        }
        if (canaryReward == null || stableReward == null) {
            return new CanaryDecision(Verdict.HOLD, constraints.verdict() == Verdict.PROMOTE ? constraints.reason()
                    + "; but no reward bound of the " + (canaryReward == null ? "canary" : "stable version") + " yet"
                    : constraints.reason());
        }
        double lo = canaryReward.lo() - stableReward.hi();
        double hi = canaryReward.hi() - stableReward.lo();
        String diff = String.format("reward %.3f vs stable %.3f, difference [%.3f, %.3f] (%s, n=%d/%d)", canaryReward.mean(),
                stableReward.mean(), lo, hi, source, canaryReward.n(), stableReward.n());
        if (hi < -rewardMargin) {
            return new CanaryDecision(Verdict.ROLLBACK, diff + " below −" + fmt(rewardMargin) + " with confidence: worse than the "
                    + "stable version on reward");
        }
        boolean rewardMet = lo >= -rewardMargin && canaryReward.n() >= nMin && stableReward.n() >= nMin;
        if (constraints.verdict() == Verdict.PROMOTE && rewardMet) {
            return new CanaryDecision(Verdict.PROMOTE, constraints.reason() + "; " + diff + " ≥ −" + fmt(rewardMargin));
        }
        return new CanaryDecision(Verdict.HOLD, constraints.verdict() == Verdict.PROMOTE
                ? "every margin met with confidence, reward not yet shown non-inferior: " + diff + " vs −" + fmt(rewardMargin)
                : constraints.reason());
    }

    /**
     * The version a canary is compared with on reward: the newest version the job has promoted, and
     * before any promotion the oldest version it has seen an estimate of (the version that served
     * before the first canary: a canary is always newer than the stable version it runs beside).
     *
     * @param newestPromoted the newest version promoted so far, or null when none was
     * @param oldestSeen the oldest version with an estimate, or null when none was seen
     * @return the stable version, or null when neither is known
     */
    public static Long stableVersion(Long newestPromoted, Long oldestSeen) {
        return newestPromoted != null ? newestPromoted : oldestSeen;
    }

    /**
     * The judge the job applies to one version's estimate: a version newer than the stable one is a
     * canary and gets the constraint and reward tests ({@link #judge(Map, Map, long, String, Estimate,
     * Estimate, double)}, reward read from both versions' {@code bounds}); the stable version itself
     * and older ones have nothing to be compared with and get the constraint test alone, as before.
     *
     * @param version the version judged
     * @param bounds its anytime-valid bounds: each constraint's, and the reward's under
     *     {@link dev.dualign.core.event.VersionEstimate#REWARD}
     * @param stableVersion the stable version ({@link #stableVersion}), or null when unknown (hold)
     * @param stableReward the stable version's anytime-valid reward bound, or null when none yet (hold)
     */
    public static CanaryDecision judgeVersion(Map<String, Double> margins, long version, Map<String, Estimate> bounds, long nMin,
            String source, Long stableVersion, Estimate stableReward, double rewardMargin) {
        if (stableVersion != null && version <= stableVersion) {
            return judge(margins, bounds, nMin, source);
        }
        String against = stableVersion == null ? source : source + ", against stable version " + stableVersion;
        return judge(margins, bounds, nMin, against, bounds.get(dev.dualign.core.event.VersionEstimate.REWARD), stableReward,
                rewardMargin);
    }

    private static String fmt(double v) {
        return String.format("%.3f", v);
    }
}
