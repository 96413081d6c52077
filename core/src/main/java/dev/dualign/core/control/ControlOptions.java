package dev.dualign.core.control;

import dev.dualign.core.config.ConfigOption;
import dev.dualign.core.dual.DualMode;
import dev.dualign.core.dual.StepRule;
import java.util.Arrays;
import java.util.List;

/**
 * The keys the controller's rules read ({@code dual.*} and {@code constraints}), each with its
 * default, check and one line of doc; {@link ControlSettings#from} reads them. A new {@code dual.*}
 * key of the controller is added here and in {@link ControlSettings}, and documented in
 * {@code conf/dualign.yaml}.
 */
public final class ControlOptions {
    /** {@code constraints.<utility>: <margin>}: one entry per constraint E[g] ≥ b. */
    public static final String CONSTRAINTS_PREFIX = "constraints.";

    public static final ConfigOption<String> MODE = ConfigOption.choice("dual.mode", DualMode.defaultMode().key(),
            Arrays.stream(DualMode.values()).map(DualMode::key).toArray(String[]::new)).describe("How λ moves.");
    public static final ConfigOption<Double> BETA = ConfigOption.number("dual.beta", 0.1)
            .check(v -> v > 0, "a number > 0").describe("KL weight β.");
    public static final ConfigOption<Double> ETA = ConfigOption.number("dual.eta", 2.0)
            .check(v -> v > 0, "a number > 0").describe("Dual step size η₀.");
    public static final ConfigOption<String> ETA_SCHEDULE = ConfigOption.choice("dual.eta-schedule", "inverse-sqrt",
            "constant", "inverse-sqrt").describe("η_t = η₀ or η₀/√t.");
    public static final ConfigOption<String> STEP_RULE = ConfigOption.choice("dual.step-rule", StepRule.NEWTON.key(),
            Arrays.stream(StepRule.values()).map(StepRule::key).toArray(String[]::new))
            .describe("iterative mode: newton (Δλ = −damping·u/S, S = Var_{π_λ}(g)/β measured on the reference samples) "
                    + "or subgradient (Δλ = −η_t·u).");
    public static final ConfigOption<Double> NEWTON_DAMPING = ConfigOption.number("dual.newton.damping", 0.5)
            .check(v -> v > 0 && v <= 1, "a number in (0, 1]")
            .describe("Fraction d of the Newton step taken: the loop gain is d·(true slope)/S.");
    public static final ConfigOption<Double> NEWTON_MAX_STEP = ConfigOption.number("dual.newton.max-step", 2.0)
            .check(v -> v > 0, "a number > 0").describe("The largest change of any λ in one Newton step.");
    public static final ConfigOption<Double> NEWTON_GAIN = ConfigOption.number("dual.newton.gain", 0.5)
            .check(v -> v > 0 && v < 1, "a number in (0, 1)")
            .describe("Without a usable S, the step η·u with η·s ≤ this gain, s the larger of S and 0.25/β.");
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
    public static final ConfigOption<Integer> ONE_SHOT_PROMPTS = ConfigOption.integer("dual.one-shot.prompts", 200)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Reference prompts needed before the one-shot solve.");
    public static final ConfigOption<Integer> ONE_SHOT_SAMPLES = ConfigOption.integer("dual.one-shot.samples-per-prompt", 16)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Reference samples per prompt needed.");
    public static final ConfigOption<Integer> PRIMAL_DUAL_BATCH = ConfigOption.integer("dual.primal-dual.batch", 100)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Live samples per primal-dual step.");
    public static final ConfigOption<Integer> ENFORCE_EVERY = ConfigOption.integer("dual.enforce.every", 50)
            .check(v -> v >= 1, "an integer ≥ 1").describe("enforce mode: new candidate sets (prompts) between two solves of "
                    + "λ on the newest dual.one-shot.prompts of them.");
    public static final ConfigOption<Double> CANARY_REWARD_MARGIN = ConfigOption.number("dual.canary.reward-margin", 0.02)
            .check(v -> v >= 0, "a number ≥ 0")
            .describe("Non-inferiority margin δ: a canary whose reward is below the stable version's by more than δ "
                    + "with confidence is rolled back, and promoted only once it is shown within δ.");
    public static final ConfigOption<Integer> ESTIMATE_EVERY = ConfigOption.integer("dual.estimate-every", 25)
            .check(v -> v >= 1, "an integer ≥ 1").describe("A version's estimate is published every this many samples.");

    public static final List<ConfigOption<?>> ALL = List.of(MODE, BETA, ETA, ETA_SCHEDULE, STEP_RULE, NEWTON_DAMPING,
            NEWTON_MAX_STEP, NEWTON_GAIN, LAMBDA_MAX, HEADROOM, LAMBDA_INIT,
            REFERENCE_TIMEOUT_MS, REQUEST_TIMEOUT_MS, REQUEST_RETRIES, EPSILON, N_MIN, ONE_SHOT_PROMPTS, ONE_SHOT_SAMPLES,
            PRIMAL_DUAL_BATCH, ENFORCE_EVERY, ESTIMATE_EVERY, CANARY_REWARD_MARGIN);

    private ControlOptions() {}
}
