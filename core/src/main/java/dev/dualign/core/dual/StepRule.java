package dev.dualign.core.dual;

import com.fasterxml.jackson.annotation.JsonValue;
import dev.dualign.core.config.EnumKeys;

/** How the iterative controller sizes its dual step (configuration key {@code dual.step-rule}). */
public enum StepRule {
    /** λ ← [λ − η_t·u]₊ with η_t from {@code dual.eta} and {@code dual.eta-schedule} (CAID; decision 8). */
    SUBGRADIENT,
    /**
     * λ ← [λ − d·S⁻¹u]₊ with S = dE_{π_λ}[g]/dλ = Cov_{π_λ}(g)/β, the tilted sensitivity measured on
     * the reference samples ({@link NewtonStep}; decision 27).
     */
    NEWTON;

    @JsonValue
    public String key() {
        return EnumKeys.key(this);
    }

    public static StepRule fromKey(String key) {
        return EnumKeys.byKey(StepRule.class, key);
    }
}
