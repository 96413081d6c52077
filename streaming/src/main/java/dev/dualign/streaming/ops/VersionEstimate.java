package dev.dualign.streaming.ops;

import dev.dualign.core.event.Estimate;
import java.util.Map;

/**
 * The running estimate of one policy version: each utility, the reward and the KL (mean of
 * log π − log π_ref), each with its interval.
 *
 * @param policyVersion the version
 * @param estimates name → estimate ({@code reward}, {@code kl} and every constraint utility)
 * @param n samples it rests on
 */
public record VersionEstimate(long policyVersion, Map<String, Estimate> estimates, long n) {
    public static final String REWARD = "reward";
    public static final String KL = "kl";
}
