package dev.dualign.core.dual;

import java.util.SplittableRandom;

/**
 * The closed loop of the iterative controller on a plant whose versions respond linearly to λ:
 * the version fine-tuned with λ has true harmlessness a + k·λ, and its estimate carries a normal
 * error of standard deviation {@code noise} (a tight estimate: half-width ε = 0.05 at 95 % is a
 * standard error of about 0.025). One step per version, as {@code IterativePolicy} takes them.
 */
record LinearPlant(double a, double k, double noise) {
    /** A dual step rule as the loop sees it: (λ, measured ĝ, target, step number t) → new λ. */
    interface Rule {
        double next(double lambda, double estimate, double target, long t);
    }

    /**
     * The true margin errors e_t = a + k·λ_t − target of versions 0 … steps (version 0 is the warm
     * start λ(0)), each version measured once with noise, λ moved by {@code rule}.
     */
    double[] run(Rule rule, double lambda0, double target, int steps, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        double[] e = new double[steps + 1];
        double lambda = lambda0;
        for (int t = 0; t <= steps; t++) {
            double truth = a + k * lambda;
            e[t] = truth - target;
            if (t < steps) {
                lambda = rule.next(lambda, truth + noise * gaussian(rnd), target, t + 1);
            }
        }
        return e;
    }

    /** λ that puts the version exactly on {@code target}. */
    double lambdaAt(double target) {
        return (target - a) / k;
    }

    /**
     * Steps t ≥ 1 whose version landed on the other side of the target from the previous one,
     * both by more than {@code deadband} (a swing the estimate can resolve, not noise at the target).
     */
    static int flips(double[] e, double deadband) {
        int n = 0;
        for (int t = 1; t < e.length; t++) {
            if (e[t] * e[t - 1] < 0 && Math.abs(e[t]) > deadband && Math.abs(e[t - 1]) > deadband) {
                n++;
            }
        }
        return n;
    }

    /** The first step whose version is within {@code band} of the target, or −1. */
    static int reached(double[] e, double band) {
        for (int t = 0; t < e.length; t++) {
            if (Math.abs(e[t]) <= band) {
                return t;
            }
        }
        return -1;
    }

    private static double gaussian(SplittableRandom rnd) {
        double u = 1 - rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd.nextDouble());
    }
}
