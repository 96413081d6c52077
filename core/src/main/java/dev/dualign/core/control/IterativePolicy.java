package dev.dualign.core.control;

import dev.dualign.core.dual.NewtonStep;
import dev.dualign.core.dual.StepKind;
import dev.dualign.core.dual.StepRule;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.VersionEstimate;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * CAID's iterative dualization: λ(0) from the one-shot solve (inherited; {@code init} when no
 * reference samples come), then for the awaited policy version, once its estimate is
 * {@linkplain #ready ready}, one dual step on that version's estimate, and a request for the next
 * version. The step is {@code dual.step-rule}'s: the Newton step λ ← [λ − d·S⁻¹(ĝ − b)]₊ with S
 * the tilted sensitivity measured at λ(0) ({@link NewtonStep}, decision 27), or the projected
 * subgradient step λ ← [λ − η_t(ĝ − b)]₊. Version 0 (the reference's live
 * traffic), older versions and a version that already moved λ never move it. A request that no
 * version answers within {@code requestTimeoutMs} is re-sent, {@code requestRetries} times, then
 * an alert goes out.
 */
public final class IterativePolicy extends OneShotPolicy {
    /** Read on every estimate: kept, not rebuilt from the settings each time. */
    private final List<String> names;

    public IterativePolicy(ControlSettings cfg) {
        super(cfg);
        this.names = cfg.names();
    }

    /** A step per fine-tuned version, for as long as versions come. */
    @Override
    public boolean movesLambda(ControllerState s) {
        return true;
    }

    @Override
    public Decision onEstimate(ControllerState s, VersionEstimate e) {
        long v = e.policyVersion();
        ControllerState seen = s.withSeen(v);
        if (v == 0 && s.oneShotDone() && cfg.hasRelative() && s.referenceMeans() == null) {
            // λ(0) came without reference samples (init) or the constraints changed: a relative
            // margin is measured on the reference's live traffic instead, once it is tight
            double[] means = referenceMeans(e);
            return Decision.stay(means == null ? seen : seen.withReferenceMeans(means));
        }
        double[] margins = cfg.marginsFor(s);
        if (!s.oneShotDone() || v == 0 || (s.awaiting() >= 0 && v < s.awaiting()) || margins == null) {
            return Decision.stay(seen); // before λ(0), the reference, or an older version: never moves λ
        }
        ControllerState waiting = seen.withAwaiting(Math.max(s.awaiting(), v)); // a newer deployment than awaited
        if (v > s.latestVersion()) {
            // a new version answered the request: its wait (to move λ) starts now, with no retries spent
            waiting = waiting.withDeadline(0).withRetries(0);
        }
        if (v == s.lastStepped() || !ready(e, margins)) {
            return Decision.stay(waiting);
        }
        double[] g = new double[names.size()];
        Map<String, Estimate> evidence = new LinkedHashMap<>();
        for (int c = 0; c < g.length; c++) {
            Estimate x = e.estimates().get(names.get(c)); // finite: an Estimate refuses NaN and ±∞
            g[c] = x.mean();
            evidence.put(names.get(c), x);
        }
        long t = s.step() + 1;
        double[] lambda;
        String note = null;
        if (cfg.stepRule() == StepRule.NEWTON) {
            NewtonStep.Result r = cfg.newton().step(s.lambda(), g, cfg.targets(margins), s.sensitivity());
            lambda = r.lambda();
            if (!r.newton()) {
                note = "dual step " + t + " on version " + v + ": no usable sensitivity Var(g)/β from the reference "
                        + (s.sensitivity() == null ? "(no one-shot solve)" : java.util.Arrays.toString(s.sensitivity()))
                        + "; gain-limited step (dual.newton.gain " + cfg.newtonGain() + ")";
            }
        } else {
            lambda = cfg.subgradient().step(s.lambda(), g, cfg.targets(margins), t);
        }
        ControllerState next = seen.withStep(lambda, t).withAwaiting(v + 1).withLastStepped(v);
        Decision d = Decision.stepped(next, new DualStep(StepKind.ITERATIVE, t, v, lambda, evidence, cfg.atLambdaMax(lambda)));
        return note == null ? d : d.withWarning(note);
    }

    @Override
    public ControllerState arm(ControllerState s, long now) {
        if (!s.oneShotDone()) {
            return super.arm(s, now);
        }
        // waiting for the version that answers the last request; given up after the retries
        return s.deadline() == 0 && s.retries() <= cfg.requestRetries() ? s.withDeadline(now + cfg.requestTimeoutMs()) : s;
    }

    @Override
    public Decision onDeadline(ControllerState s, long now) {
        if (!s.oneShotDone()) {
            return super.onDeadline(s, now);
        }
        if (s.retries() < cfg.requestRetries()) {
            int attempt = s.retries() + 1;
            long base = Math.max(0, s.lastStepped());
            return Decision.retried(s.withRetries(attempt).withDeadline(0), new Decision.Retry(attempt, s.lambda(), base));
        }
        // exhausted: say so once and stop re-arming until a version arrives and moves λ again
        return Decision.alerted(s.withRetries(cfg.requestRetries() + 1).withDeadline(0),
                new Decision.ControlAlert(Decision.ControlAlert.Kind.NO_VERSION, "", s.awaiting(), "no version answered the "
                        + "fine-tune request for version " + s.awaiting() + " after " + cfg.requestRetries()
                        + " re-sends of " + cfg.requestTimeoutMs() + " ms each; is the fine-tuner running?"));
    }

    /** Version 0's means of every constraint utility once each rests on n-min samples, else null. */
    private double[] referenceMeans(VersionEstimate e) {
        double[] means = new double[names.size()];
        for (int c = 0; c < means.length; c++) {
            Estimate x = e.estimates().get(names.get(c));
            if (x == null || x.n() < cfg.nMin()) {
                return null;
            }
            means[c] = x.mean();
        }
        return means;
    }

    /**
     * Ready to move λ: for every constraint the estimate is tight (n ≥ n_min, half-width ≤ ε, on
     * the display interval, looked at once n-min is reached) or already shows a violation with
     * confidence on its anytime-valid bound (wholly below the margin, on at least one estimate's
     * worth of samples). The second case lets λ react to a version that is rolled back before it
     * could collect n_min samples; it is checked on every estimate, so a fixed-n interval would
     * make it optional stopping (a step on a mean picked because it looked low biases λ upward).
     */
    public boolean ready(VersionEstimate e, double[] margins) {
        for (int c = 0; c < names.size(); c++) {
            Estimate x = e.estimates().get(names.get(c));
            if (x == null) {
                return false;
            }
            Estimate bound = e.bounds().get(names.get(c));
            boolean tight = x.n() >= cfg.nMin() && (x.hi() - x.lo()) / 2 <= cfg.epsilon();
            boolean violated = bound != null && bound.n() >= Math.min(cfg.nMin(), cfg.estimateEvery())
                    && bound.hi() < margins[c];
            if (!tight && !violated) {
                return false;
            }
        }
        return true;
    }
}
