package dev.dualign.streaming;

import dev.dualign.core.config.ConfigOption;
import dev.dualign.core.control.ControlOptions;
import java.util.List;

/**
 * The alignment job's own settings (estimates, scoring, checkpoints, Flink); the controller's keys are
 * {@link ControlOptions}. {@code conf/dualign.yaml} documents them all.
 */
public final class JobOptions {

    public static final ConfigOption<String> CONSTRAINT_SET = ConfigOption.string("dual.constraint-set", "default")
            .check(s -> !s.isBlank(), "a non-empty string").describe("Id of this controller (the dual topic's key).");
    public static final ConfigOption<Double> CONFIDENCE = ConfigOption.number("dual.confidence", 0.95)
            .check(v -> v > 0 && v < 1, "in (0, 1)").describe("Level of the estimates' intervals.");
    public static final ConfigOption<String> INTERVAL = ConfigOption.choice("dual.interval", "normal", "normal", "bernstein")
            .describe("normal (fixed-n) or bernstein (anytime-valid, needs dual.range-lo/hi).");
    public static final ConfigOption<Double> RANGE_LO = ConfigOption.number("dual.range-lo", -1.0)
            .describe("Lower end of the utilities' range for the anytime-valid interval.");
    public static final ConfigOption<Double> RANGE_HI = ConfigOption.number("dual.range-hi", 1.0)
            .describe("Upper end of the utilities' range for the anytime-valid interval.");
    public static final ConfigOption<Double> REWARD_RANGE_LO = ConfigOption.number("dual.reward-range-lo", -1.0)
            .describe("Lower end of the reward's range for its anytime-valid sequence (the canary's reward test).");
    public static final ConfigOption<Double> REWARD_RANGE_HI = ConfigOption.number("dual.reward-range-hi", 1.0)
            .describe("Upper end of the reward's range for its anytime-valid sequence (the canary's reward test).");
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

    public static final ConfigOption<String> DATASET_ROOT = ConfigOption.string("dataset.root", "")
            .describe("Where the job writes each fine-tune request's dataset (a path or file: URI a trainer can read); "
                    + "empty: .dualign/datasets under the installation.");
    public static final ConfigOption<Integer> DATASET_MAX_PROMPTS = ConfigOption.integer("dataset.max-prompts", 768)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Most recent prompts a dataset holds (each with its scored responses).");
    public static final ConfigOption<Integer> DATASET_MAX_RESPONSES = ConfigOption.integer("dataset.max-responses", 32)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Most responses kept per prompt (the K of the dataset).");
    public static final ConfigOption<Integer> DATASET_KEEP = ConfigOption.integer("dataset.keep", 16)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Dataset files kept under the root; older ones are deleted.");

    public static final List<ConfigOption<?>> ALL = List.of(CONSTRAINT_SET, CONFIDENCE, INTERVAL, RANGE_LO, RANGE_HI, REWARD_RANGE_LO, REWARD_RANGE_HI,
            PARTIAL_SIZE, PARTIAL_WAIT_MS, BATCH_SIZE, MAX_WAIT_MS, MAX_WORDS, DEVICE, REGISTRY, CHECKPOINT_INTERVAL_MS,
            CHECKPOINT_DIR, RESTORE_FROM, PARALLELISM, WEB_PORT, PROMETHEUS_PORT, DATASET_ROOT, DATASET_MAX_PROMPTS,
            DATASET_MAX_RESPONSES, DATASET_KEEP);

    private JobOptions() {}
}
