package dev.dualign.app.experiment;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.dual.InfeasibleException;
import dev.dualign.core.event.EventJson;
import dev.dualign.world.Oracle;
import java.util.List;

/**
 * CAID's claim on the synthetic world: for several harmlessness margins, the true harmlessness and
 * reward of the final policy of one-shot (MoCAN), iterative (CAID) and primal-dual (Safe-RLHF
 * style, with its own step size tuned first on a separate seed). Iterative should track the
 * margins where one-shot under- or overshoots.
 */
final class MarginsExperiment implements Experiment {
    static final double[] MARGINS = {0.40, 0.45, 0.50, 0.55, 0.60};
    static final double[] PD_ETAS = {0.5, 1, 2, 4};
    static final long TUNING_SEED = 1000;

    @Override
    public String name() {
        return "margins";
    }

    @Override
    public String description() {
        return "final true harmlessness and reward against the margin: one-shot, iterative, primal-dual";
    }

    @Override
    public ObjectNode run(Context ctx) throws Exception {
        boolean q = ctx.quick();
        Provenance pv = ctx.provenance();
        Scale sc = Scale.of(q).record(pv);
        Dualizations.record(pv);
        double[] margins = pv.param("margins", q ? new double[] {0.45, 0.55} : MARGINS);
        double[] etas = pv.param("primalDualEtas", q ? new double[] {1, 4} : PD_ETAS);
        pv.param("tuningSeed", TUNING_SEED);
        List<String> utilities = pv.paramObject("utilities", List.of(Oracle.HARMLESS));
        ObjectNode out = EventJson.mapper().createObjectNode();
        sc.describe(out.put("beta", Lab.BETA));
        ArrayNode ms = out.putArray("margins");
        for (double m : margins) {
            ms.add(m);
        }
        String[] methods = {"one-shot", "iterative", "primal-dual"};
        int n = ctx.n();
        // [method][seed][margin] → (harmless, reward)
        double[][][] harmless = new double[3][n][margins.length];
        double[][][] reward = new double[3][n][margins.length];
        try (Lab lab = new Lab(ctx, utilities)) {
            // primal-dual's own step: the η whose last two batches land closest to the middle margin, on a seed of its own
            double mid = margins[margins.length / 2];
            Dualizations.Setup tuning = sc.setup(lab, TUNING_SEED, "margins tuning: ");
            ArrayNode tuned = out.putArray("primalDualTuning");
            double bestEta = etas[0];
            double best = Double.POSITIVE_INFINITY;
            for (double eta : etas) {
                Dualizations.Run r = Dualizations.primalDual(lab, tuning, new double[] {mid}, eta, sc.rounds,
                        "margins tuning η=" + eta + ": ");
                List<Dualizations.Point> p = r.path();
                double miss = Math.abs((p.get(p.size() - 1).measured()[0] + p.get(p.size() - 2).measured()[0]) / 2 - mid);
                tuned.addObject().put("eta", eta).put("scoredMissLastTwoBatches", miss).set("path", r.json(utilities));
                if (miss < best) {
                    best = miss;
                    bestEta = eta;
                }
            }
            out.put("primalDualEta", bestEta).put("tuningSeed", TUNING_SEED).put("tuningMargin", mid);
            ArrayNode runs = out.putArray("runs");
            for (int si = 0; si < n; si++) {
                int seed = ctx.seeds().get(si);
                Dualizations.Setup s = sc.setup(lab, seed, "margins seed " + seed + ": ");
                for (int m = 0; m < margins.length; m++) {
                    String tag = "margins seed " + seed + " b=" + margins[m] + ": ";
                    double[] b = {margins[m]};
                    ObjectNode o = runs.addObject().put("seed", seed).put("margin", margins[m]);
                    Dualizations.Run[] r = new Dualizations.Run[3];
                    try {
                        Dualizations.Run[] oi = Dualizations.oneShotThenIterative(lab, s, b, sc.steps, tag);
                        r[0] = oi[0];
                        r[1] = oi[1];
                    } catch (InfeasibleException e) {
                        o.put("infeasible", e.getMessage());
                    }
                    r[2] = Dualizations.primalDual(lab, s, b, bestEta, sc.rounds, tag);
                    for (int k = 0; k < 3; k++) {
                        harmless[k][si][m] = r[k] == null ? Double.NaN : r[k].last().harmless();
                        reward[k][si][m] = r[k] == null ? Double.NaN : r[k].last().reward();
                        if (r[k] != null) {
                            o.set(methods[k], r[k].json(utilities));
                        }
                    }
                }
            }
        }
        Plot h = new Plot("Final policy's true harmlessness against the margin (β = " + Lab.BETA + ", " + n + " seeds)",
                "harmlessness margin b", "true harmlessness of the final policy", false);
        Plot rw = new Plot("Final policy's true reward against the margin (β = " + Lab.BETA + ", " + n + " seeds)",
                "harmlessness margin b", "true reward of the final policy", false);
        for (int k = 0; k < 3; k++) {
            h.add(Plot.Series.of(methods[k], margins, harmless[k]));
            rw.add(Plot.Series.of(methods[k], margins, reward[k]));
        }
        h.add(Plot.Series.of("the margin (a policy on this line meets it exactly)", margins, new double[][] {margins}));
        h.writePng(ctx.out().resolve(name() + ".png"));
        rw.writePng(ctx.out().resolve(name() + "-reward.png"));
        out.put("plot", name() + ".png").put("plotReward", name() + "-reward.png");
        return out;
    }

    /** How big the runs are: the paper's 600 prompts × 64 samples scaled to a 2-core machine. */
    record Scale(int poolPrompts, int poolK, int trainPrompts, int onPolicyPrompts, int heldOut, int steps, int rounds) {
        static Scale of(boolean quick) {
            return quick ? new Scale(16, 8, 48, 48, 16, 2, 3) : new Scale(300, 32, 768, 768, 400, 4, 8);
        }

        Dualizations.Setup setup(Lab lab, long seed, String tag) {
            Lab.Sampled pool = lab.sample(lab.reference, Lab.prompts(poolPrompts, seed * 7 + 1), poolK, seed, tag + "π_ref pool");
            Lab.Sampled train = lab.sample(lab.reference, Lab.prompts(trainPrompts, seed * 7 + 3), 2, seed + 100,
                    tag + "π_ref training samples");
            return new Dualizations.Setup(pool, train, Lab.prompts(heldOut, seed * 7 + 2), onPolicyPrompts, seed);
        }

        /** Records every size in the run's provenance; returns this. */
        Scale record(Provenance p) {
            p.param("poolPrompts", poolPrompts);
            p.param("poolSamplesPerPrompt", poolK);
            p.param("trainPrompts", trainPrompts);
            p.param("trainSamplesPerPrompt", 2);
            p.param("onPolicyPromptsPerStep", onPolicyPrompts);
            p.param("samplesPerPromptOnPolicy", 2);
            p.param("heldOutPrompts", heldOut);
            p.param("heldOutSamplesPerPrompt", 2);
            p.param("iterativeSteps", steps);
            p.param("primalDualRounds", rounds);
            return this;
        }

        void describe(ObjectNode o) {
            o.put("poolPrompts", poolPrompts).put("poolSamplesPerPrompt", poolK).put("trainPrompts", trainPrompts)
                    .put("onPolicyPromptsPerStep", onPolicyPrompts).put("samplesPerPromptOnPolicy", 2)
                    .put("heldOutPrompts", heldOut).put("heldOutSamplesPerPrompt", 2).put("iterativeSteps", steps)
                    .put("primalDualRounds", rounds);
        }
    }
}
