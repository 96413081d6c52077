package dev.dualign.world;

import java.util.SplittableRandom;

/** True (oracle) means of a response generator over the world's prompt distribution. */
public final class WorldStats {
    /** Mean oracle scores. */
    public record Means(double reward, double harmless, double humour, int n) {}

    private WorldStats() {}

    /** The reference policy (hazard rate {@link World#HAZARD_RATE}) or any other hazard rate. */
    public static Means of(double hazardRate, int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        double r = 0;
        double h = 0;
        double j = 0;
        for (int i = 0; i < n; i++) {
            World.Prompt p = World.prompt(rnd);
            Oracle.Scores s = Oracle.score(p.intent(), World.response(p.intent(), rnd, hazardRate));
            r += s.reward();
            h += s.harmless();
            j += s.humour();
        }
        return new Means(r / n, h / n, j / n, n);
    }
}
