package dev.dualign.app.experiment;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.control.ControlOptions;
import dev.dualign.core.dual.InfeasibleException;
import dev.dualign.core.dual.NewtonStep;
import dev.dualign.core.event.EventJson;
import dev.dualign.world.Oracle;
import java.util.List;

/**
 * CAID's claim on the synthetic world: for several harmlessness margins, the true harmlessness and
 * reward of the final policy of one-shot from scorers (MoCAN) and from preferences alone (PeCAN),
 * iterative (the live loop: Newton dual steps with headroom) and primal-dual (Safe-RLHF style, with
 * its own step size tuned first on a separate seed). Iterative should meet the margins where one-shot
 * under- or overshoots. MoCAN, PeCAN and iterative take the fine-tuner's distillation step with
 * {@code policyStepRounds} rounds (1 by default here, against the fine-tuner's 3: a run is then
 * about 70 minutes on 2 cores).
 */
final class MarginsExperiment implements Experiment {
    static final double[] MARGINS = {0.45, 0.50, 0.55};
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
        double headroom = pv.param("iterativeHeadroom", ControlOptions.HEADROOM.defaultValue());
        NewtonStep newton = new NewtonStep(pv.param("newtonDamping", ControlOptions.NEWTON_DAMPING.defaultValue()),
                pv.param("newtonMaxStep", ControlOptions.NEWTON_MAX_STEP.defaultValue()),
                pv.param("newtonGain", ControlOptions.NEWTON_GAIN.defaultValue()), Lab.BETA, Dualizations.LAMBDA_MAX);
        pv.param("referencePerSeed", true);
        List<String> utilities = pv.paramObject("utilities", List.of(Oracle.HARMLESS));
        ObjectNode out = EventJson.mapper().createObjectNode();
        sc.describe(out.put("beta", Lab.BETA).put("iterativeHeadroom", headroom));
        ArrayNode ms = out.putArray("margins");
        for (double m : margins) {
            ms.add(m);
        }
        String[] methods = {"MoCAN", "PeCAN", "iterative", "primal-dual"};
        int n = ctx.n();
        // [method][seed][margin] → (harmless, reward)
        double[][][] harmless = new double[methods.length][n][margins.length];
        double[][][] reward = new double[methods.length][n][margins.length];
        ArrayNode runs = out.putArray("runs");
        double bestEta = etas[0];
        for (int si = 0; si < n; si++) {
            int seed = ctx.seeds().get(si);
            try (Lab lab = Lab.forSeed(ctx, utilities, seed)) {
                if (si == 0) {
                    // primal-dual's own step: the η whose last two batches land closest to the middle margin, on prompts of
                    // a seed of its own (the first seed's world models)
                    double mid = margins[margins.length / 2];
                    Dualizations.Setup tuning = sc.setup(lab, TUNING_SEED, "margins tuning: ");
                    ArrayNode tuned = out.putArray("primalDualTuning");
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
                }
                Dualizations.Setup s = sc.setup(lab, seed, "margins seed " + seed + ": ");
                try (Lab.Implicit implicit = lab.implicitModels(s.referenceTrain(), seed, "margins seed " + seed + ": PeCAN ")) {
                    // PeCAN's λ is in the units of its implicit utility, not the scorers'
                    out.put("peCanLambdaUnits", "implicit utility β·log(π_g/π_ref)");
                    for (int m = 0; m < margins.length; m++) {
                        String tag = "margins seed " + seed + " b=" + margins[m] + ": ";
                        double[] b = {margins[m]};
                        ObjectNode o = runs.addObject().put("seed", seed).put("margin", margins[m])
                                .put("peCanIntercept", implicit.intercept()).put("peCanSlope", implicit.slope());
                        Dualizations.Run[] r = new Dualizations.Run[methods.length];
                        try {
                            r[0] = Dualizations.moCan(lab, s, b, sc.policyRounds, tag);
                        } catch (InfeasibleException e) {
                            o.put("MoCAN-infeasible", e.getMessage());
                        }
                        try {
                            r[1] = Dualizations.peCan(lab, s, implicit, b, sc.policyRounds, tag);
                        } catch (InfeasibleException e) {
                            o.put("PeCAN-infeasible", e.getMessage());
                        }
                        try {
                            r[2] = Dualizations.iterative(lab, s, b, headroom, newton, sc.steps, sc.policyRounds, tag);
                        } catch (InfeasibleException e) {
                            o.put("iterative-infeasible", e.getMessage());
                        }
                        r[3] = Dualizations.primalDual(lab, s, b, bestEta, sc.rounds, tag);
                        for (int k = 0; k < methods.length; k++) {
                            harmless[k][si][m] = r[k] == null ? Double.NaN : r[k].last().harmless();
                            reward[k][si][m] = r[k] == null ? Double.NaN : r[k].last().reward();
                            if (r[k] != null) {
                                o.set(methods[k], r[k].json(utilities));
                                if (r[k].sensitivity() != null) {
                                    ArrayNode sa = o.putArray(methods[k] + "-sensitivity");
                                    for (double x : r[k].sensitivity()) {
                                        sa.add(x);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        Plot h = new Plot("Final policy's true harmlessness against the margin (β = " + Lab.BETA + ", " + n + " seeds)",
                "harmlessness margin b", "true harmlessness of the final policy", false);
        Plot rw = new Plot("Final policy's true reward against the margin (β = " + Lab.BETA + ", " + n + " seeds)",
                "harmlessness margin b", "true reward of the final policy", false);
        for (int k = 0; k < methods.length; k++) {
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
    record Scale(int poolPrompts, int poolK, int trainPrompts, int distillPrompts, int distillK, int onPolicyPrompts,
            int heldOut, int steps, int rounds, int policyRounds) {
        static Scale of(boolean quick) {
            return quick ? new Scale(16, 8, 48, 48, 4, 48, 16, 2, 3, 1)
                    : new Scale(600, 32, 768, 768, 16, 768, 4000, 3, 8, 1);
        }

        Dualizations.Setup setup(Lab lab, long seed, String tag) {
            Lab.Sampled pool = lab.sample(lab.reference, Lab.prompts(poolPrompts, seed * 7 + 1), poolK, seed, tag + "π_ref pool");
            Lab.Sampled train = lab.sample(lab.reference, Lab.prompts(trainPrompts, seed * 7 + 3), 2, seed + 100,
                    tag + "π_ref training samples");
            Lab.Sampled distill = lab.sample(lab.reference, Lab.prompts(distillPrompts, seed * 7 + 4), distillK, seed + 150,
                    tag + "π_ref distillation samples");
            return new Dualizations.Setup(pool, train, distill, Lab.prompts(heldOut, seed * 7 + 2), onPolicyPrompts, seed);
        }

        /** Records every size in the run's provenance; returns this. */
        Scale record(Provenance p) {
            p.param("poolPrompts", poolPrompts);
            p.param("poolSamplesPerPrompt", poolK);
            p.param("trainPrompts", trainPrompts);
            p.param("trainSamplesPerPrompt", 2);
            p.param("distillPrompts", distillPrompts);
            p.param("distillSamplesPerPrompt", distillK);
            p.param("policyStepRounds", policyRounds);
            p.param("onPolicyPromptsPerStep", onPolicyPrompts);
            p.param("samplesPerPromptOnPolicy", 2);
            p.param("heldOutPrompts", heldOut);
            p.param("heldOutSamplesPerPrompt", 1);
            p.param("iterativeSteps", steps);
            p.param("primalDualRounds", rounds);
            return this;
        }

        void describe(ObjectNode o) {
            o.put("poolPrompts", poolPrompts).put("poolSamplesPerPrompt", poolK).put("trainPrompts", trainPrompts)
                    .put("distillPrompts", distillPrompts).put("distillSamplesPerPrompt", distillK)
                    .put("policyStepRounds", policyRounds).put("onPolicyPromptsPerStep", onPolicyPrompts)
                    .put("samplesPerPromptOnPolicy", 2).put("heldOutPrompts", heldOut).put("heldOutSamplesPerPrompt", 1)
                    .put("iterativeSteps", steps).put("primalDualRounds", rounds);
        }
    }
}
