package dev.dualign.app.experiment;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.event.EventJson;
import dev.dualign.finetune.DistillTrainer;
import dev.dualign.finetune.DpoTrainer;
import dev.dualign.finetune.FineTuneSettings;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.world.Oracle;
import dev.dualign.world.World;
import java.util.List;

/**
 * The helpfulness–harmlessness frontier: the true reward and harmlessness of the tilted policy
 * π_λ ∝ π_ref·exp((r + λ·g)/β) (what the dual prices, by resampling the reference's responses) and
 * of the policies the fine-tuner trains at the same λ from π_ref, by distillation and by DPO. Then, at the one-shot λ*,
 * what repeated fine-tunes do: each version trained from the previous one's weights on its samples
 * (warm start), from π_ref's weights on the previous version's samples, or from π_ref's weights on
 * fresh π_ref samples (the fine-tuner's default). The gap between the DPO points and the tilt curve
 * is how faithful the policy step is; the chains show which way of chaining drifts away from it.
 */
final class TradeoffExperiment implements Experiment {
    static final double MARGIN = World.DEFAULT_HARMLESS_MARGIN;

    @Override
    public String name() {
        return "tradeoff";
    }

    @Override
    public String description() {
        return "true reward vs true harmlessness of the tilted policy π_λ and of DPO policies trained at the same λ";
    }

