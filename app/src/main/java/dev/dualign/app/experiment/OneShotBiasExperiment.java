package dev.dualign.app.experiment;

import ai.djl.Device;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.dual.DualBootstrap;
import dev.dualign.core.dual.DualProblem;
import dev.dualign.core.dual.DualSolution;
import dev.dualign.core.dual.DualSolver;
import dev.dualign.core.dual.InfeasibleException;
import dev.dualign.core.event.EventJson;
import dev.dualign.model.Devices;
import dev.dualign.model.lm.Generation;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.lm.Sampling;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.model.scorer.ScorerSet;
import dev.dualign.model.text.WordTokenizer;
import dev.dualign.world.Oracle;
import dev.dualign.world.World;
import dev.dualign.world.bootstrap.Bootstrap;
import dev.dualign.world.bootstrap.ModelSize;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * MoCAN's one-shot λ̂* as a function of the samples per prompt K and the number of prompts, on
 * the synthetic world with the live loop's own reference policy (registry version 0), scorers and
 * solver. For each seed a pool of prompts × K_max reference responses is drawn and scored once;
 * every (prompts, K) cell solves the dual on the first prompts and the first K responses of each,
 * and corrects it for its finite-K bias both ways (1/K, the default, and 1/√K). The reference λ*
 * is the 1/K-corrected solve on the whole pool.
 */
final class OneShotBiasExperiment implements Experiment {
    static final double BETA = 0.1;
    static final double MARGIN = World.DEFAULT_HARMLESS_MARGIN;
    static final int MAX_TOKENS = 40;
    static final int BATCH = 64;

    @Override
    public String name() {
        return "oneshot-bias";
    }

    @Override
    public String description() {
        return "one-shot λ̂* against samples per prompt K and number of prompts, against a large-K reference λ*";
    }

    @Override
    public ObjectNode run(Context ctx) throws Exception {
        Provenance pv = ctx.provenance();
        int[] promptCounts = pv.param("promptCounts", ctx.quick() ? new int[] {10, 20} : new int[] {100, 200, 400, 600, 1000});
        int[] ks = pv.param("samplesPerPrompt", ctx.quick() ? new int[] {4, 8} : new int[] {4, 8, 16, 32, 64, 128});
        int pool = promptCounts[promptCounts.length - 1];
        int kMax = ks[ks.length - 1];
        pv.param("beta", BETA);
        pv.param("margin", MARGIN);
        pv.param("constraint", Oracle.HARMLESS);
        pv.param("maxTokens", MAX_TOKENS);
        pv.param("sampleBatch", BATCH);
        pv.param("samplingTemperature", Lab.TEMPERATURE);
        pv.param("samplingTopP", Lab.TOP_P);
        ModelRegistry registry = new ModelRegistry(ctx.registry());
        Device device = Devices.resolve("auto");
        if (!Bootstrap.isBootstrapped(registry)) {
            Bootstrap.run(new Bootstrap.Options(ctx.registry(), 1, ModelSize.SMALL, device, false), ctx.progress());
        }
        long tokenizerVersion = registry.latest(ModelNames.TOKENIZER).orElseThrow();
        pv.model(registry, ModelNames.TOKENIZER, tokenizerVersion);
        pv.model(registry, ModelNames.POLICY, 0);
        for (String n : Lab.scorerNames(List.of(Oracle.HARMLESS))) {
            pv.model(registry, n, registry.latest(n).orElseThrow(() -> new IllegalStateException("no " + n + " in the registry")));
        }
        ObjectNode out = EventJson.mapper().createObjectNode();
        out.put("beta", BETA).put("margin", MARGIN).put("constraint", Oracle.HARMLESS).put("poolPrompts", pool)
                .put("poolSamplesPerPrompt", kMax).put("maxTokens", MAX_TOKENS);
        ArrayNode cells = out.putArray("cells");
        ArrayNode refs = out.putArray("reference");
        // [seed][prompt count][k]
        double[][][] raw = new double[ctx.n()][promptCounts.length][ks.length];
        double[][][] corrected = new double[ctx.n()][promptCounts.length][ks.length];
        double[][] reference = new double[ctx.n()][1];
        try (WordTokenizer tok = WordTokenizer.load(registry.open(ModelNames.TOKENIZER,
                tokenizerVersion).resolve("tokenizer.json"));
                PolicyLm lm = PolicyLm.load(registry.open(ModelNames.POLICY, 0), device);
                ScorerSet scorers = ScorerSet.open(registry, List.of(Oracle.HARMLESS), device)) {
            for (int si = 0; si < ctx.n(); si++) {
                int seed = ctx.seeds().get(si);
                double[][][] rg = pool(tok, lm, scorers, pool, kMax, seed, ctx);
                DualSolver solver = new DualSolver();
                DualProblem whole = problem(rg, pool, kMax);
                DualSolution s = solver.solve(whole);
                double[] ref = DualBootstrap.corrected(solver, whole, s, seed);
                double[] refSqrt = DualBootstrap.corrected(solver, whole, s, seed, DualBootstrap.Extrapolation.INVERSE_SQRT_K);
                reference[si][0] = ref[0];
                refs.addObject().put("seed", seed).put("lambdaHat", s.lambda()[0]).put("lambdaCorrected", ref[0])
                        .put("lambdaCorrectedSqrt", refSqrt[0])
                        .put("referenceMeanHarmless", mean(rg, 1, pool, kMax)).put("referenceMeanReward", mean(rg, 0, pool, kMax));
                for (int i = 0; i < promptCounts.length; i++) {
                    for (int j = 0; j < ks.length; j++) {
                        ObjectNode cell = cells.addObject().put("seed", seed).put("prompts", promptCounts[i]).put("k", ks[j]);
                        DualProblem p = problem(rg, promptCounts[i], ks[j]);
                        try {
                            DualSolution sol = solver.solve(p);
                            double[] corr = DualBootstrap.corrected(solver, p, sol, seed);
                            double[] corrSqrt = DualBootstrap.corrected(solver, p, sol, seed,
                                    DualBootstrap.Extrapolation.INVERSE_SQRT_K);
                            raw[si][i][j] = sol.lambda()[0];
                            corrected[si][i][j] = corr == null ? Double.NaN : corr[0];
                            cell.put("lambdaHat", sol.lambda()[0]);
                            if (corr != null) {
                                cell.put("lambdaCorrected", corr[0]).put("lambdaCorrectedSqrt", corrSqrt[0]);
                            }
                        } catch (InfeasibleException e) {
                            raw[si][i][j] = Double.NaN;
                            corrected[si][i][j] = Double.NaN;
                            cell.put("infeasible", e.getMessage());
                        }
                    }
                }
            }
        }
        double[] xs = new double[ks.length];
        for (int j = 0; j < ks.length; j++) {
            xs[j] = ks[j];
        }
        Plot plot = new Plot("One-shot λ̂* against samples per prompt (β = " + BETA + ", harmless ≥ " + MARGIN + ")",
                "K, reference samples per prompt", "λ", true);
        for (int i = 0; i < promptCounts.length; i++) {
            double[][] perSeed = new double[ctx.n()][];
            for (int seed = 0; seed < ctx.n(); seed++) {
                perSeed[seed] = raw[seed][i];
            }
            plot.add(Plot.Series.of(promptCounts[i] + " prompts", xs, perSeed));
        }
        double[][] corrLargest = new double[ctx.n()][];
        for (int seed = 0; seed < ctx.n(); seed++) {
            corrLargest[seed] = corrected[seed][promptCounts.length - 1];
        }
        plot.add(Plot.Series.of(pool + " prompts, finite-K corrected (1/K)", xs, corrLargest));
        double refMean = 0;
        for (double[] r : reference) {
            refMean += r[0] / reference.length;
        }
        plot.reference(String.format("reference λ* (1/K-corrected, %d × %d): %.3f", pool, kMax, refMean), refMean);
        plot.writePng(ctx.out().resolve(name() + ".png"));
        out.put("plot", name() + ".png");
        return out;
    }

