package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.Objects;

/**
 * A policy version violates a margin with confidence (its interval lies wholly below the margin),
 * on {@code dualign.alerts}, keyed by version.
 *
 * @param policyVersion the violating version
 * @param constraint the constraint's name
 * @param estimate the estimate with its interval
 * @param margin the margin b
 * @param timestamp epoch milliseconds
 */
@JsonPropertyOrder({"schema", "policyVersion", "constraint", "estimate", "margin", "timestamp"})
public record Alert(long policyVersion, String constraint, Estimate estimate, double margin, long timestamp)
        implements Event {
    public Alert {
        Objects.requireNonNull(constraint, "constraint");
        Objects.requireNonNull(estimate, "estimate");
        if (!Double.isFinite(margin)) {
            throw new InvalidEventException("margin", "must be finite, got " + margin);
        }
    }

    @Override
    public String key() {
        return Long.toString(policyVersion);
    }

    public static Alert fromJson(JsonFields f) {
        return new Alert(f.requireLong("policyVersion"), f.requireText("constraint"),
                Estimate.fromJson("estimate", f.requireObject("estimate")), f.requireFinite("margin"),
                f.requireLong("timestamp"));
    }
}