    @Override
    public ObjectNode run(Context ctx) throws Exception {
        boolean q = ctx.quick();
        Provenance pv = ctx.provenance();
        int poolPrompts = pv.param("poolPrompts", q ? 16 : 1500);
        int poolK = pv.param("poolSamplesPerPrompt", q ? 8 : 32);
        int heldOut = pv.param("heldOutPrompts", q ? 16 : 8000);
        int heldK = pv.param("heldOutSamplesPerPrompt", 1);
        int chainHeldOut = pv.param("chainHeldOutPrompts", q ? 16 : 1000);
        int trainPrompts = pv.param("trainPrompts", q ? 64 : 768);
        double[] grid = pv.param("lambdas", q ? new double[] {0, 0.5} : new double[] {0, 0.3, 0.6, 1.2});
        int generations = pv.param("generations", q ? 2 : 4);
        FineTuneSettings.Distill defaults = FineTuneSettings.defaults(List.of(Oracle.HARMLESS), Lab.BETA).distill();
        int distillK = pv.param("distillSamplesPerPrompt", defaults.samples());
        int rounds = pv.param("distillRounds", defaults.rounds());
        double[] betas = pv.param("betaSweep", new double[] {0.05, 0.1, 0.2, 0.5});
        double[] sweepMargins = pv.param("betaSweepMargins", new double[] {0.4, 0.45, 0.5, 0.55, 0.6, 0.65});
        double[] curve = new double[41];
        for (int i = 0; i < curve.length; i++) {
            curve[i] = i * 0.05;
        }
        pv.param("tiltLambdas", curve);
        pv.param("margin", MARGIN);
        pv.param("referencePerSeed", true);
        pv.param("chainSamplesPerPrompt", 2);
        pv.param("trainSamplesPerPrompt", 2);
        List<String> utilities = pv.paramObject("utilities", List.of(Oracle.HARMLESS));
        ObjectNode out = EventJson.mapper().createObjectNode();
        out.put("beta", Lab.BETA).put("margin", MARGIN).put("poolPrompts", poolPrompts).put("poolSamplesPerPrompt", poolK)
                .put("heldOutPrompts", heldOut).put("heldOutSamplesPerPrompt", heldK).put("trainPrompts", trainPrompts)
                .put("trainSamplesPerPrompt", 2).put("generations", generations).put("distillRounds", rounds);
        ArrayNode seeds = out.putArray("seeds");
        int n = ctx.n();
        double[][][] tiltCurve = new double[n][curve.length][];
        double[][][] dpo = new double[n][grid.length][];
        double[][][] distilled = new double[n][grid.length][];
        double[][][] warm = new double[n][generations + 1][];
        double[][][] cold = new double[n][generations + 1][];
        double[][][] fresh = new double[n][generations + 1][];
        double[][] target = new double[n][];
        double[][][][] betaCurves = new double[betas.length][n][curve.length][];
        double[][][] lambdaStars = new double[betas.length][n][sweepMargins.length];
        for (int si = 0; si < n; si++) {
            int seed = ctx.seeds().get(si);
            String tag = "tradeoff seed " + seed + ": ";
            ObjectNode so = seeds.addObject().put("seed", seed);
            // each seed its own world models (reference, scorers): the claims are about the method, not one reference
            try (Lab lab = Lab.forSeed(ctx, utilities, seed)) {
                Lab.Sampled pool = lab.sample(lab.reference, Lab.prompts(poolPrompts, seed * 7L + 1), poolK, seed,
                        tag + "π_ref pool");
                List<World.Prompt> held = Lab.prompts(heldOut, seed * 7L + 2);
                List<World.Prompt> chainHeld = held.subList(0, Math.min(chainHeldOut, held.size()));
                Lab.Sampled refTrain = lab.sample(lab.reference, Lab.prompts(trainPrompts, seed * 7L + 3), 2, seed + 100,
                        tag + "π_ref training samples");
                Lab.Sampled distillTrain = lab.sample(lab.reference, Lab.prompts(trainPrompts, seed * 7L + 4), distillK,
                        seed + 150, tag + "π_ref distillation samples");
                Lab.Sampled refHeld = lab.sample(lab.reference, held, heldK, seed + 200, tag + "π_ref held out");
                Lab.Values ref = Lab.values(refHeld, lab.utilities);
                so.set("reference", ref.json(0).put("winRate", 0.5));
                ArrayNode tc = so.putArray("tilt");
                for (int i = 0; i < curve.length; i++) {
                    Lab.Values v = lab.tilted(pool, new double[] {curve[i]});
                    tiltCurve[si][i] = new double[] {v.harmless(), v.reward()};
                    tc.add(v.json(curve[i]).put("winRate", lab.tiltWinRate(pool, new double[] {curve[i]})));
                }
                Lab.Values[] tilts = new Lab.Values[grid.length]; // π_λ at each λ of the grid, for both policy steps
                for (int i = 0; i < grid.length; i++) {
                    tilts[i] = lab.tilted(pool, new double[] {grid[i]});
                }
                ArrayNode dp = so.putArray("dpoFromReference");
                for (int i = 0; i < grid.length; i++) {
                    Lab.Values t = tilts[i];
                    try (PolicyLm p = lab.freshReference()) {
                        DpoTrainer.Result r = lab.train(p, refTrain, new double[] {grid[i]}, seed, tag + "DPO at λ=" + grid[i]);
                        ObjectNode o = evaluated(lab, p, held, heldK, refHeld, t, seed + 300 + i, grid[i],
                                tag + "evaluate λ=" + grid[i], dpo[si], i).put("loss", r.finalLoss());
                        dp.add(o);
                    }
                }
                ArrayNode ds = so.putArray("distillFromReference");
                for (int i = 0; i < grid.length; i++) {
                    Lab.Values t = tilts[i];
                    try (PolicyLm p = lab.freshReference()) {
                        List<DistillTrainer.Result> rs = lab.distillRounds(p, distillTrain, new double[] {grid[i]}, rounds, seed,
                                tag + "distil at λ=" + grid[i]);
                        DistillTrainer.Result r = rs.get(rs.size() - 1);
                        ObjectNode o = evaluated(lab, p, held, heldK, refHeld, t, seed + 300 + i, grid[i],
                                tag + "evaluate distilled λ=" + grid[i], distilled[si], i)
                                .put("heldOutLossBefore", rs.get(0).heldOutBefore()).put("heldOutLoss", r.heldOutLoss())
                                .put("checks", rs.stream().mapToInt(DistillTrainer.Result::checks).sum())
                                .put("trainKl", r.kl()).put("rounds", rs.size());
                        ds.add(o);
                    }
                }
                double lambdaStar = lab.oneShot(pool, new double[] {MARGIN}, seed)[0];
                Lab.Values tv = lab.tilted(pool, new double[] {lambdaStar});
                target[si] = new double[] {tv.harmless(), tv.reward()};
                so.put("lambdaStar", lambdaStar);
                so.set("tiltAtLambdaStar", tv.json(lambdaStar).put("winRate", lab.tiltWinRate(pool, new double[] {lambdaStar})));
                ArrayNode sweep = so.putArray("betaSweep");
                for (int b = 0; b < betas.length; b++) {
                    ObjectNode bo = sweep.addObject().put("beta", betas[b]);
                    ArrayNode bc = bo.putArray("tilt");
                    for (int i = 0; i < curve.length; i++) {
                        Lab.Values v = lab.tilted(pool, new double[] {curve[i]}, betas[b]);
                        betaCurves[b][si][i] = new double[] {v.harmless(), v.reward()};
                        bc.add(v.json(curve[i]));
                    }
                    ArrayNode ls = bo.putArray("lambdaStar");
                    for (int m = 0; m < sweepMargins.length; m++) {
                        ObjectNode lo = ls.addObject().put("margin", sweepMargins[m]);
                        try {
                            double l = lab.oneShot(pool, new double[] {sweepMargins[m]}, betas[b], seed)[0];
                            Lab.Values v = lab.tilted(pool, new double[] {l}, betas[b]);
                            lambdaStars[b][si][m] = l;
                            lo.put("lambda", l).put("trueHarmless", v.harmless()).put("trueReward", v.reward())
                                    .put("scored_" + utilities.get(0), v.scoredUtilities().get(utilities.get(0)));
                        } catch (dev.dualign.core.dual.InfeasibleException e) {
                            lambdaStars[b][si][m] = Double.NaN;
                            lo.put("infeasible", e.getMessage());
                        }
                    }
                }
                warm[si][0] = new double[] {ref.harmless(), ref.reward()};
                cold[si][0] = warm[si][0];
                fresh[si][0] = warm[si][0];
                so.set("warmStart", chain(lab, Chain.WARM, refTrain, chainHeld, lambdaStar, generations, seed, tag, warm[si],
                        trainPrompts));
                so.set("fromReference", chain(lab, Chain.FROM_REFERENCE, refTrain, chainHeld, lambdaStar, generations, seed, tag,
                        cold[si], trainPrompts));
                so.set("fromReferenceOnReferencePairs", chain(lab, Chain.REFERENCE_PAIRS, refTrain, chainHeld, lambdaStar,
                        generations, seed, tag, fresh[si], trainPrompts));
            }
        }
        Plot plot = new Plot("Reward–harmlessness frontier (β = " + Lab.BETA + "; true values by the oracle)",
                "true harmlessness", "true reward", false);
        plot.add(xy("π_λ (tilted π_ref), λ = 0 … 2", tiltCurve));
        plot.add(xy("DPO from π_ref at λ ∈ " + java.util.Arrays.toString(grid), dpo));
        plot.add(xy("distilled π_λ from π_ref (" + distillK + " samples per prompt, " + rounds + " rounds) at the same λ",
                distilled));
        plot.add(xy("warm start: version t from t−1's weights on t−1's samples, at λ*", warm));
        plot.add(xy("from π_ref's weights on version t−1's samples, at λ*", cold));
        plot.add(xy("from π_ref's weights on π_ref's samples, at λ*", fresh));
        double[][][] targetPoint = new double[n][1][];
        for (int s = 0; s < n; s++) {
            targetPoint[s][0] = target[s];
        }
        plot.add(xy("π_λ* (target)", targetPoint));
        plot.writePng(ctx.out().resolve(name() + ".png"));
        Plot bp = new Plot("π_λ's frontier at each β (true values by the oracle)", "true harmlessness", "true reward", false);
        Plot lp = new Plot("One-shot λ*(b) at each β", "harmlessness margin b", "λ*", false);
        for (int b = 0; b < betas.length; b++) {
            bp.add(xy("β = " + betas[b], betaCurves[b]));
            lp.add(Plot.Series.of("β = " + betas[b], sweepMargins, lambdaStars[b]));
        }
        bp.writePng(ctx.out().resolve(name() + "-beta.png"));
        lp.writePng(ctx.out().resolve(name() + "-lambda.png"));
        out.put("plot", name() + ".png").put("plotBeta", name() + "-beta.png").put("plotLambda", name() + "-lambda.png");
        return out;
    }

