package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.Map;
import java.util.Objects;

/**
 * The job's running estimate of one policy version, on {@code dualign.estimates} keyed by version:
 * each constraint utility, the reward and the KL (mean of log π − log π_ref), each with its
 * interval. The one estimate of the loop: the controller, the canary rule and the dashboard read it.
 *
 * @param policyVersion the version
 * @param estimates name → estimate ({@link #REWARD}, {@link #KL} and every constraint utility)
 * @param n samples it rests on
 */
@JsonPropertyOrder({"schema", "policyVersion", "estimates", "n"})
public record VersionEstimate(long policyVersion, Map<String, Estimate> estimates, long n) implements Event {
    public static final String REWARD = "reward";
    public static final String KL = "kl";

    public VersionEstimate {
        Objects.requireNonNull(estimates, "estimates");
    }

    @Override
    public String key() {
        return Long.toString(policyVersion);
    }

    public static VersionEstimate fromJson(JsonFields f) {
        return new VersionEstimate(f.requireLong("policyVersion"), f.requireObjectMap("estimates", Estimate::fromJson),
                f.requireLong("n"));
    }
}
