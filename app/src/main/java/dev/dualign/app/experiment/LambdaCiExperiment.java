package dev.dualign.app.experiment;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.dual.DualBootstrap.Extrapolation;
import dev.dualign.core.dual.GaussianDualWorld;
import dev.dualign.core.event.EventJson;
import java.util.Locale;

/**
 * #13 defect 5: how often the bootstrap intervals of {@code dualign dual --bootstrap} cover the
 * infinite-K λ* that fine-tuning targets, at K = 4, 16, 64 samples per prompt, on a Gaussian world
 * where that λ* is known in closed form ({@link GaussianDualWorld#chatLike}).
 */
final class LambdaCiExperiment implements Experiment {
    static final int[] KS = {4, 16, 64};
    static final int PROMPTS = 100;
    static final double BETA = 0.1;
    static final double MARGIN = 0.5;
    static final double CONFIDENCE = 0.95;

    @Override
    public String name() {
        return "lambda-ci";
    }

    @Override
    public String description() {
        return "coverage of the infinite-K λ* by the bootstrap interval at K, and by the finite-K-corrected one";
    }

    @Override
    public ObjectNode run(Context ctx) throws Exception {
        Provenance p = ctx.provenance();
        int runs = p.param("runsPerSeedAndK", ctx.quick() ? 10 : 100);
        int resamples = p.param("resamples", ctx.quick() ? 50 : 200);
        GaussianDualWorld w = p.paramObject("world", GaussianDualWorld.chatLike(BETA, MARGIN));
        p.param("ks", KS);
        p.param("prompts", PROMPTS);
        p.param("confidence", CONFIDENCE);
        p.paramObject("extrapolations", java.util.Arrays.stream(Extrapolation.values()).map(Enum::name).toList());
        int minK = p.param("minKForCorrection", 4);
        ObjectNode out = EventJson.mapper().createObjectNode();
        out.putPOJO("world", w);
        out.put("prompts", PROMPTS).put("runsPerSeedAndK", runs).put("resamples", resamples).put("confidence", CONFIDENCE);
        Extrapolation[] ex = Extrapolation.values();
        double[] xs = new double[KS.length];
        double[][] atK = new double[ctx.n()][KS.length];
        double[][][] limit = new double[ex.length][ctx.n()][KS.length];
        ArrayNode cells = out.putArray("cells");
        ctx.progress().stage("lambda-ci", ctx.n() * KS.length * ex.length * runs);
        int[] done = {0};
        for (int si = 0; si < ctx.n(); si++) {
            int seed = ctx.seeds().get(si);
            for (int i = 0; i < KS.length; i++) {
                xs[i] = KS[i];
                for (int e = 0; e < ex.length; e++) {
                    // the same seed for both extrapolations: the same draws, so they differ only in the correction
                    // K = 4 is below the default floor for a correction (8): forced here, to show why it is the floor
                    GaussianDualWorld.Coverage c = w.coverage(PROMPTS, KS[i], runs, resamples, CONFIDENCE, seed * 100L + i, ex[e],
                            minK, () -> ctx.progress().advance(++done[0]));
                    atK[si][i] = c.atKRate();
                    limit[e][si][i] = c.limitRate();
                    cells.addObject().put("seed", seed).put("k", KS[i])
                            .put("extrapolation", ex[e].name().toLowerCase(Locale.ROOT).replace('_', '-'))
                            .put("coverageAtK", c.atKRate()).put("coverageCorrected", c.limitRate())
                            .put("correctedRuns", c.limitRuns()).put("meanLambdaHat", c.meanLambdaHat())
                            .put("meanLambdaStar", c.meanLambdaStar()).put("meanCorrected", c.meanLimit())
                            .put("meanBiasEstimate", c.meanBias());
                }
            }
        }
        Plot plot = new Plot("Coverage of the infinite-K λ* (" + PROMPTS + " prompts, nominal 95 %)",
                "K, samples per prompt", "coverage", true);
        plot.add(Plot.Series.of("interval for λ̂ at this K (before)", xs, atK));
        for (int e = 0; e < ex.length; e++) {
            plot.add(Plot.Series.of("extrapolated from K and K/2, " + (ex[e] == Extrapolation.INVERSE_K ? "1/K" : "1/√K"),
                    xs, limit[e]));
        }
        plot.reference("95 %", 0.95);
        plot.writePng(ctx.out().resolve(name() + ".png"));
        out.put("plot", name() + ".png");
        return out;
    }
}
