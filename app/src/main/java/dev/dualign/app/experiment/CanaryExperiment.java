package dev.dualign.app.experiment;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.control.CanaryErrorRates;
import dev.dualign.core.control.CanaryErrorRates.Bound;
import dev.dualign.core.control.CanaryErrorRates.Rates;
import dev.dualign.core.control.CanaryErrorRates.Scores;
import dev.dualign.core.event.EventJson;

/**
 * #13 defect 4: the canary judge's false promotion and false rollback rates when it looks every
 * {@code dual.estimate-every} samples, with the fixed-n normal interval it read before and the
 * anytime-valid confidence sequences it read next (stitched empirical Bernstein) and reads now
 * (predictable plug-in empirical Bernstein, a betting sequence), by simulation of the rule itself.
 */
final class CanaryExperiment implements Experiment {
    static final double MARGIN = 0.5;
    static final double[] MEANS = {0.40, 0.45, 0.48, 0.50, 0.52, 0.55, 0.60};
    static final int EVERY = 25;
    static final int MAX_SAMPLES = 3000;
    static final int N_MIN = 200;
    static final double CONFIDENCE = 0.95;

    @Override
    public String name() {
        return "canary";
    }

    @Override
    public String description() {
        return "false promotion/rollback rates of the canary rule under repeated looks: fixed-n normal vs two anytime-valid sequences";
    }

    @Override
    public ObjectNode run(Context ctx) {
        Provenance p = ctx.provenance();
        int runs = p.param("runsPerCell", ctx.quick() ? 200 : 2000);
        p.param("margin", MARGIN);
        p.param("means", MEANS);
        p.param("looksEvery", EVERY);
        p.param("maxSamples", MAX_SAMPLES);
        p.param("nMin", N_MIN);
        p.param("confidence", CONFIDENCE);
        p.param("range", new double[] {-1, 1});
        p.paramObject("bounds", java.util.Arrays.stream(Bound.values()).map(Enum::name).toList());
        p.param("holdMeans", HOLD_MEANS);
        p.param("holdMaxSamples", HOLD_MAX_SAMPLES);
        p.param("holdSamplesPerSecond", CANARY_SAMPLES_PER_S);
        ObjectNode out = EventJson.mapper().createObjectNode();
        out.put("margin", MARGIN).put("looksEvery", EVERY).put("maxSamples", MAX_SAMPLES).put("nMin", N_MIN)
                .put("confidence", CONFIDENCE).put("runsPerCell", runs).put("range", "[-1, 1]");
        Bound[] bounds = Bound.values();
        // [bound][seed][mean]
        double[][][] promote = new double[bounds.length][ctx.n()][MEANS.length];
        double[][][] rollback = new double[bounds.length][ctx.n()][MEANS.length];
        ArrayNode cells = out.putArray("cells");
        ctx.progress().stage("canary", ctx.n() * bounds.length * (MEANS.length + 1));
        int done = 0;
        for (int si = 0; si < ctx.n(); si++) {
            int seed = ctx.seeds().get(si);
            for (int b = 0; b < bounds.length; b++) {
                for (int i = 0; i < MEANS.length; i++) {
                    Rates r = CanaryErrorRates.simulate(bounds[b], Scores.UNIFORM, MEANS[i], MARGIN, runs, EVERY, MAX_SAMPLES,
                            N_MIN, CONFIDENCE, -1, 1, seed * 1000L + i);
                    promote[b][si][i] = r.promoteRate();
                    rollback[b][si][i] = r.rollbackRate();
                    cell(cells, seed, bounds[b], Scores.UNIFORM, MEANS[i], r);
                    ctx.progress().advance(++done);
                }
                // the worst case for the error rate: the largest variance a mean of 0.5 can have in [-1, 1]
                Rates worst = CanaryErrorRates.simulate(bounds[b], Scores.BERNOULLI, MARGIN, MARGIN, runs, EVERY, MAX_SAMPLES,
                        N_MIN, CONFIDENCE, -1, 1, seed * 1000L + 99);
                cell(cells, seed, bounds[b], Scores.BERNOULLI, MARGIN, worst);
                ctx.progress().advance(++done);
            }
        }
        hold(ctx, out.putArray("hold"), runs);
        Plot plot = new Plot("Canary decisions, looking every " + EVERY + " samples (uniform scores, margin " + MARGIN + ")",
                "true mean of the canary's utility", "fraction of canaries", false);
        for (int b = 0; b < bounds.length; b++) {
            String label = switch (bounds[b]) {
                case NORMAL -> "fixed-n normal 95%";
                case STITCHED -> "stitched EB sequence 95%";
                case BETTING -> "betting (PrPl-EB) sequence 95%";
            };
            plot.add(Plot.Series.of("promoted, " + label, MEANS, promote[b]));
            plot.add(Plot.Series.of("rolled back, " + label, MEANS, rollback[b]));
        }
        plot.reference("2.5 % (each way, nominal)", 0.025);
        out.put("plot", ctx.out().resolve(name() + ".png").getFileName().toString());
        try {
            plot.writePng(ctx.out().resolve(name() + ".png"));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return out;
    }

    /** Versions near the demo's target, scored like the demo's (sd 0.5), judged by the job's sequence. */
    static final double[] HOLD_MEANS = {0.53, 0.55, 0.58, 0.62};
    static final int HOLD_MAX_SAMPLES = 6000;
    /** The demo's canary traffic: 25 prompts/s, half of them to the canary. */
    static final double CANARY_SAMPLES_PER_S = 12.5;

    /**
     * How long a canary hold must be (decision 22): samples to a decision, median and 95th
     * percentile, for versions 0.03–0.12 above the margin, and what they take at the demo's rate.
     */
    private static void hold(Context ctx, ArrayNode cells, int runs) {
        for (int seed : ctx.seeds()) {
            for (int i = 0; i < HOLD_MEANS.length; i++) {
                Rates r = CanaryErrorRates.simulate(Bound.BETTING, Scores.SPREAD, HOLD_MEANS[i], MARGIN, runs, EVERY,
                        HOLD_MAX_SAMPLES, N_MIN, CONFIDENCE, -1, 1, seed * 1000L + 500 + i);
                cells.addObject().put("seed", seed).put("mean", HOLD_MEANS[i]).put("promoted", r.promoteRate())
                        .put("rolledBack", r.rollbackRate()).put("undecided", (double) r.held() / r.runs())
                        .put("medianSamples", nullIfNaN(r.medianSamplesToDecision()))
                        .put("p95Samples", nullIfNaN(r.p95SamplesToDecision()))
                        .put("samplesPerSecond", CANARY_SAMPLES_PER_S);
            }
        }
    }

    private static Double nullIfNaN(double x) {
        return Double.isNaN(x) ? null : x;
    }

    private static void cell(ArrayNode cells, int seed, Bound bound, Scores scores, double mean, Rates r) {
        cells.addObject().put("seed", seed).put("bound", bound.name().toLowerCase(java.util.Locale.ROOT))
                .put("scores", scores.name().toLowerCase(java.util.Locale.ROOT)).put("mean", mean)
                .put("promoted", r.promoteRate()).put("rolledBack", r.rollbackRate())
                .put("undecided", (double) r.held() / r.runs())
                .put("meanSamplesToDecision", Double.isNaN(r.meanSamplesToDecision()) ? null : r.meanSamplesToDecision());
    }
}
