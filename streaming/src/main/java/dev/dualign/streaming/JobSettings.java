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
 * @param constraints utility name → margin b, in configuration order (for a relative one: above the reference's mean)
 * @param relativeToReference constraints whose margin is relative to the reference's mean
 * @param partialSize samples each subtask groups per key before the keyed estimator or controller
 *     reads them as one record ({@code MicroBatcher})
 * @param maxWords most words of prompt and response together that are scored; a longer response is
 *     dead-lettered (a scorer would read only its first tokens)
 * @param headroom how far above each margin λ aims ({@code dual.headroom}, see {@code ControlSettings})
 */
public record JobSettings(Map<String, Double> constraints, String constraintSet, DualMode mode, double beta, double eta,
        ProjectedSubgradient.Schedule schedule, double lambdaMax, double epsilon, int nMin, double confidence,
        boolean anytimeValid, double rangeLo, double rangeHi, int oneShotPrompts, int oneShotSamplesPerPrompt,
        int primalDualBatch, int estimateEvery, int partialSize, long partialWaitMs, int batchSize, long maxWaitMs, int maxWords, Devices.Choice device, String registry,
        long checkpointIntervalMs, String checkpointDir, String restoreFrom, int parallelism, int webPort, int prometheusPort,
        double lambdaInit, long referenceTimeoutMs, long requestTimeoutMs, int requestRetries, List<String> relativeToReference,
        double headroom, int enforceEvery) implements Serializable {

    public JobSettings {
        constraints = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(constraints));
        relativeToReference = List.copyOf(relativeToReference);
    }

    /**
     * The margins to judge against with no controller's word on them: the configured ones when all
     * are absolute, else null (a relative margin is known only once the controller has measured the
     * reference, and published in its {@code DualUpdate}).
     */
    public Map<String, Double> absoluteMargins() {
        return relativeToReference.isEmpty() ? constraints : null;
    }

    public static JobSettings from(Config c, Path home) {
        Map<String, Double> constraints = new LinkedHashMap<>();
        List<String> relative = new java.util.ArrayList<>();
        Map<String, String> raw = c.withPrefix(JobOptions.CONSTRAINTS_PREFIX);
        for (Map.Entry<String, String> e : raw.entrySet()) {
            // NAME: b (absolute), or NAME: {margin: δ, relative-to: reference} (E g − E_ref g ≥ δ)
            String key = JobOptions.CONSTRAINTS_PREFIX + e.getKey();
            int dot = e.getKey().indexOf('.');
            String name = dot < 0 ? e.getKey() : e.getKey().substring(0, dot);
            String part = dot < 0 ? null : e.getKey().substring(dot + 1);
            if (!name.matches("[a-z][a-z0-9_-]*")) {
                throw new ConfigException(key, "a constraint is named by its utility (lower-case letters, digits, '-', '_')");
            }
            if (part == null && (raw.containsKey(name + ".margin") || raw.containsKey(name + ".relative-to"))) {
                throw new ConfigException(key, "give either a number or {margin: …, relative-to: reference}, not both");
            }
            if ("relative-to".equals(part)) {
                if (!e.getValue().equals("reference")) {
                    throw new ConfigException(key, "the only reference point is 'reference', got '" + e.getValue() + "'");
                }
                if (!raw.containsKey(name + ".margin")) {
                    throw new ConfigException(JobOptions.CONSTRAINTS_PREFIX + name + ".margin", "is required with relative-to");
                }
                relative.add(name);
                continue;
            }
            if (part != null && !part.equals("margin")) {
                throw new ConfigException(key, "unknown; a constraint takes 'margin' and 'relative-to'");
            }
            try {
                double b = Double.parseDouble(e.getValue());
                if (!Double.isFinite(b)) {
                    throw new NumberFormatException();
                }
                constraints.put(name, b);
            } catch (NumberFormatException ex) {
                throw new ConfigException(key, "the margin must be a finite number, got '" + e.getValue() + "'");
            }
        }
        DualMode mode = DualMode.fromKey(c.get(JobOptions.MODE));
        if (!relative.isEmpty() && !mode.usesReferenceSamples()) {
            throw new ConfigException(JobOptions.CONSTRAINTS_PREFIX + relative.get(0) + ".relative-to", "a margin relative to "
                    + "the reference is measured on reference samples, which dual.mode " + mode.key() + " does not take; "
                    + "use a mode that does (" + java.util.Arrays.stream(DualMode.values()).filter(DualMode::usesReferenceSamples)
                    .map(DualMode::key).collect(java.util.stream.Collectors.joining(", ")) + ") or an absolute margin");
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
        return new JobSettings(constraints, c.get(JobOptions.CONSTRAINT_SET), mode, c.get(JobOptions.BETA),
                c.get(JobOptions.ETA), c.get(JobOptions.ETA_SCHEDULE).equals("constant") ? ProjectedSubgradient.Schedule.CONSTANT
                        : ProjectedSubgradient.Schedule.INVERSE_SQRT,
                c.get(JobOptions.LAMBDA_MAX), c.get(JobOptions.EPSILON), c.get(JobOptions.N_MIN), c.get(JobOptions.CONFIDENCE),
                c.get(JobOptions.INTERVAL).equals("bernstein"), lo, hi, c.get(JobOptions.ONE_SHOT_PROMPTS),
                c.get(JobOptions.ONE_SHOT_SAMPLES), c.get(JobOptions.PRIMAL_DUAL_BATCH), c.get(JobOptions.EMIT_EVERY),
                c.get(JobOptions.PARTIAL_SIZE), c.get(JobOptions.PARTIAL_WAIT_MS),
                c.get(JobOptions.BATCH_SIZE), c.get(JobOptions.MAX_WAIT_MS), c.get(JobOptions.MAX_WORDS), Devices.Choice.of(c.get(JobOptions.DEVICE)),
                registry.isBlank() ? home.resolve(".dualign/registry").toString() : registry,
                c.get(JobOptions.CHECKPOINT_INTERVAL_MS),
                ckpt.isBlank() ? home.resolve(".dualign/checkpoints").toUri().toString() : toUri(ckpt),
                c.get(JobOptions.RESTORE_FROM), c.get(JobOptions.PARALLELISM), c.get(JobOptions.WEB_PORT),
                c.get(JobOptions.PROMETHEUS_PORT), c.get(JobOptions.LAMBDA_INIT), c.get(JobOptions.REFERENCE_TIMEOUT_MS),
                c.get(JobOptions.REQUEST_TIMEOUT_MS), c.get(JobOptions.REQUEST_RETRIES), relative, c.get(JobOptions.HEADROOM),
                c.get(JobOptions.ENFORCE_EVERY));
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
                requestRetries, relativeToReference, headroom, enforceEvery);
    }

    /** A copy that starts from a checkpoint or savepoint. */
    public JobSettings withRestoreFrom(String path) {
        return new JobSettings(constraints, constraintSet, mode, beta, eta, schedule, lambdaMax, epsilon, nMin, confidence,
                anytimeValid, rangeLo, rangeHi, oneShotPrompts, oneShotSamplesPerPrompt, primalDualBatch, estimateEvery,
                partialSize, partialWaitMs, batchSize, maxWaitMs, maxWords, device, registry, checkpointIntervalMs, checkpointDir, path, parallelism, webPort,
                prometheusPort, lambdaInit, referenceTimeoutMs, requestTimeoutMs, requestRetries, relativeToReference, headroom,
                enforceEvery);
    }
}
