package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.dualign.core.dual.DualMode;
import java.util.Map;
import java.util.Objects;

/**
 * The dual controller's output on {@code dualign.dual}: λ per constraint and the estimates it was
 * computed from, keyed by constraint set so one controller's history stays in order.
 *
 * @param constraintSet id of the constraint set (one controller)
 * @param lambda λ per constraint
 * @param estimates per constraint: the estimate of E[g] that moved λ
 * @param mode the rule that moved λ (JSON: its key, e.g. {@code one-shot})
 * @param step the dual step number (0 for the one-shot solve)
 * @param policyVersion the version whose traffic was measured
 * @param timestamp epoch milliseconds
 */
@JsonPropertyOrder({"schema", "constraintSet", "lambda", "estimates", "mode", "step", "policyVersion", "timestamp"})
public record DualUpdate(String constraintSet, Map<String, Double> lambda, Map<String, Estimate> estimates,
        DualMode mode, long step, long policyVersion, long timestamp) implements Event {
    public DualUpdate {
        Objects.requireNonNull(constraintSet, "constraintSet");
        lambda = Events.copyLambda(lambda);
        estimates = Map.copyOf(Objects.requireNonNull(estimates, "estimates"));
        Objects.requireNonNull(mode, "mode");
    }

    @Override
    public String key() {
        return constraintSet;
    }

    public static DualUpdate fromJson(JsonFields f) {
        return new DualUpdate(f.requireText("constraintSet"), f.requireNumberMap("lambda"),
                f.requireObjectMap("estimates", Estimate::fromJson), Events.mode(f.requireText("mode")), f.requireLong("step"),
                f.requireLong("policyVersion"), f.requireLong("timestamp"));
    }
}
