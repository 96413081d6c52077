package dev.dualign.core.control;

import dev.dualign.core.dual.DualProblem;
import dev.dualign.core.dual.DualSolution;
import dev.dualign.core.dual.DualSolver;
import dev.dualign.core.dual.InfeasibleException;
import dev.dualign.core.dual.StepKind;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.ScoredSample;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Enforcement at inference ({@code dual.mode: enforce}): the server serves one of K reference
 * candidates per prompt by {@link TiltedChoice}, and every candidate set reaches the controller
 * as reference samples. λ is the exact minimiser of the empirical dual on the newest
 * {@code oneShotPrompts} complete candidate sets, solved first when that many have arrived (step
 * 0) and again after every {@code enforceEvery} new ones (steps 1, 2, …), with no fine-tune. No
 * finite-K correction: the served policy is the K-candidate selection itself, whose dual the
 * empirical one is exactly. A window whose margins no selection can meet sets λ to λ_max (the
 * safest selection there is) with an alert rather than leaving λ where it was.
 */
public final class EnforcePolicy extends OneShotPolicy {
    public EnforcePolicy(ControlSettings cfg) {
        super(cfg);
    }

    /** λ is solved again on every window of candidate sets. */
    @Override
    public boolean movesLambda(ControllerState s) {
        return true;
    }

    @Override
    public boolean wantsReference(ControllerState s) {
        return true;
    }

    @Override
    public Optional<Decision> solveIfReady(ControllerState s, List<ScoredSample> reference) {
        Map<String, List<ScoredSample>> sets = completeSets(reference);
        if (sets.size() < cfg.oneShotPrompts()) {
            return Optional.empty();
        }
        List<List<ScoredSample>> window = new ArrayList<>(sets.values());
        window = window.subList(window.size() - cfg.oneShotPrompts(), window.size());
        List<String> names = cfg.names();
        double[] means = s.referenceMeans();
        if (means == null) { // the reference's mean, for relative margins: from the first window
            means = new double[names.size()];
            int n = 0;
            for (List<ScoredSample> set : window) {
                for (ScoredSample x : set) {
                    for (int c = 0; c < means.length; c++) {
                        means[c] += x.utility(names.get(c));
                    }
                    n++;
                }
            }
            for (int c = 0; c < means.length; c++) {
                means[c] /= n;
            }
        }
        double[] margins = cfg.targets(cfg.resolve(means));
        DualProblem.Builder b = DualProblem.builder(cfg.beta());
        for (int c = 0; c < margins.length; c++) {
            b.constraint(names.get(c), margins[c]);
        }
        window.forEach(set -> set.forEach(b::add));
        long step = s.oneShotDone() ? s.step() + 1 : 0;
        ControllerState base = s.withReferenceMeans(means).withOneShotDone();
        double[] lambda;
        Map<String, Estimate> evidence = new LinkedHashMap<>();
        String warning = null;
        try {
            DualSolution sol = new DualSolver(SOLVER_TOLERANCE, SOLVER_MAX_ITERATIONS, cfg.lambdaMax()).solve(b.build());
            lambda = sol.lambda();
            for (int c = 0; c < names.size(); c++) {
                double e = sol.expected()[c];
                evidence.put(names.get(c), new Estimate(e, e, e, sol.samples()));
            }
        } catch (InfeasibleException e) {
            lambda = new double[names.size()];
            Arrays.fill(lambda, cfg.lambdaMax());
            warning = "enforce: no selection among these candidates meets the margins (" + e.getMessage()
                    + "); λ = λ_max, the safest selection";
        }
        DualStep st = new DualStep(StepKind.ENFORCE, step, 0, lambda, evidence, cfg.atLambdaMax(lambda), false);
        Decision d = Decision.stepped(base.withStep(lambda, step).withDeadline(0), st);
        return Optional.of(warning == null ? d : d.withWarning(warning));
    }

    /**
     * The window slides: the newest sets but {@code enforceEvery}, so the next solve comes after that
     * many new ones, and the sets still filling up that began after the oldest kept one. An
     * incomplete set older than that (a candidate lost, or a set split by a solve) is dropped: it
     * would never complete, and the list must not grow.
     */
    @Override
    public List<ScoredSample> keep(ControllerState s, List<ScoredSample> reference) {
        Map<String, List<ScoredSample>> sets = completeSets(reference);
        int keep = Math.max(0, cfg.oneShotPrompts() - cfg.enforceEvery());
        List<String> complete = new ArrayList<>(sets.keySet());
        java.util.Set<String> kept = new java.util.HashSet<>(complete.subList(Math.max(0, complete.size() - keep), complete.size()));
        // where the window now starts: the first sample of its oldest kept set (the end when none is kept)
        int start = reference.size();
        for (int i = 0; i < reference.size(); i++) {
            if (kept.contains(reference.get(i).promptId())) {
                start = i;
                break;
            }
        }
        java.util.Set<String> fresh = new java.util.HashSet<>();
        for (int i = start; i < reference.size(); i++) {
            fresh.add(reference.get(i).promptId());
        }
        if (keep == 0) { // no complete set is kept: only the sets that began after the newest complete one
            int last = -1;
            for (int i = 0; i < reference.size(); i++) {
                if (sets.containsKey(reference.get(i).promptId())) {
                    last = i;
                }
            }
            for (int i = last + 1; i < reference.size(); i++) {
                fresh.add(reference.get(i).promptId());
            }
        }
        List<ScoredSample> out = new ArrayList<>();
        for (ScoredSample x : reference) {
            if (kept.contains(x.promptId()) || (!sets.containsKey(x.promptId()) && fresh.contains(x.promptId()))) {
                out.add(x);
            }
        }
        return out;
    }

    /** Candidate sets with at least {@code oneShotSamplesPerPrompt} samples, by prompt, in order of their first sample. */
    private Map<String, List<ScoredSample>> completeSets(List<ScoredSample> reference) {
        Map<String, List<ScoredSample>> all = new LinkedHashMap<>();
        for (ScoredSample x : reference) {
            all.computeIfAbsent(x.promptId(), p -> new ArrayList<>()).add(x);
        }
        all.values().removeIf(set -> set.size() < cfg.oneShotSamplesPerPrompt());
        return all;
    }
}
