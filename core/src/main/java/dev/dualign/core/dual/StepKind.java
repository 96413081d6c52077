package dev.dualign.core.dual;

import com.fasterxml.jackson.annotation.JsonValue;
import dev.dualign.core.config.EnumKeys;

/** What produced a value of λ; the JSON form is {@link #key()}, e.g. {@code one-shot}. */
public enum StepKind {
    /** {@code dual.lambda-init}: no reference samples arrived within {@code dual.reference-timeout-ms}. */
    INIT,
    /** The exact solve of the empirical dual on reference samples (MoCAN; CAID's λ(0)). */
    ONE_SHOT,
    /** A projected subgradient step on one fine-tuned version's own samples (CAID). */
    ITERATIVE,
    /** A projected subgradient step on a mini-batch of live samples (Safe-RLHF-style baseline). */
    PRIMAL_DUAL,
    /** The exact solve again, on the newest window of the server's candidate sets (enforcement at inference). */
    ENFORCE;

    @JsonValue
    public String key() {
        return EnumKeys.key(this);
    }
}
