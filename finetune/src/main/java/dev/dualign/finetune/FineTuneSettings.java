package dev.dualign.finetune;

import dev.dualign.core.config.Config;
import dev.dualign.core.control.ControlSettings;

import java.util.List;

/**
 * The fine-tuner's resolved settings.
 *
 * @param utilities the constrained utilities (λ's names), each with a scorer in the registry
 * @param beta the KL weight β of the objective (the dual's β)
 * @param epochs DPO passes over the pairs
 * @param batchSize pairs per optimiser step
 * @param learningRate Adam step size
 * @param maxKl a run whose mean log π/π_ref leaves [−maxKl, maxKl] counts as diverged and publishes nothing
 * @param maxPairs most preference pairs per run (the most recent data first)
 * @param minPairs fewer usable pairs than this: wait for more traffic
 * @param maxTokens longest response sampled to complete a pair
 * @param bufferSize scored samples kept in memory as training data
 * @param seed sampling and shuffling seed
 * @param fromReference train every version from the reference's weights (the policy step argmax_π L(π, λ)
 *     does not depend on the last policy) rather than from the base version's (warm start)
 * @param referencePairs make the pairs from two fresh reference responses to each recent live prompt
 *     rather than from the live responses (whose policy drifted: DPO fits score differences within
 *     pairs, so pairs far from π_ref leave the KL to it unchecked; docs/experiments.md, tradeoff)
 */
public record FineTuneSettings(List<String> utilities, double beta, int epochs, int batchSize, float learningRate,
        double maxKl, int maxPairs, int minPairs, int maxTokens, int bufferSize, long seed, boolean fromReference,
        boolean referencePairs) {
    /** The faithful policy step (the default): from the reference's weights, on the reference's responses. */
    public FineTuneSettings(List<String> utilities, double beta, int epochs, int batchSize, float learningRate,
            double maxKl, int maxPairs, int minPairs, int maxTokens, int bufferSize, long seed) {
        this(utilities, beta, epochs, batchSize, learningRate, maxKl, maxPairs, minPairs, maxTokens, bufferSize, seed, true,
                true);
    }

    public FineTuneSettings {
        utilities = List.copyOf(utilities);
        if (epochs < 1 || batchSize < 1 || maxPairs < 1 || minPairs < 1 || bufferSize < 1 || !(learningRate > 0)
                || !(beta > 0) || !(maxKl > 0)) {
            throw new IllegalArgumentException("invalid fine-tune settings: " + this);
        }
    }

    public static FineTuneSettings defaults(List<String> utilities, double beta) {
        return new FineTuneSettings(utilities, beta, 3, 32, 1e-3f, 30, 768, 64, 40, 20_000, 11);
    }

    /**
     * Reads the fine-tuner's keys ({@link FineTuneOptions}); λ's names and β are the controller's.
     *
     * @param maxTokens longest response the reference samples for the pairs (the server's {@code server.max-tokens})
     */
    public static FineTuneSettings from(Config c, ControlSettings control, int maxTokens, long seed) {
        return new FineTuneSettings(control.names(), control.beta(), c.get(FineTuneOptions.EPOCHS), c.get(FineTuneOptions.BATCH),
                c.get(FineTuneOptions.LEARNING_RATE).floatValue(), c.get(FineTuneOptions.MAX_KL), c.get(FineTuneOptions.MAX_PAIRS),
                c.get(FineTuneOptions.MIN_PAIRS), maxTokens, c.get(FineTuneOptions.BUFFER), seed,
                c.get(FineTuneOptions.INIT).equals("reference"), c.get(FineTuneOptions.PAIRS).equals("reference"));
    }
}
