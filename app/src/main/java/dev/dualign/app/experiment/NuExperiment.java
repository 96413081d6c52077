package dev.dualign.app.experiment;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.event.EventJson;
import dev.dualign.model.lm.LmConfig;
import dev.dualign.model.lm.LmTraining;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.world.Oracle;
import dev.dualign.world.World;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The parametrization gap of both papers' theory: how far the DPO-trained π_θ(λ) is from the
 * tilted target π_λ it is meant to be (an empirical ν: KL(π_θ‖π_λ) and total variation, on held-out
 * prompts), and how that distance shows in the gap between the parametrized dual optimum λ_p*
 * (where the trained policy's harmlessness meets the margin) and the one-shot λ*, and in the
 * objective and constraint values. Policies of four sizes, each pretrained the way the bootstrap
 * pretrains the reference and used as its own π_ref.
 */
final class NuExperiment implements Experiment {
    static final double MARGIN = World.DEFAULT_HARMLESS_MARGIN;
    /** The bootstrap's pretraining: batch, learning rate, and the seed of the corpus, the weights and the batches. */
    static final int PRETRAIN_BATCH = 32;
    static final float PRETRAIN_LR = 2e-3f;
    static final int PRETRAIN_SEED = 1;

    /** A policy shape; {@code registry} marks the registry's own reference (the demo's size). */
    record Size(String name, int dim, int heads, int layers, boolean registry) {}

    static final List<Size> SIZES = List.of(new Size("d16×1", 16, 2, 1, false), new Size("d32×1", 32, 2, 1, false),
            new Size("d64×2 (registry)", 64, 4, 2, true), new Size("d96×3", 96, 4, 3, false));

    @Override
    public String name() {
        return "nu";
    }

    @Override
    public String description() {
        return "parametrization gap: ν = distance of the trained π_θ(λ) from π_λ, against |λ_p* − λ*| and the objective and constraint gaps";
    }

    @Override
    public ObjectNode run(Context ctx) throws Exception {
        boolean q = ctx.quick();
        Provenance pv = ctx.provenance();
        List<Size> sizes = pv.paramObject("sizes", q ? List.of(SIZES.get(0), SIZES.get(2)) : SIZES);
        // the registry's own size is pretrained afresh in a quick run (on the tiny test models it is not the demo's)
        pv.param("registrySizeFromRegistry", !q);
        int poolPrompts = pv.param("poolPrompts", q ? 16 : 300);
        int poolK = pv.param("poolSamplesPerPrompt", q ? 8 : 32);
        int heldPrompts = pv.param("heldOutPrompts", q ? 12 : 200);
        int heldK = pv.param("heldOutReferenceSamplesPerPrompt", q ? 8 : 32);
        int policyK = pv.param("heldOutPolicySamplesPerPrompt", 4);
        int trainPrompts = pv.param("trainPrompts", q ? 48 : 768);
        pv.param("trainSamplesPerPrompt", 2);
        int corpusSize = pv.param("pretrainCorpus", q ? 400 : 12_000);
        int lmEpochs = pv.param("pretrainEpochs", q ? 1 : 3);
        pv.param("pretrainBatch", PRETRAIN_BATCH);
        pv.param("pretrainLearningRate", Double.parseDouble(Float.toString(PRETRAIN_LR)));
        pv.param("pretrainSeed", PRETRAIN_SEED);
        pv.param("margin", MARGIN);
        List<String> utilities = pv.paramObject("utilities", List.of(Oracle.HARMLESS));
        ObjectNode out = EventJson.mapper().createObjectNode();
        out.put("beta", Lab.BETA).put("margin", MARGIN).put("poolPrompts", poolPrompts).put("poolSamplesPerPrompt", poolK)
                .put("heldOutPrompts", heldPrompts).put("heldOutReferenceSamplesPerPrompt", heldK)
                .put("heldOutPolicySamplesPerPrompt", policyK).put("trainPrompts", trainPrompts)
                .put("pretrainCorpus", corpusSize).put("pretrainEpochs", lmEpochs);
        Path models = Files.createTempDirectory("dualign-nu");
        List<Path> dirs = new ArrayList<>();
        ArrayNode sizesOut = out.putArray("sizes");
        try (Lab base = new Lab(ctx, utilities)) {
            for (Size s : sizes) {
                ObjectNode so = sizesOut.addObject().put("name", s.name()).put("dim", s.dim()).put("heads", s.heads())
                        .put("layers", s.layers());
                if (s.registry() && !q) {
                    dirs.add(base.registry.open(ModelNames.POLICY, 0));
                    so.put("pretrained", "registry policy version 0");
                    continue;
                }
                Path dir = models.resolve("size-" + dirs.size());
                so.set("pretrained", pretrain(base, s, corpusSize, lmEpochs, dir, ctx));
                dirs.add(dir);
            }
        }
        int n = ctx.n();
        // [size][seed] → ν (KL), TV, |λ_p* − λ*|, objective gap, constraint gap
        double[][][] m = new double[sizes.size()][n][5];
        ArrayNode runs = out.putArray("runs");
        for (int z = 0; z < sizes.size(); z++) {
            try (Lab lab = new Lab(ctx, utilities, dirs.get(z))) {
                for (int si = 0; si < n; si++) {
                    int seed = ctx.seeds().get(si);
                    String tag = "nu " + sizes.get(z).name() + " seed " + seed + ": ";
                    ObjectNode o = runs.addObject().put("size", sizes.get(z).name()).put("seed", seed);
                    m[z][si] = gaps(lab, seed, tag, o, poolPrompts, poolK, heldPrompts, heldK, policyK, trainPrompts);
                }
            }
        }
        // sizes in order of their mean ν, so the lines run left to right
        Integer[] order = new Integer[sizes.size()];
        double[] meanNu = new double[sizes.size()];
        for (int z = 0; z < sizes.size(); z++) {
            order[z] = z;
            for (double[] r : m[z]) {
                meanNu[z] += r[0] / n;
            }
        }
        java.util.Arrays.sort(order, Comparator.comparingDouble(z -> meanNu[z]));
        for (boolean sqrt : new boolean[] {false, true}) {
            double[] x = new double[sizes.size()];
            double[][][] y = new double[3][n][sizes.size()];
            for (int i = 0; i < order.length; i++) {
                x[i] = sqrt ? Math.sqrt(Math.max(0, meanNu[order[i]])) : meanNu[order[i]];
                for (int seed = 0; seed < n; seed++) {
                    for (int g = 0; g < 3; g++) {
                        y[g][seed][i] = m[order[i]][seed][2 + g];
                    }
                }
            }
            Plot p = new Plot("Parametrization gap against " + (sqrt ? "√ν" : "ν") + " (ν = KL(π_θ(λ*) ‖ π_λ*), held out; sizes "
                    + sizes.stream().map(Size::name).toList() + ")", sqrt ? "√ν" : "ν (nats)", "gap", false);
            p.add(Plot.Series.of("|λ_p* − λ*|", x, y[0])).add(Plot.Series.of("objective gap |O_p − O*|", x, y[1]))
                    .add(Plot.Series.of("constraint gap |E_θ(λ*) g − b|", x, y[2]));
            p.writePng(ctx.out().resolve(name() + (sqrt ? "-sqrt" : "") + ".png"));
        }
        out.put("plot", name() + ".png").put("plotSqrt", name() + "-sqrt.png");
        return out;
    }

    /** Pretrains a reference of this size as the bootstrap does (same corpus recipe, optimiser and seed). */
    private static ObjectNode pretrain(Lab base, Size s, int corpusSize, int epochs, Path dir, Context ctx) {
        List<World.Example> corpus = World.referenceCorpus(corpusSize, PRETRAIN_SEED);
        List<int[][]> pairs = new ArrayList<>();
        for (World.Example e : corpus) {
            pairs.add(new int[][] {base.tokenizer.encode(e.prompt().text()), base.tokenizer.encode(e.response())});
        }
        int split = pairs.size() * 9 / 10;
        LmConfig cfg = new LmConfig(base.tokenizer.vocabSize(), s.dim(), s.heads(), s.layers(), base.reference.config().maxLen());
        ctx.progress().stage("nu: pretrain " + s.name(), epochs * ((split + PRETRAIN_BATCH - 1) / PRETRAIN_BATCH));
        try (PolicyLm lm = PolicyLm.create(cfg, base.device, PRETRAIN_SEED)) {
            LmTraining.Result r = LmTraining.train(lm, pairs.subList(0, split), pairs.subList(split, pairs.size()),
                    new LmTraining.Options(epochs, PRETRAIN_BATCH, PRETRAIN_LR, PRETRAIN_SEED), ctx.progress()::advance);
            lm.save(dir);
            ctx.progress().finish(String.format("perplexity %.2f", r.heldOutPerplexity()));
            return EventJson.mapper().createObjectNode().put("perplexity", r.heldOutPerplexity()).put("corpus", corpusSize)
                    .put("epochs", epochs);
        }
    }

    /**
     * One size and seed: λ* from the reference pool; π_θ trained at λ*; ν on held-out prompts; then
     * λ_p* by bracketing the λ at which the trained policy's scored harmlessness meets the margin.
     *
     * @return ν (KL), TV, |λ_p* − λ*|, objective gap |O(π_θ(λ_p*)) − O(π_λ*)|, constraint gap
     *     |E_{π_θ(λ*)} ĝ − b|
     */
    private static double[] gaps(Lab lab, int seed, String tag, ObjectNode o, int poolPrompts, int poolK, int heldPrompts,
            int heldK, int policyK, int trainPrompts) {
        double[] b = {MARGIN};
        Lab.Sampled pool = lab.sample(lab.reference, Lab.prompts(poolPrompts, seed * 7L + 1), poolK, seed, tag + "π_ref pool");
        Lab.Sampled train = lab.sample(lab.reference, Lab.prompts(trainPrompts, seed * 7L + 3), 2, seed + 100,
                tag + "π_ref training samples");
        List<World.Prompt> held = Lab.prompts(heldPrompts, seed * 7L + 2);
        Lab.Sampled refHeld = lab.sample(lab.reference, held, heldK, seed + 200, tag + "π_ref held out");
        double lambdaStar = lab.oneShot(pool, b, seed)[0];
        Lab.Values target = lab.tilted(refHeld, new double[] {lambdaStar});
        o.put("lambdaStar", lambdaStar).set("target", target.json(lambdaStar));
        ArrayNode tried = o.putArray("trained");
        // g(λ): the trained policy's scored harmlessness on held-out prompts; increasing in λ
        List<double[]> points = new ArrayList<>(); // (λ, g)
        double[] nu = null;
        Lab.Sampled atStar = null;
        double lambda = lambdaStar;
        for (int i = 0; i < 5; i++) {
            Lab.Sampled s = trainAndSample(lab, train, lambda, held, policyK, seed, tag + "λ=" + String.format("%.3f", lambda));
            double g = Dualizations.scoredMeans(lab, s)[0];
            points.add(new double[] {lambda, g});
            ObjectNode t = tried.addObject().put("lambda", lambda).put("scoredHarmless", g);
            t.set("policy", Lab.values(s, lab.utilities).json(lambda));
            if (i == 0) {
                nu = distance(refHeld, s, lambda, lab);
                atStar = s;
                t.put("klToTarget", nu[0]).put("tvToTarget", nu[1]);
            }
            double[][] br = bracket(points);
            double[] lo = br[0];
            double[] hi = br[1];
            if (lo == null && hi != null && hi[0] == 0) {
                break; // the margin is met at λ = 0: the constraint does not bind, λ_p* = 0
            }
            if (lo != null && hi != null) {
                if (i >= 2 || Math.abs(hi[0] - lo[0]) < 0.02) {
                    break;
                }
                lambda = lo[0] + (MARGIN - lo[1]) * (hi[0] - lo[0]) / (hi[1] - lo[1]); // secant inside the bracket
            } else {
                lambda = hi == null ? Math.max(lambda * 1.6, lambda + 0.1) : lambda / 1.6;
            }
        }
        // λ_p*: linear interpolation on the closest bracket; the nearest point when none brackets the margin
        double[][] br = bracket(points);
        double[] lo = br[0];
        double[] hi = br[1];
        double lambdaP;
        if (lo != null && hi != null) {
            lambdaP = lo[0] + (MARGIN - lo[1]) * (hi[0] - lo[0]) / (hi[1] - lo[1]);
        } else if (lo == null && hi[0] == 0) {
            lambdaP = 0;
            o.put("notBinding", true);
        } else {
            lambdaP = (lo != null ? lo : hi)[0];
            o.put("unbracketed", true);
        }
        Lab.Sampled atP = trainAndSample(lab, train, lambdaP, held, policyK, seed, tag + "λ_p*");
        Lab.Values vp = Lab.values(atP, lab.utilities);
        // O = E[r] − β·KL(π‖π_ref), by the scorers, for the parametrized optimum and the target
        double objP = vp.scoredReward() - Lab.BETA * vp.kl();
        double objStar = target.scoredReward() - Lab.BETA * target.kl();
        // the constraint gap: how far the policy trained at λ* misses the margin π_λ* meets (E_{π_λ*} g = b when
        // λ* > 0; the 32-sample resampling of π_λ* reads lower, a finite-K effect, so b is the reference here)
        double gP = vp.scoredUtilities().get(Oracle.HARMLESS);
        double gAtStar = Dualizations.scoredMeans(lab, atStar)[0];
        o.put("lambdaP", lambdaP).put("nu", nu[0]).put("tv", nu[1]).put("objectiveP", objP).put("objectiveStar", objStar)
                .put("constraintP", gP).put("constraintAtLambdaStar", gAtStar)
                .put("constraintTiltAtLambdaStar", target.scoredUtilities().get(Oracle.HARMLESS));
        o.set("atLambdaP", vp.json(lambdaP));
        o.set("atLambdaStar", Lab.values(atStar, lab.utilities).json(lambdaStar));
        return new double[] {nu[0], nu[1], Math.abs(lambdaP - lambdaStar), Math.abs(objP - objStar),
            Math.abs(gAtStar - MARGIN)};
    }

    /** Of the (λ, g) points, the largest λ below the margin and the smallest λ meeting it (either may be null). */
    private static double[][] bracket(List<double[]> points) {
        double[] lo = null;
        double[] hi = null;
        for (double[] p : points) {
            if (p[1] < MARGIN && (lo == null || p[0] > lo[0])) {
                lo = p;
            }
            if (p[1] >= MARGIN && (hi == null || p[0] < hi[0])) {
                hi = p;
            }
        }
        return new double[][] {lo, hi};
    }

    private static Lab.Sampled trainAndSample(Lab lab, Lab.Sampled train, double lambda, List<World.Prompt> held, int k,
            int seed, String tag) {
        try (PolicyLm p = lab.freshReference()) {
            lab.train(p, train, new double[] {lambda}, seed, tag + ": DPO");
            return lab.sample(p, held, k, seed + 300, tag + ": held out");
        }
    }

    /**
     * KL(π_θ‖π_λ) and TV(π_θ, π_λ) on the held-out prompts, from π_θ's own samples and their
     * log π_θ/π_ref: log π_λ/π_θ(y) = −log π_θ/π_ref(y) + s(y)/β − log Z(x), with Z(x) estimated from
     * the reference's samples of the same prompt (so log Z is biased low by Jensen and the KL with it).
     */
    static double[] distance(Lab.Sampled ref, Lab.Sampled policy, double lambda, Lab lab) {
        double[] l = {lambda};
        int prompts = ref.prompts().size();
        double kl = 0;
        double tv = 0;
        for (int p = 0; p < prompts; p++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < ref.k(); j++) {
                max = Math.max(max, ref.score(p * ref.k() + j, lab.utilities, l) / Lab.BETA);
            }
            double z = 0;
            for (int j = 0; j < ref.k(); j++) {
                z += Math.exp(ref.score(p * ref.k() + j, lab.utilities, l) / Lab.BETA - max);
            }
            double logZ = max + Math.log(z / ref.k());
            for (int j = 0; j < policy.k(); j++) {
                int i = p * policy.k() + j;
                double logTargetOverPolicy = -policy.logRatio()[i] + policy.score(i, lab.utilities, l) / Lab.BETA - logZ;
                kl -= logTargetOverPolicy;
                tv += Math.max(0, 1 - Math.exp(logTargetOverPolicy)); // TV = E_θ[(1 − π_λ/π_θ)₊], bounded
            }
        }
        int count = prompts * policy.k();
        return new double[] {kl / count, tv / count};
    }
}
