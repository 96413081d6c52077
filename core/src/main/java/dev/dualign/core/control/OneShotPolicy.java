package dev.dualign.core.control;

import dev.dualign.core.dual.DualMode;
import dev.dualign.core.dual.DualProblem;
import dev.dualign.core.dual.DualSolution;
import dev.dualign.core.dual.DualSolver;
import dev.dualign.core.dual.InfeasibleException;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.ScoredSample;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * MoCAN's one-shot dualization: once {@code oneShotPrompts} prompts each have
 * {@code oneShotSamplesPerPrompt} reference samples, minimise the empirical dual exactly and
 * publish λ* (step 0) with a request for one fine-tune.
 */
public class OneShotPolicy implements ControlPolicy {
    /** Solver tolerance and iteration cap: the dual is smooth and convex, Newton converges in tens. */
    static final double SOLVER_TOLERANCE = 1e-9;
    static final int SOLVER_MAX_ITERATIONS = 500;

    protected final ControlSettings cfg;

    public OneShotPolicy(ControlSettings cfg) {
        this.cfg = cfg;
    }

    @Override
    public boolean wantsReference(ControllerState s) {
        return !s.oneShotDone();
    }

    @Override
    public boolean mayBeReady(long held) {
        return held >= (long) cfg.oneShotPrompts() * cfg.oneShotSamplesPerPrompt();
    }

    @Override
    public Optional<Decision> solveIfReady(ControllerState s, List<ScoredSample> reference) {
        Map<String, Integer> perPrompt = new HashMap<>();
        for (ScoredSample x : reference) {
            perPrompt.merge(x.promptId(), 1, Integer::sum);
        }
        long ready = perPrompt.values().stream().filter(n -> n >= cfg.oneShotSamplesPerPrompt()).count();
        if (ready < cfg.oneShotPrompts()) {
            return Optional.empty();
        }
        DualProblem.Builder b = DualProblem.builder(cfg.beta()).constraints(cfg.constraints());
        reference.forEach(b::add);
        try {
            DualSolution sol = new DualSolver(SOLVER_TOLERANCE, SOLVER_MAX_ITERATIONS, cfg.lambdaMax()).solve(b.build());
            Map<String, Estimate> est = new LinkedHashMap<>();
            List<String> names = cfg.names();
            for (int c = 0; c < names.size(); c++) {
                double e = sol.expected()[c];
                est.put(names.get(c), new Estimate(e, e, e, sol.samples()));
            }
            ControllerState next = s.withLambda(sol.lambda()).withOneShotDone();
            long version = Math.max(0, s.latestVersion());
            return Optional.of(Decision.stepped(next, new DualStep(DualMode.ONE_SHOT, 0, version, sol.lambda(), est)));
        } catch (InfeasibleException e) {
            // reported as such, never as a huge λ
            return Optional.of(Decision.refused(s.withOneShotDone(), "one-shot dual: " + e.getMessage()));
        }
    }
}
