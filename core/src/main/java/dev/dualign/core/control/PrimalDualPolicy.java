package dev.dualign.core.control;

import dev.dualign.core.dual.DualMode;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.ScoredSample;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Safe-RLHF-style primal-dual baseline: a projected subgradient step on the mean utility of
 * every {@code primalDualBatch} live samples, whatever their version, and a fine-tune request each time.
 */
public final class PrimalDualPolicy implements ControlPolicy {
    private final ControlSettings cfg;

    public PrimalDualPolicy(ControlSettings cfg) {
        this.cfg = cfg;
    }

    @Override
    public Decision onLiveSample(ControllerState s, ScoredSample x) {
        List<String> names = cfg.names();
        double[] sums = s.batchSums().clone();
        for (int c = 0; c < sums.length; c++) {
            sums[c] += x.utility(names.get(c));
        }
        int count = s.batchCount() + 1;
        ControllerState seen = s.withSeen(x.policyVersion() == null ? 0 : x.policyVersion());
        if (count < cfg.primalDualBatch()) {
            return Decision.stay(seen.withBatch(sums, count));
        }
        double[] g = new double[sums.length];
        Map<String, Estimate> evidence = new LinkedHashMap<>();
        for (int c = 0; c < g.length; c++) {
            g[c] = sums[c] / count;
            evidence.put(names.get(c), new Estimate(g[c], g[c], g[c], count));
        }
        long t = s.step() + 1;
        double[] lambda = cfg.subgradient().step(s.lambda(), g, cfg.margins(), t);
        long latest = seen.latestVersion();
        ControllerState next = seen.withStep(lambda, t).withLastStepped(latest).withBatch(new double[sums.length], 0);
        return Decision.stepped(next, new DualStep(DualMode.PRIMAL_DUAL, t, latest, lambda, evidence));
    }
}
