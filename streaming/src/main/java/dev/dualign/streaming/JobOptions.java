package dev.dualign.streaming;

import dev.dualign.core.config.ConfigOption;
import dev.dualign.core.dual.DualMode;
import java.util.Arrays;
import java.util.List;

/** Every setting of the alignment job; {@code conf/dualign.yaml} names the same keys. */
public final class JobOptions {
    /** {@code constraints.<utility>: <margin>}: one entry per constraint E[g] ≥ b. */
    public static final String CONSTRAINTS_PREFIX = "constraints.";

    public static final ConfigOption<String> CONSTRAINT_SET = ConfigOption.string("dual.constraint-set", "default")
            .check(s -> !s.isBlank(), "a non-empty string").describe("Id of this controller (the dual topic's key).");
    public static final ConfigOption<String> MODE = ConfigOption.choice("dual.mode", DualMode.defaultMode().key(),
            Arrays.stream(DualMode.values()).map(DualMode::key).toArray(String[]::new)).describe("How λ moves.");
    public static final ConfigOption<Double> BETA = ConfigOption.number("dual.beta", 0.1)
            .check(v -> v > 0, "a number > 0").describe("KL weight β.");
    public static final ConfigOption<Double> ETA = ConfigOption.number("dual.eta", 2.0)
            .check(v -> v > 0, "a number > 0").describe("Dual step size η₀.");
    public static final ConfigOption<String> ETA_SCHEDULE = ConfigOption.choice("dual.eta-schedule", "inverse-sqrt",
            "constant", "inverse-sqrt").describe("η_t = η₀ or η₀/√t.");
    public static final ConfigOption<Double> LAMBDA_MAX = ConfigOption.number("dual.lambda-max", 20.0)
            .check(v -> v > 0, "a number > 0").describe("λ is clamped to [0, λ_max].");
    public static final ConfigOption<Double> HEADROOM = ConfigOption.number("dual.headroom", 0.08)
            .check(v -> v >= 0 && v < 1, "a number in [0, 1)")
            .describe("How far above each margin λ aims, so that the canary's anytime-valid bound can confirm a version; "
                    + "the canary still checks the margin itself. 0: aim at the margin (the papers).");
    public static final ConfigOption<Double> LAMBDA_INIT = ConfigOption.number("dual.lambda-init", 0.0)
            .check(v -> v >= 0, "a number ≥ 0").describe("λ(0) when no reference samples arrive for the one-shot solve.");
    public static final ConfigOption<Long> REFERENCE_TIMEOUT_MS = ConfigOption.longInteger("dual.reference-timeout-ms", 120_000L)
            .check(v -> v > 0, "a number of milliseconds > 0")
            .describe("How long the one-shot solve waits for its reference samples before λ(0) = dual.lambda-init.");
    public static final ConfigOption<Long> REQUEST_TIMEOUT_MS = ConfigOption.longInteger("dual.request-timeout-ms", 420_000L)
            .check(v -> v > 0, "a number of milliseconds > 0")
            .describe("How long a fine-tune request waits for a new version, and a new version for the step it awaits, "
                    + "before the request is re-sent.");
    public static final ConfigOption<Integer> REQUEST_RETRIES = ConfigOption.integer("dual.request-retries", 3)
            .check(v -> v >= 0, "an integer ≥ 0").describe("Re-sends of an unanswered fine-tune request before an alert.");
    public static final ConfigOption<Double> EPSILON = ConfigOption.number("dual.epsilon", 0.05)
            .check(v -> v > 0, "a number > 0").describe("An estimate is tight enough when its interval half-width ≤ ε.");
    public static final ConfigOption<Integer> N_MIN = ConfigOption.integer("dual.n-min", 200)
            .check(v -> v >= 2, "an integer ≥ 2").describe("... and it rests on at least n_min samples.");
    public static final ConfigOption<Double> CONFIDENCE = ConfigOption.number("dual.confidence", 0.95)
            .check(v -> v > 0 && v < 1, "in (0, 1)").describe("Level of the estimates' intervals.");
    public static final ConfigOption<String> INTERVAL = ConfigOption.choice("dual.interval", "normal", "normal", "bernstein")
            .describe("normal (fixed-n) or bernstein (anytime-valid, needs dual.range-lo/hi).");
    public static final ConfigOption<Double> RANGE_LO = ConfigOption.number("dual.range-lo", -1.0)
            .describe("Lower end of the utilities' range for the anytime-valid interval.");
    public static final ConfigOption<Double> RANGE_HI = ConfigOption.number("dual.range-hi", 1.0)
            .describe("Upper end of the utilities' range for the anytime-valid interval.");
    public static final ConfigOption<Integer> ONE_SHOT_PROMPTS = ConfigOption.integer("dual.one-shot.prompts", 200)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Reference prompts needed before the one-shot solve.");
    public static final ConfigOption<Integer> ONE_SHOT_SAMPLES = ConfigOption.integer("dual.one-shot.samples-per-prompt", 16)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Reference samples per prompt needed.");
    public static final ConfigOption<Integer> PRIMAL_DUAL_BATCH = ConfigOption.integer("dual.primal-dual.batch", 100)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Live samples per primal-dual step.");
    public static final ConfigOption<Integer> ENFORCE_EVERY = ConfigOption.integer("dual.enforce.every", 50)
            .check(v -> v >= 1, "an integer ≥ 1").describe("enforce mode: new candidate sets (prompts) between two solves of "
                    + "λ on the newest dual.one-shot.prompts of them.");
    public static final ConfigOption<Integer> EMIT_EVERY = ConfigOption.integer("dual.estimate-every", 25)
            .check(v -> v >= 1, "an integer ≥ 1").describe("A version's estimate is published every this many samples.");
    public static final ConfigOption<Integer> PARTIAL_SIZE = ConfigOption.integer("dual.partial-size", 64)
            .check(v -> v >= 1, "an integer ≥ 1")
            .describe("Samples each subtask groups per version (and for the controller) before the keyed merge.");
    public static final ConfigOption<Long> PARTIAL_WAIT_MS = ConfigOption.longInteger("dual.partial-wait-ms", 25L)
            .check(v -> v >= 1, "an integer ≥ 1").describe("A partial group goes to the merge after this long.");