    /**
     * A trained policy on the held-out prompts: its true and scored values with their half-widths,
     * its win rate against the reference's responses to the same prompts, and π_λ's values at its λ.
     */
    private static ObjectNode evaluated(Lab lab, PolicyLm p, List<World.Prompt> held, int heldK, Lab.Sampled refHeld,
            Lab.Values t, long seed, double lambda, String label, double[][] point, int i) {
        Lab.Sampled e = lab.sample(p, held, heldK, seed, label);
        Lab.Values v = Lab.values(e, lab.utilities);
        point[i] = new double[] {v.harmless(), v.reward()};
        ObjectNode o = v.json(lambda).put("winRate", Lab.winRate(e, refHeld)).put("tiltHarmless", t.harmless())
                .put("tiltReward", t.reward()).put("tiltHarmlessHalfWidth", t.harmlessHalfWidth())
                .put("tiltRewardHalfWidth", t.rewardHalfWidth()).put("tiltScoredReward", t.scoredReward()).put("tiltKl", t.kl());
        t.scoredUtilities().forEach((key, x) -> o.put("tiltScored_" + key, x));
        return o;
    }

    /** How version t is trained from version t − 1. */
    private enum Chain {
        /** From t − 1's weights on t − 1's samples: the warm start. */
        WARM("warm"),
        /** From π_ref's weights on t − 1's samples. */
        FROM_REFERENCE("from π_ref"),
        /** From π_ref's weights on fresh π_ref samples: the fine-tuner's default. */
        REFERENCE_PAIRS("π_ref pairs");

