package dev.dualign.core.control;

import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigException;
import dev.dualign.core.dual.DualMode;
import dev.dualign.core.dual.NewtonStep;
import dev.dualign.core.dual.ProjectedSubgradient;
import dev.dualign.core.dual.StepRule;
import java.io.Serializable;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the controller rules need from the configuration ({@code dual.*} and {@code constraints}),
 * read by {@link #from} from the keys of {@link ControlOptions}.
 *
 * @param mode how λ moves
 * @param constraints utility name → margin b, in configuration order (λ's positions); for a
 *     constraint in {@code relativeToReference}, the margin above the reference's mean (CAID's
 *     E g − E_ref g ≥ b), resolved by {@link #resolve} once the reference is measured
 * @param beta the KL weight β of the one-shot dual
 * @param eta the dual step size η₀
 * @param schedule how η shrinks with the step number
 * @param lambdaMax the upper end of λ's box
 * @param epsilon the half-width an estimate must reach to be tight
 * @param nMin samples an estimate needs to be tight
 * @param estimateEvery samples between two estimates of a version (the least evidence for a violation)
 * @param primalDualBatch live samples per primal-dual step
 * @param oneShotPrompts prompts the one-shot solve waits for
 * @param oneShotSamplesPerPrompt reference samples each of those prompts needs
 * @param lambdaInit λ(0) when no one-shot solve is possible within {@code referenceTimeoutMs}
 * @param referenceTimeoutMs how long the one-shot solve waits for its reference samples
 * @param requestTimeoutMs how long a fine-tune request waits for the version that answers it
 * @param requestRetries how often an unanswered request is re-sent before an alert
 * @param relativeToReference the constraints whose margin is relative to the reference's mean
 * @param headroom how far above each margin λ aims (the one-shot solve and every dual step): a
 *     version exactly at the margin can never be confirmed by the canary's anytime-valid bound, one
 *     this far above it can; the margins the canary and the alerts check stay the configured ones
 * @param enforceEvery in {@code enforce} mode, new candidate sets (prompts) between two solves on the
 *     newest {@code oneShotPrompts} of them
 * @param stepRule how the iterative mode sizes its step (the primal-dual baseline always takes the subgradient step)
 * @param newtonDamping the fraction of the Newton step taken
 * @param newtonMaxStep the largest change of any λ in one Newton step
 * @param newtonGain the loop-gain bound of the fallback step when no sensitivity is usable
 * @param canaryRewardMargin δ, the reward a canary may lose against the stable version and still be promoted
 */
public record ControlSettings(DualMode mode, Map<String, Double> constraints, double beta, double eta,
        ProjectedSubgradient.Schedule schedule, double lambdaMax, double epsilon, int nMin, int estimateEvery,
        int primalDualBatch, int oneShotPrompts, int oneShotSamplesPerPrompt, double lambdaInit, long referenceTimeoutMs,
        long requestTimeoutMs, int requestRetries, List<String> relativeToReference, double headroom, int enforceEvery,
        StepRule stepRule, double newtonDamping, double newtonMaxStep, double newtonGain, double canaryRewardMargin)
        implements Serializable {
    private static final long serialVersionUID = 1L;

    public ControlSettings {
        constraints = Collections.unmodifiableMap(new LinkedHashMap<>(constraints));
        relativeToReference = List.copyOf(relativeToReference);
        if (!constraints.keySet().containsAll(relativeToReference)) {
            throw new IllegalArgumentException("relative margins " + relativeToReference + " name unknown constraints");
        }
        if (enforceEvery < 1) {
            throw new IllegalArgumentException("enforce every must be ≥ 1 prompt, got " + enforceEvery);
        }
        if (!(headroom >= 0) || !Double.isFinite(headroom)) {
            throw new IllegalArgumentException("headroom must be a finite number ≥ 0, got " + headroom);
        }
        java.util.Objects.requireNonNull(stepRule, "stepRule");
        new NewtonStep(newtonDamping, newtonMaxStep, newtonGain, beta, lambdaMax); // checks the three
        if (!(canaryRewardMargin >= 0) || !Double.isFinite(canaryRewardMargin)) {
            throw new IllegalArgumentException("canary reward margin must be a finite number ≥ 0, got " + canaryRewardMargin);
        }
    }

    /** Reads the controller's keys ({@link ControlOptions}) and the constraints; a bad one fails naming its key. */
    public static ControlSettings from(Config c) {
        Constraints parsed = Constraints.from(c);
        DualMode mode = DualMode.fromKey(c.get(ControlOptions.MODE));
        if (!parsed.relative().isEmpty() && !mode.usesReferenceSamples()) {
            throw new ConfigException(ControlOptions.CONSTRAINTS_PREFIX + parsed.relative().get(0) + ".relative-to", "a margin "
                    + "relative to the reference is measured on reference samples, which dual.mode " + mode.key() + " does not "
                    + "take; use a mode that does (" + java.util.Arrays.stream(DualMode.values()).filter(DualMode::usesReferenceSamples)
                    .map(DualMode::key).collect(java.util.stream.Collectors.joining(", ")) + ") or an absolute margin");
        }
        return new ControlSettings(mode, parsed.margins(), c.get(ControlOptions.BETA), c.get(ControlOptions.ETA),
                c.get(ControlOptions.ETA_SCHEDULE).equals("constant") ? ProjectedSubgradient.Schedule.CONSTANT
                        : ProjectedSubgradient.Schedule.INVERSE_SQRT,
                c.get(ControlOptions.LAMBDA_MAX), c.get(ControlOptions.EPSILON), c.get(ControlOptions.N_MIN),
                c.get(ControlOptions.ESTIMATE_EVERY), c.get(ControlOptions.PRIMAL_DUAL_BATCH), c.get(ControlOptions.ONE_SHOT_PROMPTS),
                c.get(ControlOptions.ONE_SHOT_SAMPLES), c.get(ControlOptions.LAMBDA_INIT), c.get(ControlOptions.REFERENCE_TIMEOUT_MS),
                c.get(ControlOptions.REQUEST_TIMEOUT_MS), c.get(ControlOptions.REQUEST_RETRIES), parsed.relative(),
                c.get(ControlOptions.HEADROOM), c.get(ControlOptions.ENFORCE_EVERY), StepRule.fromKey(c.get(ControlOptions.STEP_RULE)),
                c.get(ControlOptions.NEWTON_DAMPING), c.get(ControlOptions.NEWTON_MAX_STEP), c.get(ControlOptions.NEWTON_GAIN),
                c.get(ControlOptions.CANARY_REWARD_MARGIN));
    }

    /** The subgradient step (the papers' algorithms). */
    public ControlSettings(DualMode mode, Map<String, Double> constraints, double beta, double eta,
            ProjectedSubgradient.Schedule schedule, double lambdaMax, double epsilon, int nMin, int estimateEvery,
            int primalDualBatch, int oneShotPrompts, int oneShotSamplesPerPrompt, double lambdaInit, long referenceTimeoutMs,
            long requestTimeoutMs, int requestRetries, List<String> relativeToReference, double headroom, int enforceEvery) {
        this(mode, constraints, beta, eta, schedule, lambdaMax, epsilon, nMin, estimateEvery, primalDualBatch, oneShotPrompts,
                oneShotSamplesPerPrompt, lambdaInit, referenceTimeoutMs, requestTimeoutMs, requestRetries, relativeToReference,
                headroom, enforceEvery, StepRule.SUBGRADIENT, ControlOptions.NEWTON_DAMPING.defaultValue(),
                ControlOptions.NEWTON_MAX_STEP.defaultValue(), ControlOptions.NEWTON_GAIN.defaultValue(),
                ControlOptions.CANARY_REWARD_MARGIN.defaultValue());
    }

    /** No headroom, the subgradient step: λ aims at the margins themselves (the papers' algorithms). */
    public ControlSettings(DualMode mode, Map<String, Double> constraints, double beta, double eta,
            ProjectedSubgradient.Schedule schedule, double lambdaMax, double epsilon, int nMin, int estimateEvery,
            int primalDualBatch, int oneShotPrompts, int oneShotSamplesPerPrompt, double lambdaInit, long referenceTimeoutMs,
            long requestTimeoutMs, int requestRetries, List<String> relativeToReference) {
        this(mode, constraints, beta, eta, schedule, lambdaMax, epsilon, nMin, estimateEvery, primalDualBatch, oneShotPrompts,
                oneShotSamplesPerPrompt, lambdaInit, referenceTimeoutMs, requestTimeoutMs, requestRetries, relativeToReference, 0,
                Math.max(1, oneShotPrompts / 4));
    }

    public ControlSettings withHeadroom(double h) {
        return new ControlSettings(mode, constraints, beta, eta, schedule, lambdaMax, epsilon, nMin, estimateEvery,
                primalDualBatch, oneShotPrompts, oneShotSamplesPerPrompt, lambdaInit, referenceTimeoutMs, requestTimeoutMs,
                requestRetries, relativeToReference, h, enforceEvery, stepRule, newtonDamping, newtonMaxStep, newtonGain,
                canaryRewardMargin);
    }

    /** The same settings with the iterative step sized by {@code rule} (Newton: damping, max step and gain as given). */
    public ControlSettings withStepRule(StepRule rule, double damping, double maxStep, double gain) {
        return new ControlSettings(mode, constraints, beta, eta, schedule, lambdaMax, epsilon, nMin, estimateEvery,
                primalDualBatch, oneShotPrompts, oneShotSamplesPerPrompt, lambdaInit, referenceTimeoutMs, requestTimeoutMs,
                requestRetries, relativeToReference, headroom, enforceEvery, rule, damping, maxStep, gain, canaryRewardMargin);
    }

    /** What λ aims at: each margin plus the headroom. */
    public double[] targets(double[] margins) {
        double[] t = margins.clone();
        for (int c = 0; c < t.length; c++) {
            t[c] += headroom;
        }
        return t;
    }

    /** Every margin absolute. */
    public ControlSettings(DualMode mode, Map<String, Double> constraints, double beta, double eta,
            ProjectedSubgradient.Schedule schedule, double lambdaMax, double epsilon, int nMin, int estimateEvery,
            int primalDualBatch, int oneShotPrompts, int oneShotSamplesPerPrompt, double lambdaInit, long referenceTimeoutMs,
            long requestTimeoutMs, int requestRetries) {
        this(mode, constraints, beta, eta, schedule, lambdaMax, epsilon, nMin, estimateEvery, primalDualBatch, oneShotPrompts,
                oneShotSamplesPerPrompt, lambdaInit, referenceTimeoutMs, requestTimeoutMs, requestRetries, List.of());
    }

    /** Whether some margin waits for the reference's mean. */
    public boolean hasRelative() {
        return !relativeToReference.isEmpty();
    }

    /**
     * The absolute margins: as configured, or the reference's mean plus the configured margin for
     * a relative one.
     *
     * @param referenceMeans the reference's mean of each utility, in configuration order
     */
    public double[] resolve(double[] referenceMeans) {
        double[] b = margins();
        List<String> names = names();
        for (int c = 0; c < b.length; c++) {
            if (relativeToReference.contains(names.get(c))) {
                if (!Double.isFinite(referenceMeans[c])) {
                    throw new IllegalArgumentException("no reference mean for relative margin '" + names.get(c) + "'");
                }
                b[c] += referenceMeans[c];
            }
        }
        return b;
    }

    /** The absolute margins now: the configured ones, resolved with {@code s}'s reference means; null while those are unknown. */
    public double[] marginsFor(ControllerState s) {
        if (!hasRelative()) {
            return margins();
        }
        return s.referenceMeans() == null ? null : resolve(s.referenceMeans());
    }

    public List<String> names() {
        return List.copyOf(constraints.keySet());
    }

    public double[] margins() {
        return constraints.values().stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** The names of the constraints whose λ is at the upper end of its box (the margin may be unreachable). */
    public java.util.List<String> atLambdaMax(double[] lambda) {
        java.util.List<String> out = new java.util.ArrayList<>();
        java.util.List<String> names = names();
        for (int c = 0; c < lambda.length; c++) {
            if (lambda[c] >= lambdaMax) {
                out.add(names.get(c));
            }
        }
        return out;
    }

    /** The Newton step these settings describe. */
    public NewtonStep newton() {
        return new NewtonStep(newtonDamping, newtonMaxStep, newtonGain, beta, lambdaMax);
    }

    /** The projected subgradient step these settings describe. */
    public ProjectedSubgradient subgradient() {
        return new ProjectedSubgradient(eta, schedule, lambdaMax);
    }
}
