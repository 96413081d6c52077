package dev.dualign.core.dual;

import com.fasterxml.jackson.annotation.JsonValue;
import dev.dualign.core.config.EnumKeys;

/** How λ moves (configuration key {@code dual.mode}); the JSON and YAML form is {@link #key()}. */
public enum DualMode {
    /** CAID: warm start at the one-shot λ*, then one projected subgradient step per fine-tuned version. */
    ITERATIVE,
    /** MoCAN: solve the empirical dual once on reference samples and fine-tune once with λ*. */
    ONE_SHOT,
    /** Safe-RLHF-style baseline: a step every mini-batch of live samples. */
    PRIMAL_DUAL,
    /** Estimates and alerts only; λ never moves. */
    MONITOR,
    /**
     * No fine-tuning: the server draws K candidates per prompt from the reference and serves one
     * with probability ∝ exp((r + λ·g)/β); λ is the exact dual solution on a sliding window of
     * those candidate sets, re-solved as they come.
     */
    ENFORCE;

    /** The lower-case, hyphenated name used in configuration and events, e.g. {@code one-shot}. */
    @JsonValue
    public String key() {
        return EnumKeys.key(this);
    }

    /** The mode named {@code key}; an {@link IllegalArgumentException} lists the valid keys otherwise. */
    public static DualMode fromKey(String key) {
        return EnumKeys.byKey(DualMode.class, key);
    }

    /** The mode when {@code dual.mode} is not set. */
    public static DualMode defaultMode() {
        return ITERATIVE;
    }

    /**
     * Whether the mode starts from the one-shot solve on reference samples (and so can measure a
     * margin relative to the reference).
     */
    public boolean usesReferenceSamples() {
        return this == ONE_SHOT || this == ITERATIVE || this == ENFORCE;
    }

    /**
     * Whether the server draws extra reference samples for that solve, on a share of its prompts;
     * in {@link #ENFORCE} the candidates it draws for every answer are those samples.
     */
    public boolean drawsReferenceSamples() {
        return this == ONE_SHOT || this == ITERATIVE;
    }

    /** Whether λ steps on live samples whatever version produced them (the primal-dual baseline). */
    public boolean stepsOnLiveSamples() {
        return this == PRIMAL_DUAL;
    }

    /** Whether the server enforces λ at inference, choosing among K candidates per answer. */
    public boolean enforcesAtInference() {
        return this == ENFORCE;
    }

    /** Whether λ acts on the policy at all (fine-tuning or enforcement): what a closed-loop demo needs. */
    public boolean closesTheLoop() {
        return this != MONITOR;
    }

    /** The keys of the modes that close the loop, for messages. */
    public static String closedLoopKeys() {
        return java.util.Arrays.stream(values()).filter(DualMode::closesTheLoop).map(DualMode::key)
                .collect(java.util.stream.Collectors.joining(", "));
    }

    @Override
    public String toString() {
        return key();
    }
}
