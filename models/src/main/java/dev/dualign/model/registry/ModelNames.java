package dev.dualign.model.registry;

import dev.dualign.core.event.VersionEstimate;

/**
 * The names of the models in a registry that the loop itself relies on. Scorers are named by what
 * they score: {@link #REWARD}, and each constraint's utility (e.g. {@code harmless}).
 */
public final class ModelNames {
    /** The tokenizer every model of the registry shares. */
    public static final String TOKENIZER = "tokenizer";
    /** The policy LM; version 0 is the reference π_ref. */
    public static final String POLICY = "policy";
    /**
     * An outside trainer's policy versions, by reference: each a manifest without files whose
     * {@code info} names the adapter (or model id) the upstream loads, its path, its checksum and the
     * request it answered; the weights stay where the trainer wrote them. A gateway records each
     * version it admits, under the version number the trainer gave it.
     */
    public static final String EXTERNAL_POLICY = "policy-external";
    /** The reward model r (the same name the job's estimates use). */
    public static final String REWARD = VersionEstimate.REWARD;

    private ModelNames() {}
}
