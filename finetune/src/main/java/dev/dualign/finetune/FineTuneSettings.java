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
 * @param method the policy step: {@code distill} (weighted NLL on K samples per prompt, decision 29) or {@code dpo}
 *     (pairs; epochs, batchSize and learningRate are DPO's)
 * @param distill distillation's settings (used when method is distill)
 */
public record FineTuneSettings(List<String> utilities, double beta, int epochs, int batchSize, float learningRate,
        double maxKl, int maxPairs, int minPairs, int maxTokens, int bufferSize, long seed, boolean fromReference,
        boolean referencePairs, String method, Distill distill) {
    public static final String DISTILL = "distill";
    public static final String DPO = "dpo";

    /**
     * Distillation of π_λ (decision 29).
     *
     * @param samples K responses per prompt (16–32)
     * @param maxEpochs most passes over the weighted samples
     * @param patience held-out checks ({@link #CHECKS_PER_EPOCH} a pass) without a better loss before stopping
     * @param learningRate Adam step size
     * @param minWeight samples weighing less within their prompt are left out
     * @param heldOut share of the prompts kept out of training for the held-out loss and the publish gate
     * @param publishTolerance how far below the stable version's L = E s − β·KL a version may estimate and still publish
     */
    public record Distill(int samples, int maxEpochs, int patience, float learningRate, double minWeight, double heldOut,
            double publishTolerance, int rounds) {
        public static final Distill DEFAULTS = new Distill(16, 3, 2, 3e-4f, 1e-3, 0.1, 0.02, 3);
        /** Held-out checks per pass over the samples: one pass at 1e-3 already overfits (decision 29). */
        public static final int CHECKS_PER_EPOCH = 4;

        public Distill {
            if (samples < 2 || maxEpochs < 1 || patience < 1 || !(learningRate > 0) || !(minWeight >= 0 && minWeight < 1)
                    || !(heldOut > 0 && heldOut < 1) || !(publishTolerance >= 0) || rounds < 1) {
                throw new IllegalArgumentException("invalid distillation settings: " + this);
            }
        }
    }

    /** DPO, from the given weights and pairs (the constructor of the settings before decision 29). */
    public FineTuneSettings(List<String> utilities, double beta, int epochs, int batchSize, float learningRate,
            double maxKl, int maxPairs, int minPairs, int maxTokens, int bufferSize, long seed, boolean fromReference,
            boolean referencePairs) {
        this(utilities, beta, epochs, batchSize, learningRate, maxKl, maxPairs, minPairs, maxTokens, bufferSize, seed,
                fromReference, referencePairs, DPO, Distill.DEFAULTS);
    }

    /** DPO from the reference's weights, on the reference's responses (decision 19). */
    public FineTuneSettings(List<String> utilities, double beta, int epochs, int batchSize, float learningRate,
            double maxKl, int maxPairs, int minPairs, int maxTokens, int bufferSize, long seed) {
        this(utilities, beta, epochs, batchSize, learningRate, maxKl, maxPairs, minPairs, maxTokens, bufferSize, seed, true,
                true);
    }

    public FineTuneSettings {
        utilities = List.copyOf(utilities);
        if (epochs < 1 || batchSize < 1 || maxPairs < 1 || minPairs < 1 || bufferSize < 1 || !(learningRate > 0)
                || !(beta > 0) || !(maxKl > 0) || distill == null) {
            throw new IllegalArgumentException("invalid fine-tune settings: " + this);
        }
        if (!DISTILL.equals(method) && !DPO.equals(method)) {
            throw new IllegalArgumentException("finetune.method must be distill or dpo, got " + method);
        }
    }

    /** The same settings with another policy step. */
    public FineTuneSettings withMethod(String m) {
        return new FineTuneSettings(utilities, beta, epochs, batchSize, learningRate, maxKl, maxPairs, minPairs, maxTokens,
                bufferSize, seed, fromReference, referencePairs, m, distill);
    }

    public boolean distills() {
        return DISTILL.equals(method);
    }

    public static FineTuneSettings defaults(List<String> utilities, double beta) {
        return new FineTuneSettings(utilities, beta, 3, 32, 1e-3f, 30, 768, 64, 40, 20_000, 11, true, true,
                FineTuneOptions.METHOD.defaultValue(), Distill.DEFAULTS);
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
                c.get(FineTuneOptions.INIT).equals("reference"), c.get(FineTuneOptions.PAIRS).equals("reference"),
                c.get(FineTuneOptions.METHOD), new Distill(c.get(FineTuneOptions.SAMPLES), c.get(FineTuneOptions.DISTILL_EPOCHS),
                        c.get(FineTuneOptions.PATIENCE), c.get(FineTuneOptions.DISTILL_LEARNING_RATE).floatValue(),
                        Distill.DEFAULTS.minWeight(), Distill.DEFAULTS.heldOut(), c.get(FineTuneOptions.PUBLISH_TOLERANCE),
                        c.get(FineTuneOptions.ROUNDS)));
    }
}
