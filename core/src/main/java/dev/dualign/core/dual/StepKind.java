package dev.dualign.core.dual;

import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/** What produced a value of λ; the JSON form is {@link #key()}, e.g. {@code one-shot}. */
public enum StepKind {
    /** {@code dual.lambda-init}: no reference samples arrived within {@code dual.reference-timeout-ms}. */
    INIT,
    /** The exact solve of the empirical dual on reference samples (MoCAN; CAID's λ(0)). */
    ONE_SHOT,
    /** A projected subgradient step on one fine-tuned version's own samples (CAID). */
    ITERATIVE,
    /** A projected subgradient step on a mini-batch of live samples (Safe-RLHF-style baseline). */
    PRIMAL_DUAL;

    @JsonValue
    public String key() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** The kind named {@code key}; an {@link IllegalArgumentException} otherwise. */
    public static StepKind fromKey(String key) {
        for (StepKind k : values()) {
            if (k.key().equals(key)) {
                return k;
            }
        }
        throw new IllegalArgumentException("must be init, one-shot, iterative or primal-dual, got '" + key + "'");
    }
}
