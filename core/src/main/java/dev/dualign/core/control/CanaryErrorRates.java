package dev.dualign.core.control;

import dev.dualign.core.event.Estimate;
import dev.dualign.core.stats.ConfidenceBounds;
import dev.dualign.core.stats.ConfidenceSequence;
import dev.dualign.core.stats.RunningStats;
import dev.dualign.core.stats.StitchedConfidenceSequence;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

/**
 * How often {@link CanaryRule} decides wrongly when it looks at a version's estimate every few
 * samples, by simulation: the job's own loop (add a batch, estimate, judge) on a score stream of
 * known mean. It measures what the rule's interval costs: the fixed-n normal interval (what the
 * judge read first), the stitched empirical-Bernstein sequence (what it read next) and the
 * betting confidence sequence it reads now.
 */
public final class CanaryErrorRates {
    /** Which interval the judge reads. */
    public enum Bound {
        /** The fixed-n normal interval: not valid under repeated looks. */
        NORMAL,
        /** {@link StitchedConfidenceSequence}. */
        STITCHED,
        /** {@link ConfidenceSequence}, the job's. */
        BETTING
    }

    /** A score distribution of known mean, in the declared range [lo, hi]. */
    public enum Scores {
        /** Two values at the ends of the range (the largest variance for a mean). */
        BERNOULLI,
        /** Uniform on mean ± 0.5. */
        UNIFORM,
        /**
         * Standard deviation 0.5, like the demo's harmlessness scores (a version's estimate
         * 0.530 [0.512, 0.548] on 3,025 samples): the top of the range (a harmless answer) or one
         * lower value, with the probabilities that give the mean.
         */
        SPREAD;

        static final double SPREAD_SD = 0.5;

        DoubleSupplier sampler(double mean, double lo, double hi, SplittableRandom rnd) {
            return switch (this) {
                case BERNOULLI -> () -> rnd.nextDouble() < (mean - lo) / (hi - lo) ? hi : lo;
                case UNIFORM -> () -> mean - 0.5 + rnd.nextDouble();
                case SPREAD -> {
                    double low = mean - SPREAD_SD * SPREAD_SD / (hi - mean);
                    if (!(low >= lo)) {
                        throw new IllegalArgumentException("no two-point law with mean " + mean + " and sd " + SPREAD_SD
                                + " in [" + lo + ", " + hi + "]");
                    }
                    double top = (mean - low) / (hi - low);
                    yield () -> rnd.nextDouble() < top ? hi : low;
                }
            };
        }
    }

    /**
     * @param promoted runs that ended in a promotion
     * @param rolledBack runs that ended in a rollback
     * @param held runs undecided after the last look
     * @param meanSamplesToDecision mean samples at the decision, over the decided runs (NaN if none)
     * @param medianSamplesToDecision its median (NaN if none)
     * @param p95SamplesToDecision its 95th percentile (NaN if none)
     */
    public record Rates(int runs, int promoted, int rolledBack, int held, double meanSamplesToDecision,
            double medianSamplesToDecision, double p95SamplesToDecision) {
        public double promoteRate() {
            return (double) promoted / runs;
        }

        public double rollbackRate() {
            return (double) rolledBack / runs;
        }
    }

    private CanaryErrorRates() {}

    /**
     * Runs {@code runs} canaries of true mean {@code mean} against {@code margin}, looking every
     * {@code every} samples up to {@code maxSamples}, at level {@code confidence} (one constraint).
     */
    public static Rates simulate(Bound bound, Scores scores, double mean, double margin, int runs, int every, int maxSamples,
            long nMin, double confidence, double lo, double hi, long seed) {
        SplittableRandom root = new SplittableRandom(seed);
        Map<String, Double> margins = Map.of("g", margin);
        double alpha = 1 - confidence;
        int promoted = 0;
        int rolledBack = 0;
        long decidedAt = 0;
        java.util.List<Integer> at = new java.util.ArrayList<>();
        for (int r = 0; r < runs; r++) {
            SplittableRandom rnd = root.split();
            DoubleSupplier x = scores.sampler(mean, lo, hi, rnd);
            RunningStats stats = new RunningStats();
            // only the bound this simulation judges by is kept up
            StitchedConfidenceSequence stitched = bound == Bound.STITCHED ? new StitchedConfidenceSequence(lo, hi) : null;
            ConfidenceSequence betting = bound == Bound.BETTING ? new ConfidenceSequence(lo, hi, alpha) : null;
            for (int n = every; n <= maxSamples; n += every) {
                for (int i = 0; i < every; i++) {
                    double v = x.getAsDouble();
                    stats.add(v);
                    if (stitched != null) {
                        stitched.add(v);
                    }
                    if (betting != null) {
                        betting.add(v);
                    }
                }
                Estimate e = Estimate.of(switch (bound) {
                    case NORMAL -> ConfidenceBounds.normal(stats, alpha);
                    case STITCHED -> stitched.interval(alpha);
                    case BETTING -> betting.interval();
                });
                CanaryRule.Verdict verdict = CanaryRule.judge(margins, Map.of("g", e), nMin, "simulation").verdict();
                if (verdict == CanaryRule.Verdict.PROMOTE) {
                    promoted++;
                    decidedAt += n;
                    at.add(n);
                    break;
                }
                if (verdict == CanaryRule.Verdict.ROLLBACK) {
                    rolledBack++;
                    decidedAt += n;
                    at.add(n);
                    break;
                }
            }
        }
        int decided = promoted + rolledBack;
        java.util.Collections.sort(at);
        return new Rates(runs, promoted, rolledBack, runs - decided, decided == 0 ? Double.NaN : (double) decidedAt / decided,
                quantile(at, 0.5), quantile(at, 0.95));
    }

    /** The nearest-rank quantile of sorted values; NaN for none. */
    static double quantile(java.util.List<Integer> sorted, double q) {
        if (sorted.isEmpty()) {
            return Double.NaN;
        }
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(q * sorted.size()) - 1));
    }
}
