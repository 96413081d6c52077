package dev.dualign.finetune;

import dev.dualign.core.config.ConfigOption;
import java.util.List;

/** Configuration keys of the fine-tuner ({@code finetune.*}). */
public final class FineTuneOptions {
    public static final ConfigOption<Integer> EPOCHS = ConfigOption.integer("finetune.epochs", 3)
            .check(v -> v >= 1, "an integer ≥ 1").describe("DPO passes over the pairs.");
    public static final ConfigOption<Integer> BATCH = ConfigOption.integer("finetune.batch-size", 32)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Pairs per optimiser step.");
    public static final ConfigOption<Double> LEARNING_RATE = ConfigOption.number("finetune.learning-rate", 1e-3)
            .check(v -> v > 0, "a number > 0").describe("Adam step size.");
    public static final ConfigOption<Double> MAX_KL = ConfigOption.number("finetune.max-kl", 30.0)
            .check(v -> v > 0, "a number > 0").describe("A run whose mean |log π/π_ref| exceeds this is diverged: nothing is published.");
    public static final ConfigOption<String> INIT = ConfigOption.choice("finetune.init", "reference", "reference", "base")
            .describe("Weights each version starts from: reference (version 0; the faithful policy step) or base "
                    + "(the version the request names: warm start).");
    public static final ConfigOption<String> PAIRS = ConfigOption.choice("finetune.pairs", "reference", "reference", "traffic")
            .describe("Responses the preference pairs are made of: reference (two fresh reference responses to each recent "
                    + "live prompt) or traffic (the live responses).");
    public static final ConfigOption<Integer> MAX_PAIRS = ConfigOption.integer("finetune.max-pairs", 768)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Most preference pairs per run.");
    public static final ConfigOption<Integer> MIN_PAIRS = ConfigOption.integer("finetune.min-pairs", 128)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Fewer usable pairs: wait for more traffic.");
    public static final ConfigOption<Integer> BUFFER = ConfigOption.integer("finetune.buffer", 20_000)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Recent scored samples kept as training data.");

    public static final ConfigOption<String> METHOD = ConfigOption.choice("finetune.method", "dpo", "distill", "dpo")
            .describe("The policy step: distill (weighted NLL towards π_λ on K samples per prompt; decision 29) or dpo "
                    + "(pseudo-preference pairs).");
    public static final ConfigOption<Integer> SAMPLES = ConfigOption.integer("finetune.distill.samples", 16)
            .check(v -> v >= 2, "an integer ≥ 2").describe("distill: responses sampled per prompt (K).");
    public static final ConfigOption<Integer> ROUNDS = ConfigOption.integer("finetune.distill.rounds", 3)
            .check(v -> v >= 1, "an integer ≥ 1").describe("distill: rounds; each after the first samples the policy it has so "
                    + "far, weighted by the importance ratio, so the target stays π_λ while the weights flatten.");
    public static final ConfigOption<Integer> DISTILL_EPOCHS = ConfigOption.integer("finetune.distill.max-epochs", 3)
            .check(v -> v >= 1, "an integer ≥ 1").describe("distill: most passes over the weighted samples.");
    public static final ConfigOption<Integer> PATIENCE = ConfigOption.integer("finetune.distill.patience", 2)
            .check(v -> v >= 1, "an integer ≥ 1").describe("distill: held-out checks (4 a pass) without a better loss before stopping.");
    public static final ConfigOption<Double> DISTILL_LEARNING_RATE = ConfigOption.number("finetune.distill.learning-rate", 3e-4)
            .check(v -> v > 0, "a number > 0").describe("distill: Adam step size.");
    public static final ConfigOption<Double> PUBLISH_TOLERANCE = ConfigOption.number("finetune.distill.publish-tolerance", 0.02)
            .check(v -> v >= 0, "a number ≥ 0")
            .describe("distill: a version whose L = E s − β·KL is below the stable version's by more is not published.");

    public static final ConfigOption<String> ANSWER = ConfigOption.choice("finetune.answer", "registry", "registry", "adapter")
            .describe("How a trained version is announced: registry (a built-in version the policy server loads) or adapter "
                    + "(an outside version by name and path, which a gateway loads into its upstream, e.g. serve).");
    public static final ConfigOption<String> ADAPTER_PREFIX = ConfigOption.string("finetune.adapter-prefix", "dualign-policy-v")
            .check(s -> s.matches("[A-Za-z0-9_\\-][A-Za-z0-9._:\\-]{0,100}"), "letters, digits or ._:- (an adapter name's start)")
            .describe("finetune.answer: adapter: each version's adapter name is this prefix and its version number.");

    public static final List<ConfigOption<?>> ALL = List.of(EPOCHS, BATCH, LEARNING_RATE, MAX_KL, INIT, PAIRS, MAX_PAIRS,
            MIN_PAIRS, BUFFER, METHOD, SAMPLES, ROUNDS, DISTILL_EPOCHS, PATIENCE, DISTILL_LEARNING_RATE, PUBLISH_TOLERANCE, ANSWER,
            ADAPTER_PREFIX);

    private FineTuneOptions() {}
}
