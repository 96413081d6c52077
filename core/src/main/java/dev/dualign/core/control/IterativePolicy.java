package dev.dualign.core.control;

import dev.dualign.core.dual.DualMode;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.VersionEstimate;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * CAID's iterative dualization: warm start at the one-shot λ* (inherited), then for the awaited
 * policy version, once its estimate is {@linkplain #ready ready}, one projected subgradient step
 * λ ← [λ − η_t(ĝ − b)]₊ on that version's estimate, and a request for the next version. Older
 * versions, and a version that already moved λ, never move it again.
 */
public final class IterativePolicy extends OneShotPolicy {
    public IterativePolicy(ControlSettings cfg) {
        super(cfg);
    }

    @Override
    public Decision onEstimate(ControllerState s, VersionEstimate e) {
        long v = e.policyVersion();
        ControllerState seen = s.withSeen(v);
        if (s.awaiting() >= 0 && v < s.awaiting()) {
            return Decision.stay(seen); // an older version never moves λ
        }
        ControllerState waiting = seen.withAwaiting(Math.max(s.awaiting(), v)); // a newer deployment than awaited
        if (v == s.lastStepped() || !ready(e.estimates())) {
            return Decision.stay(waiting);
        }
        List<String> names = cfg.names();
        double[] g = new double[names.size()];
        Map<String, Estimate> evidence = new LinkedHashMap<>();
        for (int c = 0; c < g.length; c++) {
            Estimate x = e.estimates().get(names.get(c)); // finite: an Estimate refuses NaN and ±∞
            g[c] = x.mean();
            evidence.put(names.get(c), x);
        }
        long t = s.step() + 1;
        double[] lambda = cfg.subgradient().step(s.lambda(), g, cfg.margins(), t);
        ControllerState next = seen.withStep(lambda, t).withAwaiting(v + 1).withLastStepped(v);
        return Decision.stepped(next, new DualStep(DualMode.ITERATIVE, t, v, lambda, evidence));
    }

    /**
     * Ready to move λ: for every constraint the estimate is tight (n ≥ n_min, half-width ≤ ε) or
     * already shows a violation with confidence (its interval lies wholly below the margin, on at
     * least one estimate's worth of samples). The second case lets λ react to a version that is
     * rolled back before it could collect n_min samples: the direction of the step is then certain.
     */
    public boolean ready(Map<String, Estimate> estimates) {
        for (Map.Entry<String, Double> m : cfg.constraints().entrySet()) {
            Estimate x = estimates.get(m.getKey());
            if (x == null) {
                return false;
            }
            boolean tight = x.n() >= cfg.nMin() && (x.hi() - x.lo()) / 2 <= cfg.epsilon();
            boolean violated = x.n() >= Math.min(cfg.nMin(), cfg.estimateEvery()) && x.hi() < m.getValue();
            if (!tight && !violated) {
                return false;
            }
        }
        return true;
    }
}
