package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.annotation.JsonValue;
import dev.dualign.core.config.EnumKeys;
import java.util.Objects;

/**
 * Something an operator must see, on {@code dualign.alerts}, keyed by version. Most often a policy
 * version that violates a margin with confidence (its interval lies wholly below the margin); the
 * controller also raises λ at λ_max and fine-tune requests no version answered.
 *
 * @param policyVersion the version concerned
 * @param constraint the constraint's name (empty for {@link Kind#NO_VERSION})
 * @param estimate the estimate with its interval ({@link Kind#VIOLATION} only, else null)
 * @param margin the margin b ({@link Kind#VIOLATION} only, else null)
 * @param kind what is wrong (JSON: absent means {@code violation})
 * @param detail the condition in words (optional)
 * @param timestamp epoch milliseconds
 */
@JsonPropertyOrder({"schema", "policyVersion", "constraint", "estimate", "margin", "kind", "detail", "timestamp"})
public record Alert(long policyVersion, String constraint, Estimate estimate, Double margin, Kind kind, String detail,
        long timestamp) implements Event {
    /** What an alert is about. */
    public enum Kind {
        /** The version's interval lies wholly below the margin. */
        VIOLATION,
        /** λ reached λ_max: the margin may be unreachable. */
        LAMBDA_MAX,
        /** No version answered a fine-tune request after every retry. */
        NO_VERSION;

        @JsonValue
        public String key() {
            return EnumKeys.key(this);
        }
    }

    public Alert {
        Objects.requireNonNull(constraint, "constraint");
        Objects.requireNonNull(kind, "kind");
        if (kind == Kind.VIOLATION) {
            Objects.requireNonNull(estimate, "estimate");
            Objects.requireNonNull(margin, "margin");
        }
        if (margin != null && !Double.isFinite(margin)) {
            throw new InvalidEventException("margin", "must be finite, got " + margin);
        }
    }

    /** A version violating {@code constraint}'s margin with confidence. */
    public Alert(long policyVersion, String constraint, Estimate estimate, double margin, long timestamp) {
        this(policyVersion, constraint, estimate, margin, Kind.VIOLATION, null, timestamp);
    }

    /** An alert of the controller's about {@code constraint} (or "") and a version. */
    public static Alert of(Kind kind, long policyVersion, String constraint, String detail, long timestamp) {
        return new Alert(policyVersion, constraint, null, null, kind, detail, timestamp);
    }

    @Override
    public String key() {
        return Long.toString(policyVersion);
    }

    public static Alert fromJson(JsonFields f) {
        String k = f.optionalText("kind");
        Kind kind = k == null ? Kind.VIOLATION : Events.byKey(Kind.class, "kind", k);
        boolean violation = kind == Kind.VIOLATION;
        return new Alert(f.requireLong("policyVersion"), f.requireString("constraint"),
                violation || f.has("estimate") ? Estimate.fromJson("estimate", f.requireObject("estimate")) : null,
                violation || f.has("margin") ? f.requireFinite("margin") : null, kind, f.optionalText("detail"),
                f.requireLong("timestamp"));
    }
}
