package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.Map;
import java.util.Objects;

/**
 * The job's running estimate of one policy version, on {@code dualign.estimates} keyed by version:
 * each constraint utility, the reward and the KL (mean of log π − log π_ref), each with its
 * interval. The one estimate of the loop: the controller, the canary rule and the dashboard read it.
 *
 * <p>Two intervals per constraint, because they answer different questions: {@code estimates}
 * holds the interval of {@code dual.interval} at this n (for display and for the "tight" rule at
 * n ≥ n-min); {@code bounds} holds the anytime-valid confidence sequence of each constraint and of
 * the reward ({@link #REWARD}), each at level 1 − α/(m + 2) (a union bound over what a canary
 * decision reads: the canary's m constraints and reward, and the stable version's reward), the only
 * one a decision taken on a repeatedly examined estimate (promote, roll back, "violated") may use:
 * it stays valid however often it is looked at.
 *
 * @param policyVersion the version
 * @param estimates name → estimate ({@link #REWARD}, {@link #KL} and every constraint utility)
 * @param bounds constraint name, and {@link #REWARD} → anytime-valid, union-bounded interval (empty or
 *     a missing name: none yet, hold)
 * @param n samples it rests on
 * @param scorers the registry version of each scorer (and of the tokenizer the built-in ones share)
 *     the samples were scored with: part of the estimate's identity, since a new scorer version starts
 *     a new series. Empty: not recorded (estimates written before scorers were pinned).
 */
@JsonPropertyOrder({"schema", "policyVersion", "estimates", "bounds", "n", "scorers"})
public record VersionEstimate(long policyVersion, Map<String, Estimate> estimates, Map<String, Estimate> bounds, long n,
        Map<String, Long> scorers) implements Event {
    public static final String REWARD = "reward";
    public static final String KL = "kl";

    public VersionEstimate {
        Objects.requireNonNull(estimates, "estimates");
        Objects.requireNonNull(bounds, "bounds");
        scorers = Events.copyScorers(scorers);
    }

    /** An estimate whose scorer versions are not recorded. */
    public VersionEstimate(long policyVersion, Map<String, Estimate> estimates, Map<String, Estimate> bounds, long n) {
        this(policyVersion, estimates, bounds, n, Map.of());
    }

    /** An estimate with no decision bounds yet: nothing may be decided on it. */
    public VersionEstimate(long policyVersion, Map<String, Estimate> estimates, long n) {
        this(policyVersion, estimates, Map.of(), n, Map.of());
    }

    @Override
    public String key() {
        return Long.toString(policyVersion);
    }

    public static VersionEstimate fromJson(JsonFields f) {
        Map<String, Estimate> bounds = f.has("bounds") ? f.requireObjectMap("bounds", Estimate::fromJson) : Map.of();
        return new VersionEstimate(f.requireLong("policyVersion"), f.requireObjectMap("estimates", Estimate::fromJson),
                bounds, f.requireLong("n"), f.optionalLongMap("scorers"));
    }
}
