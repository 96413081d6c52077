package dev.dualign.model.finetune;

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
 */
public record FineTuneSettings(List<String> utilities, double beta, int epochs, int batchSize, float learningRate,
        double maxKl, int maxPairs, int minPairs, int maxTokens, int bufferSize, long seed) {
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
}