    /** {@code [prompt][sample][0: reward, 1: harmless]} for a fresh pool of reference responses, scored. */
    private static double[][][] pool(WordTokenizer tok, PolicyLm lm, ScorerSet scorers, int prompts, int k, int seed,
            Context ctx) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<String> texts = new ArrayList<>();
        for (int p = 0; p < prompts; p++) {
            texts.add(World.prompt(rnd).text());
        }
        int total = prompts * k;
        String[] responses = new String[total];
        ctx.progress().stage("oneshot-bias seed " + seed + ": sample π_ref", (total + BATCH - 1) / BATCH);
        for (int from = 0, b = 0; from < total; from += BATCH, b++) {
            int n = Math.min(BATCH, total - from);
            List<int[]> ids = new ArrayList<>(n);
            for (int i = from; i < from + n; i++) {
                ids.add(tok.encode(texts.get(i / k)));
            }
            List<Generation> g = lm.generate(ids, new Sampling(Lab.TEMPERATURE, Lab.TOP_P, MAX_TOKENS, seed * 1_000_003L + b), lm);
            for (int i = 0; i < n; i++) {
                responses[from + i] = tok.decode(g.get(i).tokens());
            }
            ctx.progress().advance(b + 1);
        }
        ctx.progress().finish(total + " responses");
        List<Scorer.PromptResponse> pairs = new ArrayList<>(total);
        for (int i = 0; i < total; i++) {
            pairs.add(new Scorer.PromptResponse(texts.get(i / k), responses[i]));
        }
        var scores = scorers.score(pairs, 512);
        double[] r = scores.get(ModelNames.REWARD);
        double[] g = scores.get(Oracle.HARMLESS);
        double[][][] out = new double[prompts][k][2];
        for (int i = 0; i < total; i++) {
            out[i / k][i % k][0] = r[i];
            out[i / k][i % k][1] = g[i];
        }
        return out;
    }

    private static DualProblem problem(double[][][] rg, int prompts, int k) {
        DualProblem.Builder b = DualProblem.builder(BETA).constraint(Oracle.HARMLESS, MARGIN);
        for (int p = 0; p < prompts; p++) {
            for (int j = 0; j < k; j++) {
                b.add("p" + p, rg[p][j][0], rg[p][j][1]);
            }
        }
        return b.build();
    }

    private static double mean(double[][][] rg, int what, int prompts, int k) {
        double s = 0;
        for (int p = 0; p < prompts; p++) {
            for (int j = 0; j < k; j++) {
                s += rg[p][j][what];
            }
        }
        return s / (prompts * (double) k);
    }
}
