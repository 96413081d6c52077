package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.dualign.core.dual.DualMode;
import dev.dualign.core.dual.StepKind;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The dual controller's output on {@code dualign.dual}: λ per constraint and the estimates it was
 * computed from, keyed by constraint set so one controller's history stays in order.
 *
 * @param constraintSet id of the constraint set (one controller)
 * @param lambda λ per constraint
 * @param estimates per constraint: the estimate of E[g] that moved λ
 * @param mode the controller's configured mode (JSON: its key, e.g. {@code iterative})
 * @param kind what produced this λ: {@code init}, {@code one-shot}, {@code iterative} or {@code primal-dual}
 * @param step the dual step number (0 for λ(0): the one-shot solve or the initial value)
 * @param policyVersion the version whose traffic was measured
 * @param atLambdaMax constraints whose λ is at λ_max: their margin may be unreachable (empty: none)
 * @param margins the absolute margin of each constraint now (a relative one resolved against the
 *     reference's mean); empty while a relative one is not resolved yet. Whoever judges against
 *     margins (the canary judge, the dashboard) takes them from here.
 * @param timestamp epoch milliseconds
 * @param scorers the registry version of each scorer the estimates were scored with (empty: not recorded)
 */
@JsonPropertyOrder({"schema", "constraintSet", "lambda", "estimates", "mode", "kind", "step", "policyVersion", "atLambdaMax",
    "margins", "timestamp", "scorers"})
public record DualUpdate(String constraintSet, Map<String, Double> lambda, Map<String, Estimate> estimates,
        DualMode mode, StepKind kind, long step, long policyVersion, List<String> atLambdaMax, Map<String, Double> margins,
        long timestamp, Map<String, Long> scorers) implements Event {
    public DualUpdate {
        Objects.requireNonNull(constraintSet, "constraintSet");
        lambda = Events.copyLambda(lambda);
        estimates = Map.copyOf(Objects.requireNonNull(estimates, "estimates"));
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(kind, "kind");
        atLambdaMax = List.copyOf(atLambdaMax);
        margins = margins == null ? Map.of() : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(margins));
        scorers = Events.copyScorers(scorers);
    }

    /** Without the scorer versions (as before they were recorded). */
    public DualUpdate(String constraintSet, Map<String, Double> lambda, Map<String, Estimate> estimates, DualMode mode,
            StepKind kind, long step, long policyVersion, List<String> atLambdaMax, Map<String, Double> margins, long timestamp) {
        this(constraintSet, lambda, estimates, mode, kind, step, policyVersion, atLambdaMax, margins, timestamp, Map.of());
    }

    /** Without margins (as before they were published). */
    public DualUpdate(String constraintSet, Map<String, Double> lambda, Map<String, Estimate> estimates, DualMode mode,
            StepKind kind, long step, long policyVersion, List<String> atLambdaMax, long timestamp) {
        this(constraintSet, lambda, estimates, mode, kind, step, policyVersion, atLambdaMax, Map.of(), timestamp, Map.of());
    }

    @Override
    public String key() {
        return constraintSet;
    }

    public static DualUpdate fromJson(JsonFields f) {
        DualMode mode = Events.byKey(DualMode.class, "mode", f.requireText("mode"));
        String kind = f.optionalText("kind"); // schema 1 before kinds: the mode's own kind
        return new DualUpdate(f.requireText("constraintSet"), f.requireNumberMap("lambda"),
                f.requireObjectMap("estimates", Estimate::fromJson), mode,
                kind != null ? Events.byKey(StepKind.class, "kind", kind) : mode == DualMode.MONITOR ? StepKind.ITERATIVE : StepKind.valueOf(mode.name()),
                f.requireLong("step"), f.requireLong("policyVersion"), f.optionalTextList("atLambdaMax"),
                f.optionalNumberMap("margins"), f.requireLong("timestamp"), f.optionalLongMap("scorers"));
    }
}
