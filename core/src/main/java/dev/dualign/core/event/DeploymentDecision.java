package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.annotation.JsonValue;
import dev.dualign.core.config.EnumKeys;
import java.util.Map;
import java.util.Objects;

/**
 * The job's decision about a canary, on {@code dualign.decisions} keyed by version: promote it
 * (every margin met with confidence) or roll it back (a margin violated with confidence). Policy
 * servers carry it out when that version is their canary; they judge nothing themselves.
 *
 * @param policyVersion the version decided on
 * @param action what to do with it
 * @param reason the evidence, in words, for the version timeline
 * @param estimates per constraint, the estimate decided on
 * @param timestamp epoch milliseconds
 * @param scorers the registry version of each scorer the estimates were scored with (empty: not recorded)
 */
@JsonPropertyOrder({"schema", "policyVersion", "action", "reason", "estimates", "timestamp", "scorers"})
public record DeploymentDecision(long policyVersion, Action action, String reason, Map<String, Estimate> estimates,
        long timestamp, Map<String, Long> scorers) implements Event {
    /** What a server does with the canary. */
    public enum Action {
        PROMOTE, ROLLBACK;

        @JsonValue
        public String key() {
            return EnumKeys.key(this);
        }
    }

    public DeploymentDecision {
        Objects.requireNonNull(action, "action");
        Objects.requireNonNull(reason, "reason");
        estimates = Map.copyOf(Objects.requireNonNull(estimates, "estimates"));
        scorers = Events.copyScorers(scorers);
    }

    /** A decision whose scorer versions are not recorded. */
    public DeploymentDecision(long policyVersion, Action action, String reason, Map<String, Estimate> estimates, long timestamp) {
        this(policyVersion, action, reason, estimates, timestamp, Map.of());
    }

    @Override
    public String key() {
        return Long.toString(policyVersion);
    }

    public static DeploymentDecision fromJson(JsonFields f) {
        return new DeploymentDecision(f.requireLong("policyVersion"), Events.byKey(Action.class, "action", f.requireText("action")),
                f.requireString("reason"), f.requireObjectMap("estimates", Estimate::fromJson), f.requireLong("timestamp"),
                f.optionalLongMap("scorers"));
    }
}
