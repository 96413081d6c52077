package dev.dualign.core.control;

import java.util.List;
import java.util.Optional;

/**
 * What a controller rule decided: the next state and what to carry out. Every field but the state
 * may be empty.
 *
 * @param state the next state
 * @param step λ moved: publish it and ask for a fine-tune with it
 * @param retry the last request went unanswered: ask again, λ unchanged
 * @param alerts conditions an operator must see (λ at λ_max, requests exhausted)
 * @param warning for the operator's log: evidence refused, or how a value was arrived at
 */
public record Decision(ControllerState state, Optional<DualStep> step, Optional<Retry> retry, List<ControlAlert> alerts,
        Optional<String> warning) {
    /** Re-send the fine-tune request for λ, attempt {@code attempt} (1 = first re-send). */
    public record Retry(int attempt, double[] lambda, long baseVersion) {}

    /** An alert the controller raises. */
    public record ControlAlert(Kind kind, String constraint, long version, String detail) {
        public enum Kind {
            /** λ reached λ_max for this constraint: its margin may be unreachable. */
            LAMBDA_MAX,
            /** No version answered a fine-tune request after every retry. */
            NO_VERSION
        }
    }

    public Decision {
        alerts = List.copyOf(alerts);
    }

    /** Nothing to carry out. */
    public static Decision stay(ControllerState state) {
        return new Decision(state, Optional.empty(), Optional.empty(), List.of(), Optional.empty());
    }

    /** λ moved; an alert for each constraint at λ_max. */
    public static Decision stepped(ControllerState state, DualStep step) {
        List<ControlAlert> alerts = step.atLambdaMax().stream().map(c -> new ControlAlert(ControlAlert.Kind.LAMBDA_MAX, c,
                step.version(), "λ of " + c + " reached λ_max after a " + step.kind().key() + " step on version "
                        + step.version() + ": its margin may be unreachable")).toList();
        return new Decision(state, Optional.of(step), Optional.empty(), alerts, Optional.empty());
    }

    public static Decision retried(ControllerState state, Retry retry) {
        return new Decision(state, Optional.empty(), Optional.of(retry), List.of(), Optional.empty());
    }

    public static Decision alerted(ControllerState state, ControlAlert alert) {
        return new Decision(state, Optional.empty(), Optional.empty(), List.of(alert), Optional.empty());
    }

    /** The same decision with a line for the operator's log. */
    public Decision withWarning(String note) {
        return new Decision(state, step, retry, alerts, Optional.of(note));
    }

    public static Decision refused(ControllerState state, String why) {
        return new Decision(state, Optional.empty(), Optional.empty(), List.of(), Optional.of(why));
    }
}
