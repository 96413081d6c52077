package dev.dualign.core.control;

import dev.dualign.core.dual.StepKind;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.ScoredSample;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Safe-RLHF-style primal-dual baseline: a projected subgradient step on the mean utility of
 * every {@code primalDualBatch} live samples of the policy it steers (the newest version seen;
 * older versions' traffic, such as the stable reference's, is not that policy's), and a fine-tune
 * request with it only when none is outstanding, so versions come no faster than they are trained
 * and deployed.
 */
public final class PrimalDualPolicy implements ControlPolicy {
    private final ControlSettings cfg;
    /** Read on every live sample: kept, not rebuilt from the settings each time. */
    private final List<String> names;
    /** The margins plus the headroom: what the steps aim at. */
    private final double[] margins;

    public PrimalDualPolicy(ControlSettings cfg) {
        if (cfg.hasRelative()) {
            throw new IllegalArgumentException("primal-dual takes no reference samples: margins relative to the reference "
                    + cfg.relativeToReference() + " need dual.mode iterative or one-shot");
        }
        this.cfg = cfg;
        this.names = cfg.names();
        this.margins = cfg.targets(cfg.margins());
    }

    /** A step every mini-batch of live samples. */
    @Override
    public boolean movesLambda(ControllerState s) {
        return true;
    }

    @Override
    public Decision onLiveSample(ControllerState s, ScoredSample x) {
        long v = x.policyVersion() == null ? 0 : x.policyVersion();
        if (v < s.latestVersion()) {
            return Decision.stay(s); // not the policy being steered
        }
        boolean newer = v > s.latestVersion();
        double[] sums = newer ? new double[names.size()] : s.batchSums().clone(); // a new policy: a new batch
        for (int c = 0; c < sums.length; c++) {
            sums[c] += x.utility(names.get(c));
        }
        int count = (newer ? 0 : s.batchCount()) + 1;
        ControllerState seen = s.withSeen(v);
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
        double[] lambda = cfg.subgradient().step(s.lambda(), g, margins, t);
        long latest = seen.latestVersion();
        boolean ask = latest >= s.awaiting(); // the last request was answered by a newer version (or none sent)
        ControllerState next = seen.withStep(lambda, t).withLastStepped(latest).withBatch(new double[sums.length], 0)
                .withAwaiting(ask ? latest + 1 : s.awaiting());
        return Decision.stepped(next, new DualStep(StepKind.PRIMAL_DUAL, t, latest, lambda, evidence,
                cfg.atLambdaMax(lambda), ask));
    }
}
