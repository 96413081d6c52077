package dev.dualign.app.experiment;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.dual.NewtonStep;
import dev.dualign.core.dual.ProjectedSubgradient;
import dev.dualign.core.event.EventJson;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.world.World;
import java.util.ArrayList;
import java.util.List;

/**
 * The published ways to pick λ, run offline on the live loop's parts ({@link Lab}): one-shot
 * (MoCAN: λ* from reference samples, one policy; PeCAN: the same from preference data alone),
 * iterative (CAID as the live loop runs it: from λ(0) = λ*, a dual step on each trained policy's own
 * samples, then a policy trained at the new λ) and primal-dual (Safe-RLHF style: one policy updated
 * a little on every batch while λ steps on the same batch).
 */
final class Dualizations {
    static final double ITERATIVE_ETA0 = 2.0;
    static final double LAMBDA_MAX = 20.0;
    /** The shipped {@code dual.eta}, {@code dual.eta-schedule} and {@code dual.lambda-max} of the iterative mode. */
    static final ProjectedSubgradient ITERATIVE_STEP =
            new ProjectedSubgradient(ITERATIVE_ETA0, ProjectedSubgradient.Schedule.INVERSE_SQRT, LAMBDA_MAX);

    /** Records the step rules' constants in the run's provenance. */
    static void record(Provenance p) {
        p.param("iterativeEta0", ITERATIVE_ETA0);
        p.param("iterativeSchedule", ProjectedSubgradient.Schedule.INVERSE_SQRT.name());
        p.param("lambdaMax", LAMBDA_MAX);
        p.param("primalDualSchedule", ProjectedSubgradient.Schedule.CONSTANT.name());
    }

    /** One point of a run: λ after step t and the true values of the policy trained at it. */
    record Point(int t, double[] lambda, double[] measured, Lab.Values values) {}

    /** A run's points; the last is the final policy. */
    record Run(String method, List<Point> path, double[] sensitivity) {
        Run(String method, List<Point> path) {
            this(method, path, null);
        }

        Lab.Values last() {
            return path.get(path.size() - 1).values();
        }

        ArrayNode json(List<String> utilities) {
            ArrayNode a = EventJson.mapper().createArrayNode();
            for (Point p : path) {
                ObjectNode o = a.addObject().put("t", p.t());
                ObjectNode l = o.putObject("lambda");
                ObjectNode m = o.putObject("measured");
                for (int c = 0; c < utilities.size(); c++) {
                    l.put(utilities.get(c), p.lambda()[c]);
                    if (p.measured() != null) {
                        m.put(utilities.get(c), p.measured()[c]);
                    }
                }
                if (p.values() != null) {
                    o.set("policy", p.values().json(p.lambda()[0]));
                }
            }
            return a;
        }
    }

    /** What one seed's runs share: the reference's pool for the one-shot solve, its training samples, the held-out prompts. */
    record Setup(Lab.Sampled pool, Lab.Sampled referenceTrain, Lab.Sampled distillTrain, List<World.Prompt> heldOut,
            int onPolicyPrompts, long seed) {}

    private Dualizations() {}

    /**
     * MoCAN (the papers' one-shot method): λ* solved on the reference's scored responses for the
     * margins themselves, then one policy step at λ*.
     */
    static Run moCan(Lab lab, Setup s, double[] margins, int rounds, String tag) {
        double[] lambda = lab.oneShot(s.pool(), margins, s.seed());
        try (PolicyLm policy = lab.freshReference()) {
            lab.distillRounds(policy, s.distillTrain(), lambda, rounds, s.seed(), tag + "MoCAN policy at λ*");
            return new Run("MoCAN", List.of(new Point(0, lambda, null, lab.evaluate(policy, s.heldOut(), 1, s.seed() + 7,
                    tag + "MoCAN held out"))));
        }
    }

    /**
     * PeCAN: no scorers, only oracle-judged preference pairs. π_r and π_g are trained by DPO on them;
     * their implicit reward and utility replace the scorers in the same dual solve (the margin put in
     * the implicit utility's units by the pairs' labels, {@link Lab.Implicit}) and in the same policy step.
     */
    static Run peCan(Lab lab, Setup s, Lab.Implicit models, double[] margins, int rounds, String tag) {
        double[] implicitMargins = new double[margins.length];
        for (int c = 0; c < margins.length; c++) {
            implicitMargins[c] = models.margin(margins[c]);
        }
        double[] lambda = lab.oneShot(lab.implicit(s.pool(), models), implicitMargins, s.seed());
        try (PolicyLm policy = lab.freshReference()) {
            lab.distillRounds(policy, lab.implicit(s.distillTrain(), models), lambda, rounds, x -> lab.implicit(x, models),
                    s.seed(), tag + "PeCAN policy at λ̂*");
            return new Run("PeCAN", List.of(new Point(0, lambda, null, lab.evaluate(policy, s.heldOut(), 1, s.seed() + 8,
                    tag + "PeCAN held out"))));
        }
    }

