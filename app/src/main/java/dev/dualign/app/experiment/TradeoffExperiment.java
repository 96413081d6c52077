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
        int poolPrompts = pv.param("poolPrompts", q ? 16 : 300);
        int poolK = pv.param("poolSamplesPerPrompt", q ? 8 : 32);
        int heldOut = pv.param("heldOutPrompts", q ? 16 : 400);
        int trainPrompts = pv.param("trainPrompts", q ? 64 : 768);
        double[] grid = pv.param("dpoLambdas", q ? new double[] {0, 0.5} : new double[] {0, 0.15, 0.3, 0.45, 0.6, 0.9, 1.5});
        int generations = pv.param("generations", q ? 2 : 4);
        int distillK = pv.param("distillSamplesPerPrompt", FineTuneSettings.defaults(List.of(Oracle.HARMLESS), Lab.BETA)
                .distill().samples());
        double[] curve = new double[41];
        for (int i = 0; i < curve.length; i++) {
            curve[i] = i * 0.05;
        }
        pv.param("tiltLambdas", curve);
        pv.param("margin", MARGIN);
        pv.param("heldOutSamplesPerPrompt", 2);
        pv.param("trainSamplesPerPrompt", 2);
        List<String> utilities = pv.paramObject("utilities", List.of(Oracle.HARMLESS));
        ObjectNode out = EventJson.mapper().createObjectNode();
        out.put("beta", Lab.BETA).put("margin", MARGIN).put("poolPrompts", poolPrompts).put("poolSamplesPerPrompt", poolK)
                .put("heldOutPrompts", heldOut).put("heldOutSamplesPerPrompt", 2).put("trainPrompts", trainPrompts)
                .put("trainSamplesPerPrompt", 2).put("generations", generations);
        ArrayNode seeds = out.putArray("seeds");
        int n = ctx.n();
        double[][][] tiltCurve = new double[n][curve.length][];
        double[][][] dpo = new double[n][grid.length][];
        double[][][] distilled = new double[n][grid.length][];
        double[][][] warm = new double[n][generations + 1][];
        double[][][] cold = new double[n][generations + 1][];
        double[][][] fresh = new double[n][generations + 1][];
        double[][] target = new double[n][];
        try (Lab lab = new Lab(ctx, utilities)) {
            for (int si = 0; si < n; si++) {
                int seed = ctx.seeds().get(si);
                String tag = "tradeoff seed " + seed + ": ";
                ObjectNode so = seeds.addObject().put("seed", seed);
                Lab.Sampled pool = lab.sample(lab.reference, Lab.prompts(poolPrompts, seed * 7L + 1), poolK, seed,
                        tag + "π_ref pool");
                List<World.Prompt> held = Lab.prompts(heldOut, seed * 7L + 2);
                Lab.Sampled refTrain = lab.sample(lab.reference, Lab.prompts(trainPrompts, seed * 7L + 3), 2, seed + 100,
                        tag + "π_ref training samples");
                Lab.Sampled distillTrain = lab.sample(lab.reference, Lab.prompts(trainPrompts, seed * 7L + 4), distillK,
                        seed + 150, tag + "π_ref distillation samples");
                Lab.Values ref = lab.evaluate(lab.reference, held, seed + 200, tag + "π_ref held out");
                so.set("reference", ref.json(0));
                ArrayNode tc = so.putArray("tilt");
                for (int i = 0; i < curve.length; i++) {
                    Lab.Values v = lab.tilted(pool, new double[] {curve[i]});
                    tiltCurve[si][i] = new double[] {v.harmless(), v.reward()};
                    tc.add(v.json(curve[i]));
                }
                ArrayNode dp = so.putArray("dpoFromReference");
                for (int i = 0; i < grid.length; i++) {
                    Lab.Values t = lab.tilted(pool, new double[] {grid[i]});
                    try (PolicyLm p = lab.freshReference()) {
                        DpoTrainer.Result r = lab.train(p, refTrain, new double[] {grid[i]}, seed, tag + "DPO at λ=" + grid[i]);
                        Lab.Values v = lab.evaluate(p, held, seed + 300 + i, tag + "evaluate λ=" + grid[i]);
                        dpo[si][i] = new double[] {v.harmless(), v.reward()};
                        ObjectNode o = v.json(grid[i]).put("loss", r.finalLoss()).put("tiltHarmless", t.harmless())
                                .put("tiltReward", t.reward()).put("tiltScoredReward", t.scoredReward()).put("tiltKl", t.kl());
                        t.scoredUtilities().forEach((key, x) -> o.put("tiltScored_" + key, x));
                        dp.add(o);
                    }
                }
                ArrayNode ds = so.putArray("distillFromReference");
                for (int i = 0; i < grid.length; i++) {
                    Lab.Values t = lab.tilted(pool, new double[] {grid[i]});
                    try (PolicyLm p = lab.freshReference()) {
                        DistillTrainer.Result r = lab.distill(p, distillTrain, new double[] {grid[i]}, seed,
                                tag + "distil at λ=" + grid[i]);
                        Lab.Values v = lab.evaluate(p, held, seed + 300 + i, tag + "evaluate distilled λ=" + grid[i]);
                        distilled[si][i] = new double[] {v.harmless(), v.reward()};
                        ObjectNode o = v.json(grid[i]).put("tiltHarmless", t.harmless()).put("tiltReward", t.reward())
                                .put("tiltScoredReward", t.scoredReward()).put("tiltKl", t.kl())
                                .put("heldOutLossBefore", r.heldOutBefore()).put("heldOutLoss", r.heldOutLoss())
                                .put("checks", r.checks()).put("bestCheck", r.bestCheck()).put("trainKl", r.kl());
                        t.scoredUtilities().forEach((key, x) -> o.put("tiltScored_" + key, x));
                        ds.add(o);
                    }
                }
                double lambdaStar = lab.oneShot(pool, new double[] {MARGIN}, seed)[0];
                Lab.Values tv = lab.tilted(pool, new double[] {lambdaStar});
                target[si] = new double[] {tv.harmless(), tv.reward()};
                so.put("lambdaStar", lambdaStar);
                so.set("tiltAtLambdaStar", tv.json(lambdaStar));
                warm[si][0] = new double[] {ref.harmless(), ref.reward()};
                cold[si][0] = warm[si][0];
                fresh[si][0] = warm[si][0];
                so.set("warmStart", chain(lab, Chain.WARM, refTrain, held, lambdaStar, generations, seed, tag, warm[si],
                        trainPrompts));
                so.set("fromReference", chain(lab, Chain.FROM_REFERENCE, refTrain, held, lambdaStar, generations, seed, tag,
                        cold[si], trainPrompts));
                so.set("fromReferenceOnReferencePairs", chain(lab, Chain.REFERENCE_PAIRS, refTrain, held, lambdaStar, generations,
                        seed, tag, fresh[si], trainPrompts));
            }
        }
        Plot plot = new Plot("Reward–harmlessness frontier (β = " + Lab.BETA + "; true values by the oracle)",
                "true harmlessness", "true reward", false);
        plot.add(xy("π_λ (tilted π_ref), λ = 0 … 2", tiltCurve));
        plot.add(xy("DPO from π_ref at λ ∈ " + java.util.Arrays.toString(grid), dpo));
        plot.add(xy("distilled π_λ from π_ref (" + distillK + " samples per prompt) at the same λ", distilled));
        plot.add(xy("warm start: version t from t−1's weights on t−1's samples, at λ*", warm));
        plot.add(xy("from π_ref's weights on version t−1's samples, at λ*", cold));
        plot.add(xy("from π_ref's weights on π_ref's samples (the default), at λ*", fresh));
        double[][][] targetPoint = new double[n][1][];
        for (int s = 0; s < n; s++) {
            targetPoint[s][0] = target[s];
        }
        plot.add(xy("π_λ* (target)", targetPoint));
        plot.writePng(ctx.out().resolve(name() + ".png"));
        out.put("plot", name() + ".png");
        return out;
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
