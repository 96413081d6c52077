package dev.dualign.core.dual;

import java.util.SplittableRandom;

/**
 * A world whose infinite-K λ* is known in closed form, to measure how honest {@link
 * DualBootstrap}'s intervals are. Per prompt x, reward and utility of a reference response are
 * jointly Gaussian, r ~ N(μr_x, σr²), g ~ N(μg_x, σg²), correlation ρ; then E_{π_λ}[g] =
 * μg_x + (ρσrσg + λσg²)/β exactly, and the dual's minimiser over the drawn prompts is
 * λ* = [β(b − mean μg) − ρσrσg]₊ / σg².
 *
 * @param meanG mean of μg_x over prompts
 * @param spreadG standard deviation of μg_x over prompts
 * @param sdG σg
 * @param meanR mean of μr_x
 * @param spreadR standard deviation of μr_x
 * @param sdR σr
 * @param rho correlation of r and g within a prompt
 * @param beta the KL weight β
 * @param margin b
 */
public record GaussianDualWorld(double meanG, double spreadG, double sdG, double meanR, double spreadR, double sdR,
        double rho, double beta, double margin) {

    /** Close to the synthetic chat world's reference: harmlessness 0.35 ± 0.4, reward and harm at odds. */
    public static GaussianDualWorld chatLike(double beta, double margin) {
        return new GaussianDualWorld(0.35, 0.1, 0.4, 0.56, 0.1, 0.3, -0.5, beta, margin);
    }

    /** One draw: the problem with {@code k} samples per prompt, and its prompts' infinite-K λ*. */
    public record Draw(DualProblem problem, double lambdaStar) {}

    public Draw draw(int prompts, int k, SplittableRandom rnd) {
        DualProblem.Builder b = DualProblem.builder(beta).constraint("g", margin);
        double lambda = sample(prompts, k, rnd, b::add);
        return new Draw(b.build(), lambda);
    }

    /** Where {@link #sample} puts each response's prompt id, reward and utility. */
    @FunctionalInterface
    public interface Sink {
        void accept(String promptId, double reward, double utility);
    }

    /** Draws {@code prompts} × {@code k} responses into {@code sink}; returns those prompts' infinite-K λ*. */
    public double sample(int prompts, int k, SplittableRandom rnd, Sink sink) {
        double sumMuG = 0;
        double cond = Math.sqrt(1 - rho * rho);
        for (int x = 0; x < prompts; x++) {
            double muG = meanG + spreadG * gaussian(rnd);
            double muR = meanR + spreadR * gaussian(rnd);
            sumMuG += muG;
            for (int j = 0; j < k; j++) {
                double zg = gaussian(rnd);
                double zr = rho * zg + cond * gaussian(rnd);
                sink.accept("x" + x, muR + sdR * zr, muG + sdG * zg);
            }
        }
        return Math.max(0, (beta * (margin - sumMuG / prompts) - rho * sdR * sdG) / (sdG * sdG));
    }

    /** How often each interval of {@link DualBootstrap} covers the infinite-K λ*. */
    public record Coverage(int k, int runs, int coveredAtK, int coveredLimit, int limitRuns, double meanLambdaHat,
            double meanLimit, double meanLambdaStar, double meanBias) {
        public double atKRate() {
            return (double) coveredAtK / runs;
        }

        public double limitRate() {
            return limitRuns == 0 ? Double.NaN : (double) coveredLimit / limitRuns;
        }
    }

    /**
     * {@code runs} independent draws of {@code prompts} × {@code k}, each with a bootstrap of
     * {@code resamples} at {@code confidence}; counts how often [lo, hi] (λ̂ at this K) and
     * [limitLo, limitHi] (extrapolated) contain the draw's infinite-K λ*.
     */
    public Coverage coverage(int prompts, int k, int runs, int resamples, double confidence, long seed,
            DualBootstrap.Extrapolation extrapolation, int minGroupToCorrect, Runnable onRun) {
        SplittableRandom root = new SplittableRandom(seed);
        DualSolver solver = new DualSolver();
        int atK = 0;
        int limit = 0;
        int limitRuns = 0;
        int biasRuns = 0;
        double sumHat = 0;
        double sumLimit = 0;
        double sumStar = 0;
        double sumBias = 0;
        for (int r = 0; r < runs; r++) {
            SplittableRandom rnd = root.split();
            Draw d = draw(prompts, k, rnd);
            DualSolution s = solver.solve(d.problem());
            DualBootstrap.Result ci = DualBootstrap.run(solver, d.problem(), s, resamples, confidence, rnd.nextLong(),
                    DualBootstrap.DEFAULT_REPEATS, extrapolation, minGroupToCorrect);
            double star = d.lambdaStar();
            sumHat += s.lambda()[0];
            sumStar += star;
            if (ci.lo()[0] <= star && star <= ci.hi()[0]) {
                atK++;
            }
            if (!Double.isNaN(ci.limitLo()[0])) {
                limitRuns++;
                if (!Double.isNaN(ci.bias()[0])) {
                    biasRuns++;
                    sumLimit += s.lambda()[0] - ci.bias()[0];
                    sumBias += ci.bias()[0];
                }
                if (ci.limitLo()[0] <= star && star <= ci.limitHi()[0]) {
                    limit++;
                }
            }
            if (onRun != null) {
                onRun.run();
            }
        }
        return new Coverage(k, runs, atK, limit, limitRuns, sumHat / runs, biasRuns == 0 ? Double.NaN : sumLimit / biasRuns,
                sumStar / runs, biasRuns == 0 ? Double.NaN : sumBias / biasRuns);
    }

    private static double gaussian(SplittableRandom rnd) {
        // Box–Muller, not RandomGenerator.nextGaussian: its draws define the recorded lambda-ci results
        double u = 1 - rnd.nextDouble();
        double v = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
}
