package dev.dualign.streaming;

import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigException;
import dev.dualign.core.control.ControlSettings;
import dev.dualign.core.dual.DualMode;
import dev.dualign.core.dual.ProjectedSubgradient;
import dev.dualign.model.Devices;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The alignment job's resolved settings, checked at start-up. Serializable: operators carry it.
 *
 * @param constraints utility name → margin b, in configuration order
 */
public record JobSettings(Map<String, Double> constraints, String constraintSet, DualMode mode, double beta, double eta,
        ProjectedSubgradient.Schedule schedule, double lambdaMax, double epsilon, int nMin, double confidence,
        boolean anytimeValid, double rangeLo, double rangeHi, int oneShotPrompts, int oneShotSamplesPerPrompt,
        int primalDualBatch, int estimateEvery, int batchSize, long maxWaitMs, Devices.Choice device, String registry,
        long checkpointIntervalMs, String checkpointDir, String restoreFrom, int parallelism, int webPort, int prometheusPort,
        double lambdaInit, long referenceTimeoutMs, long requestTimeoutMs, int requestRetries)
        implements Serializable {

    public JobSettings {
        constraints = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(constraints));
    }

    public static JobSettings from(Config c, Path home) {
        Map<String, Double> constraints = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : c.withPrefix(JobOptions.CONSTRAINTS_PREFIX).entrySet()) {
            String key = JobOptions.CONSTRAINTS_PREFIX + e.getKey();
            if (!e.getKey().matches("[a-z][a-z0-9_-]*")) {
                throw new ConfigException(key, "a constraint is named by its utility (lower-case letters, digits, '-', '_')");
            }
            try {
                double b = Double.parseDouble(e.getValue());
                if (!Double.isFinite(b)) {
                    throw new NumberFormatException();
                }
                constraints.put(e.getKey(), b);
            } catch (NumberFormatException ex) {
                throw new ConfigException(key, "the margin must be a finite number, got '" + e.getValue() + "'");
            }
        }
        if (constraints.isEmpty()) {
            throw new ConfigException("constraints", "at least one constraint is needed, e.g. constraints: {harmless: 0.5}");
        }
        double lo = c.get(JobOptions.RANGE_LO);
        double hi = c.get(JobOptions.RANGE_HI);
        if (!(hi > lo)) {
            throw new ConfigException(JobOptions.RANGE_HI.key(), "must be greater than dual.range-lo (" + lo + ")");
        }
        String registry = c.get(JobOptions.REGISTRY);
        String ckpt = c.get(JobOptions.CHECKPOINT_DIR);
        return new JobSettings(constraints, c.get(JobOptions.CONSTRAINT_SET), DualMode.fromKey(c.get(JobOptions.MODE)), c.get(JobOptions.BETA),
                c.get(JobOptions.ETA), c.get(JobOptions.ETA_SCHEDULE).equals("constant") ? ProjectedSubgradient.Schedule.CONSTANT
                        : ProjectedSubgradient.Schedule.INVERSE_SQRT,
                c.get(JobOptions.LAMBDA_MAX), c.get(JobOptions.EPSILON), c.get(JobOptions.N_MIN), c.get(JobOptions.CONFIDENCE),
                c.get(JobOptions.INTERVAL).equals("bernstein"), lo, hi, c.get(JobOptions.ONE_SHOT_PROMPTS),
                c.get(JobOptions.ONE_SHOT_SAMPLES), c.get(JobOptions.PRIMAL_DUAL_BATCH), c.get(JobOptions.EMIT_EVERY),
                c.get(JobOptions.BATCH_SIZE), c.get(JobOptions.MAX_WAIT_MS), Devices.Choice.of(c.get(JobOptions.DEVICE)),
                registry.isBlank() ? home.resolve(".dualign/registry").toString() : registry,
                c.get(JobOptions.CHECKPOINT_INTERVAL_MS),
                ckpt.isBlank() ? home.resolve(".dualign/checkpoints").toUri().toString() : toUri(ckpt),
                c.get(JobOptions.RESTORE_FROM), c.get(JobOptions.PARALLELISM), c.get(JobOptions.WEB_PORT),
                c.get(JobOptions.PROMETHEUS_PORT), c.get(JobOptions.LAMBDA_INIT), c.get(JobOptions.REFERENCE_TIMEOUT_MS),
                c.get(JobOptions.REQUEST_TIMEOUT_MS), c.get(JobOptions.REQUEST_RETRIES));
    }

    private static String toUri(String s) {
        return s.contains("://") ? s : Path.of(s).toAbsolutePath().toUri().toString();
    }

    public List<String> names() {
        return List.copyOf(constraints.keySet());
    }

    public double[] margins() {
        return constraints.values().stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** What the controller's rules in {@code core} need. */
    public ControlSettings control() {
        return new ControlSettings(mode, constraints, beta, eta, schedule, lambdaMax, epsilon, nMin, estimateEvery,
                primalDualBatch, oneShotPrompts, oneShotSamplesPerPrompt, lambdaInit, referenceTimeoutMs, requestTimeoutMs,
                requestRetries);
    }

    /** A copy that starts from a checkpoint or savepoint. */
    public JobSettings withRestoreFrom(String path) {
        return new JobSettings(constraints, constraintSet, mode, beta, eta, schedule, lambdaMax, epsilon, nMin, confidence,
                anytimeValid, rangeLo, rangeHi, oneShotPrompts, oneShotSamplesPerPrompt, primalDualBatch, estimateEvery,
                batchSize, maxWaitMs, device, registry, checkpointIntervalMs, checkpointDir, path, parallelism, webPort,
                prometheusPort, lambdaInit, referenceTimeoutMs, requestTimeoutMs, requestRetries);
    }
}