    /**
     * The live loop's iterative mode (CAID with decision 27's step): λ(0) from the one-shot solve for
     * the margins plus the headroom, π(0) trained at it; each step measures the last version's scored
     * utility on its own fresh samples and takes the Newton step with the sensitivity measured at λ(0);
     * each version is the fine-tuner's policy step at the new λ, from π_ref's weights on π_ref's samples.
     */
    static Run iterative(Lab lab, Setup s, double[] margins, double headroom, NewtonStep step, int steps, int rounds,
            String tag) {
        double[] targets = new double[margins.length];
        for (int c = 0; c < margins.length; c++) {
            targets[c] = margins[c] + headroom;
        }
        double[] lambda = lab.oneShot(s.pool(), targets, s.seed());
        double[] sensitivity = lab.sensitivity(s.pool(), lambda);
        List<Point> path = new ArrayList<>();
        for (int t = 0; t <= steps; t++) {
            double[] g = null;
            if (t > 0) {
                g = path.get(t - 1).measured();
                lambda = step.step(lambda, g, targets, sensitivity).lambda();
            }
            try (PolicyLm policy = lab.freshReference()) {
                lab.distillRounds(policy, s.distillTrain(), lambda, rounds, s.seed() + t, tag + "iterative version " + t);
                Lab.Sampled own = lab.sample(policy, Lab.prompts(s.onPolicyPrompts(), Lab.stream(s.seed(), 60 + t)), 2,
                        s.seed() + 40 + t,
                        tag + "iterative version " + t + ": its own samples");
                path.add(new Point(t, lambda, scoredMeans(lab, own), lab.evaluate(policy, s.heldOut(), 1, s.seed() + 7 + t,
                        tag + "iterative version " + t + " held out")));
            }
        }
        // a point's "measured" is its own version's scored utility, the estimate the next step reads
        return new Run("iterative", path, sensitivity);
    }

    /**
     * One-shot and iterative together, as the loop ran before decision 29 (DPO steps, the subgradient dual step; the `multi` experiment): the iterative run starts from the one-shot policy (λ(0) = λ*,
     * π(0) trained at it), so its first point is the one-shot result. Each dual step measures the
     * last policy on its own fresh samples; each policy is then trained as the live fine-tuner does
     * by default: from π_ref's weights on pairs of π_ref's responses to fresh prompts (the policy
     * step argmax_π L(π, λ) depends on λ only).
     *
     * @return {one-shot, iterative}
     */
    static Run[] oneShotThenIterative(Lab lab, Setup s, double[] margins, int steps, String tag) {
        double[] lambda = lab.oneShot(s.pool(), margins, s.seed());
        List<Point> path = new ArrayList<>();
        PolicyLm policy = lab.freshReference();
        try {
            lab.train(policy, s.referenceTrain(), lambda, s.seed(), tag + "one-shot policy at λ*");
            path.add(new Point(0, lambda, null, lab.evaluate(policy, s.heldOut(), s.seed() + 7, tag + "one-shot held out")));
            for (int t = 1; t <= steps; t++) {
                Lab.Sampled data = lab.sample(policy, Lab.prompts(s.onPolicyPrompts(), s.seed() * 31 + t), 2, s.seed() + 40 + t,
                        tag + "iterative step " + t + ": samples of version " + (t - 1));
                double[] g = scoredMeans(lab, data);
                lambda = ITERATIVE_STEP.step(lambda, g, margins, t);
                policy.close();
                policy = lab.freshReference();
                Lab.Sampled pairs = lab.sample(lab.reference, Lab.prompts(s.onPolicyPrompts(), s.seed() * 41 + t), 2,
                        s.seed() + 80 + t, tag + "iterative step " + t + ": π_ref pairs");
                lab.train(policy, pairs, lambda, s.seed() + t, tag + "iterative version " + t);
                path.add(new Point(t, lambda, g, lab.evaluate(policy, s.heldOut(), s.seed() + 7 + t,
                        tag + "iterative version " + t + " held out")));
            }
        } finally {
            policy.close();
        }
        return new Run[] {new Run("one-shot", List.of(path.get(0))), new Run("iterative", path)};
    }

    /**
     * Primal-dual: λ from 0, one policy warm-started throughout; each round samples a batch from the
     * current policy, steps λ on its mean (constant step η) and trains one DPO epoch on the batch.
     * Only the final policy is evaluated on held-out prompts.
     */
    static Run primalDual(Lab lab, Setup s, double[] margins, double eta, int rounds, String tag) {
        ProjectedSubgradient step = new ProjectedSubgradient(eta, ProjectedSubgradient.Schedule.CONSTANT, LAMBDA_MAX);
        double[] lambda = new double[margins.length];
        List<Point> path = new ArrayList<>();
        try (PolicyLm policy = lab.freshReference()) {
            for (int r = 1; r <= rounds; r++) {
                Lab.Sampled batch = lab.sample(policy, Lab.prompts(s.onPolicyPrompts(), s.seed() * 37 + r), 2, s.seed() + 60 + r,
                        tag + "primal-dual round " + r + ": batch");
                double[] g = scoredMeans(lab, batch);
                lambda = step.step(lambda, g, margins, r);
                lab.train(policy, batch, lambda, 1, s.seed() + r, tag + "primal-dual round " + r + ": one DPO epoch");
                Lab.Values v = r == rounds ? lab.evaluate(policy, s.heldOut(), 1, s.seed() + 99, tag + "primal-dual held out") : null;
                path.add(new Point(r, lambda, g, v));
            }
        }
        return new Run("primal-dual", path);
    }

    /** The scorers' mean of each constrained utility over a sample: what the controller measures. */
    static double[] scoredMeans(Lab lab, Lab.Sampled data) {
        double[] g = new double[lab.utilities.size()];
        for (int c = 0; c < g.length; c++) {
            for (double x : data.scored().get(lab.utilities.get(c))) {
                g[c] += x;
            }
            g[c] /= data.size();
        }
        return g;
    }
}
