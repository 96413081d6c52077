package dev.dualign.app.experiment;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.dual.InfeasibleException;
import dev.dualign.core.event.EventJson;
import dev.dualign.world.Oracle;
import java.util.List;

/**
 * Two constraints at once, harmlessness and humour (the seed's multi-constraint figure): one-shot
 * λ* for both, then iterative steps; the true value of each utility of every version against its
 * margin, and λ for each.
 */
final class MultiExperiment implements Experiment {
    static final double HARMLESS_MARGIN = 0.5;
    static final double HUMOUR_MARGIN = 0.15;

    @Override
    public String name() {
        return "multi";
    }

    @Override
    public String description() {
        return "harmlessness and humour constraints together: both true utilities against both margins, with λ for each";
    }

    @Override
    public ObjectNode run(Context ctx) throws Exception {
        Provenance pv = ctx.provenance();
        MarginsExperiment.Scale sc = MarginsExperiment.Scale.of(ctx.quick()).record(pv);
        Dualizations.record(pv);
        List<String> utilities = pv.paramObject("utilities", List.of(Oracle.HARMLESS, Oracle.HUMOUR));
        double[] margins = pv.param("margins", new double[] {HARMLESS_MARGIN, HUMOUR_MARGIN});
        ObjectNode out = EventJson.mapper().createObjectNode();
        sc.describe(out.put("beta", Lab.BETA));
        out.putObject("margins").put(Oracle.HARMLESS, HARMLESS_MARGIN).put(Oracle.HUMOUR, HUMOUR_MARGIN);
        int n = ctx.n();
        int points = sc.steps() + 1;
        double[][][] truth = new double[2][n][points];
        double[][][] lambda = new double[2][n][points];
        double[][] reward = new double[n][points];
        ArrayNode runs = out.putArray("runs");
        try (Lab lab = new Lab(ctx, utilities)) {
            for (int si = 0; si < n; si++) {
                int seed = ctx.seeds().get(si);
                String tag = "multi seed " + seed + ": ";
                Dualizations.Setup s = sc.setup(lab, seed, tag);
                ObjectNode o = runs.addObject().put("seed", seed);
                o.set("reference", Lab.values(s.pool(), utilities).json(0));
                try {
                    Dualizations.Run it = Dualizations.oneShotThenIterative(lab, s, margins, sc.steps(), tag)[1];
                    o.set("iterative", it.json(utilities));
                    for (int t = 0; t < points; t++) {
                        Dualizations.Point p = it.path().get(t);
                        for (int c = 0; c < 2; c++) {
                            truth[c][si][t] = p.values().truth(utilities.get(c));
                            lambda[c][si][t] = p.lambda()[c];
                        }
                        reward[si][t] = p.values().reward();
                    }
                } catch (InfeasibleException e) {
                    o.put("infeasible", e.getMessage());
                    for (double[][] a : new double[][][] {truth[0], truth[1], lambda[0], lambda[1], reward}) {
                        java.util.Arrays.fill(a[si], Double.NaN);
                    }
                }
            }
        }
        double[] ts = new double[points];
        for (int t = 0; t < points; t++) {
            ts[t] = t;
        }
        Plot u = new Plot("Two constraints: true utilities of each version (t = 0: one-shot λ*; " + n + " seeds)",
                "dual step t (version trained at λ(t))", "true mean", false);
        u.add(Plot.Series.of("harmlessness", ts, truth[0])).add(Plot.Series.of("humour", ts, truth[1]))
                .add(Plot.Series.of("reward", ts, reward))
                .reference("harmlessness margin " + HARMLESS_MARGIN, HARMLESS_MARGIN)
                .reference("humour margin " + HUMOUR_MARGIN, HUMOUR_MARGIN);
        u.writePng(ctx.out().resolve(name() + ".png"));
        Plot l = new Plot("Two constraints: λ for each (" + n + " seeds)", "dual step t", "λ", false);
        l.add(Plot.Series.of("λ harmlessness", ts, lambda[0])).add(Plot.Series.of("λ humour", ts, lambda[1]));
        l.writePng(ctx.out().resolve(name() + "-lambda.png"));
        out.put("plot", name() + ".png").put("plotLambda", name() + "-lambda.png");
        return out;
    }
}
