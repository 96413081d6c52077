package dev.dualign.streaming;

import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigException;
import dev.dualign.core.control.ControlSettings;
import dev.dualign.core.event.VersionEstimate;
import dev.dualign.model.Devices;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.ScorerSet;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The alignment job's resolved settings, checked at start-up. Serializable: operators carry it. The
 * controller's settings are {@link ControlSettings}, read from their own keys; the rest are the job's.
 *
 * @param control the controller's settings ({@code dual.*} of its rules, the constraints)
 * @param partialSize samples each subtask groups per key before the keyed estimator or controller
 *     reads them as one record ({@code MicroBatcher})
 * @param rewardRangeLo lower end of the reward's range: rewards are clipped into [rewardRangeLo,
 *     rewardRangeHi] for their anytime-valid sequence (the scorers' heads are unbounded)
 * @param maxWords most words of prompt and response together that are scored; a longer response is
 *     dead-lettered (a scorer would read only its first tokens)
 * @param scorers the registry version of each scorer (and tokenizer) this run scores with, resolved
 *     once when the job is built ({@link #pinScorers}); empty until then
 */
public record JobSettings(ControlSettings control, String constraintSet, double confidence, boolean anytimeValid,
        double rangeLo, double rangeHi, double rewardRangeLo, double rewardRangeHi, int partialSize, long partialWaitMs, int batchSize,
        long maxWaitMs, int maxWords,
        Devices.Choice device, String registry, long checkpointIntervalMs, String checkpointDir, String restoreFrom,
        int parallelism, int webPort, int prometheusPort, Map<String, Long> scorers, Datasets datasets) implements Serializable {

    /**
     * Where and how much the job writes for each fine-tune request: the file a trainer reads
     * instead of the job's topics.
     *
     * @param root the directory (absolute path) the files go under
     * @param maxPrompts most recent prompts a file holds
     * @param maxResponses most responses kept per prompt (K)
     * @param keep files kept; older ones are deleted
     */
    public record Datasets(String root, int maxPrompts, int maxResponses, int keep) implements Serializable {}

    public JobSettings {
        scorers = scorers == null ? Map.of() : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(scorers));
    }

    /** Utility name → margin b, in configuration order (for a relative one: above the reference's mean). */
    public Map<String, Double> constraints() {
        return control.constraints();
    }

    /**
     * The margins to judge against with no controller's word on them: the configured ones when all
     * are absolute, else null (a relative margin is known only once the controller has measured the
     * reference, and published in its {@code DualUpdate}).
     */
    public Map<String, Double> absoluteMargins() {
        return control.hasRelative() ? null : control.constraints();
    }

    public static JobSettings from(Config c, Path home) {
        ControlSettings control = ControlSettings.from(c);
        double lo = c.get(JobOptions.RANGE_LO);
        double hi = c.get(JobOptions.RANGE_HI);
        if (!(hi > lo)) {
            throw new ConfigException(JobOptions.RANGE_HI.key(), "must be greater than dual.range-lo (" + lo + ")");
        }
        double rlo = c.get(JobOptions.REWARD_RANGE_LO);
        double rhi = c.get(JobOptions.REWARD_RANGE_HI);
        if (!(rhi > rlo)) {
            throw new ConfigException(JobOptions.REWARD_RANGE_HI.key(), "must be greater than dual.reward-range-lo (" + rlo + ")");
        }
        for (String name : control.names()) {
            if (name.equals(VersionEstimate.REWARD) || name.equals(VersionEstimate.KL)) {
                throw new ConfigException("constraints." + name, "a constraint may not be named " + name
                        + ": the version estimates report the reward and the KL under that name");
            }
        }
        String registry = c.get(JobOptions.REGISTRY);
        String ckpt = c.get(JobOptions.CHECKPOINT_DIR);
        return new JobSettings(control, c.get(JobOptions.CONSTRAINT_SET), c.get(JobOptions.CONFIDENCE),
                c.get(JobOptions.INTERVAL).equals("bernstein"), lo, hi, rlo, rhi, c.get(JobOptions.PARTIAL_SIZE), c.get(JobOptions.PARTIAL_WAIT_MS),
                c.get(JobOptions.BATCH_SIZE), c.get(JobOptions.MAX_WAIT_MS), c.get(JobOptions.MAX_WORDS),
                Devices.Choice.of(c.get(JobOptions.DEVICE)),
                registry.isBlank() ? home.resolve(".dualign/registry").toString() : registry,
                c.get(JobOptions.CHECKPOINT_INTERVAL_MS),
                ckpt.isBlank() ? home.resolve(".dualign/checkpoints").toUri().toString() : toUri(ckpt),
                c.get(JobOptions.RESTORE_FROM), c.get(JobOptions.PARALLELISM), c.get(JobOptions.WEB_PORT),
                c.get(JobOptions.PROMETHEUS_PORT), Map.of(), datasets(c, home));
    }

    private static Datasets datasets(Config c, Path home) {
        String root = c.get(JobOptions.DATASET_ROOT);
        Path dir;
        if (root.isBlank()) {
            dir = home.resolve(".dualign/datasets");
        } else if (root.startsWith("file:")) {
            dir = Path.of(java.net.URI.create(root));
        } else if (root.contains("://")) {
            throw new ConfigException(JobOptions.DATASET_ROOT.key(), "must be a path or a file: URI (mount shared storage "
                    + "where the job and the trainers see it), got " + root);
        } else {
            dir = Path.of(root);
        }
        return new Datasets(dir.toAbsolutePath().normalize().toString(), c.get(JobOptions.DATASET_MAX_PROMPTS),
                c.get(JobOptions.DATASET_MAX_RESPONSES), c.get(JobOptions.DATASET_KEEP));
    }

    private static String toUri(String s) {
        return s.contains("://") ? s : Path.of(s).toAbsolutePath().toUri().toString();
    }

    public List<String> names() {
        return control.names();
    }

    public double[] margins() {
        return control.margins();
    }

    /** A copy that keeps its checkpoints in {@code dir} (a URI or path). */
    public JobSettings withCheckpointDir(String dir) {
        return new JobSettings(control, constraintSet, confidence, anytimeValid, rangeLo, rangeHi, rewardRangeLo, rewardRangeHi, partialSize, partialWaitMs,
                batchSize, maxWaitMs, maxWords, device, registry, checkpointIntervalMs, dir, restoreFrom, parallelism, webPort,
                prometheusPort, scorers, datasets);
    }

    /**
     * This run's scorers: a copy pinned to the registry's newest scorer versions ({@link
     * ScorerSet#pin}), or this when pinned already. Pinned once, at submission, every subtask and
     * every failover of the run scores with the same models; a later submission (a restart from a
     * checkpoint) that finds a newer scorer pins that one, and its estimates start a new series.
     */
    public JobSettings pinScorers() {
        if (!scorers.isEmpty()) {
            return this;
        }
        return new JobSettings(control, constraintSet, confidence, anytimeValid, rangeLo, rangeHi, rewardRangeLo, rewardRangeHi, partialSize, partialWaitMs,
                batchSize, maxWaitMs, maxWords, device, registry, checkpointIntervalMs, checkpointDir, restoreFrom, parallelism, webPort,
                prometheusPort, ScorerSet.pin(new ModelRegistry(Path.of(registry)), names()), datasets);
    }

    /** Who holds this run's scorer pins in the registry (so pruning keeps the versions it scores with). */
    public String scorerPinHolder() {
        return "job-" + constraintSet.replaceAll("[^A-Za-z0-9._-]", "_");
    }

    /** A copy that starts from a checkpoint or savepoint. */
    public JobSettings withRestoreFrom(String path) {
        return new JobSettings(control, constraintSet, confidence, anytimeValid, rangeLo, rangeHi, rewardRangeLo, rewardRangeHi, partialSize, partialWaitMs,
                batchSize, maxWaitMs, maxWords, device, registry, checkpointIntervalMs, checkpointDir, path, parallelism, webPort,
                prometheusPort, scorers, datasets);
    }
}