        final String label;

        Chain(String label) {
            this.label = label;
        }
    }

    /** Versions 1..generations at λ, each trained as {@code how} says; {@code path[t]} = (harmless, reward). */
    private static ArrayNode chain(Lab lab, Chain how, Lab.Sampled first, List<World.Prompt> held, double lambda,
            int generations, int seed, String tag, double[][] path, int trainPrompts) {
        ArrayNode a = EventJson.mapper().createArrayNode();
        boolean warmStart = how == Chain.WARM;
        String kind = how.label;
        PolicyLm policy = lab.freshReference();
        try {
            Lab.Sampled data = first;
            for (int t = 1; t <= generations; t++) {
                if (!warmStart && t > 1) {
                    policy.close();
                    policy = lab.freshReference();
                }
                DpoTrainer.Result r = lab.train(policy, data, new double[] {lambda}, seed + t, tag + kind + " version " + t);
                Lab.Values v = lab.evaluate(policy, held, seed + 400 + t, tag + kind + " version " + t + " held out");
                path[t] = new double[] {v.harmless(), v.reward()};
                a.add(v.json(lambda).put("version", t).put("loss", r.finalLoss()));
                if (t < generations) {
                    data = lab.sample(how == Chain.REFERENCE_PAIRS ? lab.reference : policy, Lab.prompts(trainPrompts,
                            seed * 7L + 10 + t), 2, seed + 500 + t, tag + kind + " version " + t + " samples");
                }
            }
        } finally {
            policy.close();
        }
        return a;
    }

    /** A path through (harmless, reward) points, averaged over seeds; the bars are the reward's spread. */
    static Plot.Series xy(String name, double[][][] perSeed) {
        int m = perSeed[0].length;
        double[] x = new double[m];
        double[][] ys = new double[perSeed.length][m];
        for (int i = 0; i < m; i++) {
            for (int s = 0; s < perSeed.length; s++) {
                x[i] += perSeed[s][i][0] / perSeed.length;
                ys[s][i] = perSeed[s][i][1];
            }
        }
        return Plot.Series.of(name, x, ys);
    }
}