    public static final ConfigOption<Integer> BATCH_SIZE = ConfigOption.integer("scoring.batch-size", 64)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Responses per scorer call.");
    public static final ConfigOption<Long> MAX_WAIT_MS = ConfigOption.longInteger("scoring.max-wait-ms", 100L)
            .check(v -> v >= 1, "an integer ≥ 1").describe("A partial batch is scored after this long.");
    public static final ConfigOption<Integer> MAX_WORDS = ConfigOption.integer("scoring.max-words", 4096)
            .check(v -> v >= 1, "an integer ≥ 1")
            .describe("A response whose prompt and response have more words is dead-lettered, not scored on a prefix.");
    public static final ConfigOption<String> DEVICE = ConfigOption.choice("scoring.device", "auto", "auto", "cpu", "gpu")
            .describe("Where DJL runs the scorers.");
    public static final ConfigOption<String> REGISTRY = ConfigOption.string("scoring.registry", "")
            .describe("Model registry; empty: .dualign/registry under the installation.");

    public static final ConfigOption<Long> CHECKPOINT_INTERVAL_MS = ConfigOption.longInteger("checkpoint.interval-ms", 2000L)
            .check(v -> v >= 10, "an integer ≥ 10").describe("Checkpoint interval; Kafka transactions commit on checkpoints.");
    public static final ConfigOption<String> CHECKPOINT_DIR = ConfigOption.string("checkpoint.dir", "")
            .describe("Where checkpoints go (a URI or path); empty: .dualign/checkpoints.");
    public static final ConfigOption<String> RESTORE_FROM = ConfigOption.string("checkpoint.restore-from", "")
            .describe("Checkpoint or savepoint to start from.");
    public static final ConfigOption<Integer> PARALLELISM = ConfigOption.integer("flink.parallelism", 2)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Parallelism of the job.");
    public static final ConfigOption<Integer> WEB_PORT = ConfigOption.integer("flink.web-port", 8081)
            .check(v -> v >= 0 && v < 65536, "a port").describe("Flink web UI of the local cluster (0: any free port).");
    public static final ConfigOption<Integer> PROMETHEUS_PORT = ConfigOption.integer("metrics.prometheus-port", 9249)
            .check(v -> v >= 0 && v < 65536, "a port").describe("Prometheus metrics endpoint (0: off).");

    public static final List<ConfigOption<?>> ALL = List.of(CONSTRAINT_SET, MODE, BETA, ETA, ETA_SCHEDULE, LAMBDA_MAX,
            HEADROOM, LAMBDA_INIT, REFERENCE_TIMEOUT_MS, REQUEST_TIMEOUT_MS, REQUEST_RETRIES,
            EPSILON, N_MIN, CONFIDENCE, INTERVAL, RANGE_LO, RANGE_HI, ONE_SHOT_PROMPTS, ONE_SHOT_SAMPLES, PRIMAL_DUAL_BATCH, ENFORCE_EVERY,
            EMIT_EVERY, PARTIAL_SIZE, PARTIAL_WAIT_MS, BATCH_SIZE, MAX_WAIT_MS, MAX_WORDS, DEVICE, REGISTRY,
            CHECKPOINT_INTERVAL_MS, CHECKPOINT_DIR, RESTORE_FROM, PARALLELISM, WEB_PORT, PROMETHEUS_PORT);

    private JobOptions() {}
}
