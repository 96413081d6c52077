package dev.dualign.core.control;

import dev.dualign.core.dual.StepKind;
import dev.dualign.core.dual.DualBootstrap;
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
 * publish λ* (step 0) with a request for one fine-tune. When the samples do not arrive within
 * {@code referenceTimeoutMs}, λ(0) = {@code lambdaInit} instead, published as an {@code init} step.
 * A margin relative to the reference is measured from the same reference samples (their mean),
 * and kept in the state, as is the tilted sensitivity Cov_{π_λ}(g)/β at λ(0) the Newton dual step
 * divides by.
 */
public class OneShotPolicy implements ControlPolicy {
    /** Solver tolerance and iteration cap: the dual is smooth and convex, Newton converges in tens. */
    static final double SOLVER_TOLERANCE = 1e-9;
    static final int SOLVER_MAX_ITERATIONS = 500;
    /** The thinning for the finite-K correction: fixed, so λ(0) is a function of the samples alone. */
    static final long CORRECTION_SEED = 17;

    protected final ControlSettings cfg;

    public OneShotPolicy(ControlSettings cfg) {
        this.cfg = cfg;
    }

    /**
     * λ(0) is set: the step counter starts again at 0 (the one-shot solve is CAID's starting point,
     * not a step). It rests on the reference's samples (version 0), and its fine-tune starts from
     * the reference (π(0) = π_ref); from now on any fine-tuned version (≥ 1) may move λ.
     */
    Decision start(ControllerState s, StepKind kind, double[] lambda, Map<String, Estimate> evidence) {
        ControllerState next = s.withStep(lambda, 0).withOneShotDone().withAwaiting(Math.max(1, s.awaiting()));
        return Decision.stepped(next, new DualStep(kind, 0, 0, lambda, evidence, cfg.atLambdaMax(lambda)));
    }

    /** Until the one solve (or its init fallback); the iterative and enforce modes go on. */
    @Override
    public boolean movesLambda(ControllerState s) {
        return !s.oneShotDone();
    }

    @Override
    public ControllerState arm(ControllerState s, long now) {
        return !s.oneShotDone() && s.deadline() == 0 ? s.withDeadline(now + cfg.referenceTimeoutMs()) : s;
    }

    @Override
    public Decision onDeadline(ControllerState s, long now) {
        if (s.oneShotDone()) {
            return Decision.stay(s.withDeadline(0));
        }
        double[] init = new double[cfg.names().size()];
        java.util.Arrays.fill(init, cfg.lambdaInit());
        return start(s, StepKind.INIT, init, Map.of());
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
        // the reference's own mean of each utility: what a relative margin is measured from
        List<String> names = cfg.names();
        double[] means = new double[names.size()];
        for (ScoredSample x : reference) {
            for (int c = 0; c < means.length; c++) {
                means[c] += x.utility(names.get(c)) / reference.size();
            }
        }
        double[] margins = cfg.targets(cfg.resolve(means));
        DualProblem.Builder b = DualProblem.builder(cfg.beta());
        for (int c = 0; c < margins.length; c++) {
            b.constraint(names.get(c), margins[c]);
        }
        reference.forEach(b::add);
        try {
            DualProblem problem = b.build();
            DualSolver solver = new DualSolver(SOLVER_TOLERANCE, SOLVER_MAX_ITERATIONS, cfg.lambdaMax());
            DualSolution sol = solver.solve(problem);
            // MoCAN's λ* is the infinite-K one; λ̂ from K samples per prompt sits above it (Jensen).
            // With K ≥ 8 the finite-K bias is estimated and removed (decision 17, docs/experiments.md)
            double[] lambda = sol.lambda();
            String note = null;
            try {
                double[] corrected = DualBootstrap.corrected(solver, problem, sol, CORRECTION_SEED);
                if (corrected != null) {
                    note = String.format("one-shot λ̂ %s at K = %.1f per prompt; finite-K corrected λ* %s (used)",
                            java.util.Arrays.toString(lambda), (double) problem.samples() / problem.prompts(),
                            java.util.Arrays.toString(corrected));
                    lambda = corrected;
                }
            } catch (InfeasibleException e) {
                note = "one-shot: no finite-K correction (a margin is infeasible on K/2 samples per prompt); λ̂ used";
            }
            Map<String, Estimate> est = new LinkedHashMap<>();
            for (int c = 0; c < names.size(); c++) {
                double e = sol.expected()[c];
                est.put(names.get(c), new Estimate(e, e, e, sol.samples()));
            }
            // the Newton dual steps divide by dE_{π_λ}[g]/dλ = Cov_{π_λ}(g)/β, read here on the reference (decision 27)
            double[] sensitivity = DualSolver.sensitivity(problem, lambda);
            Decision d = start(s.withReferenceMeans(means).withSensitivity(sensitivity), StepKind.ONE_SHOT, lambda, est);
            return Optional.of(note == null ? d : d.withWarning(note));
        } catch (InfeasibleException e) {
            // reported as such, never as a huge λ
            return Optional.of(Decision.refused(s.withOneShotDone().withReferenceMeans(means), "one-shot dual: " + e.getMessage()));
        }
    }
}
