package dev.dualign.core.dual;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An independent reference for the dual: no Newton, no shared code with the solver. It bisects on
 * the gradient E_x E_{π_λ}[g] − b, which is monotone in each λ_k because D is convex; for two
 * constraints it nests one bisection inside the other (envelope theorem: the outer derivative is
 * ∂D/∂λ1 at the inner minimiser).
 */
public final class BisectionDual {
    record Sample(String prompt, double r, double[] g) {}

    private final Map<String, List<Sample>> groups = new LinkedHashMap<>();
    private final double beta;
    private final double[] b;

    public BisectionDual(double beta, double... margins) {
        this.beta = beta;
        this.b = margins;
    }

    public void add(String prompt, double r, double... g) {
        groups.computeIfAbsent(prompt, p -> new ArrayList<>()).add(new Sample(prompt, r, g));
    }

    /** E_x E_{π_λ}[g_c] − b_c. */
    double gradient(double[] lambda, int c) {
        double total = 0;
        for (List<Sample> group : groups.values()) {
            double[] s = new double[group.size()];
            double mx = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < s.length; j++) {
                Sample smp = group.get(j);
                double v = smp.r();
                for (int q = 0; q < lambda.length; q++) {
                    v += lambda[q] * smp.g()[q];
                }
                s[j] = v / beta;
                mx = Math.max(mx, s[j]);
            }
            double z = 0;
            double zg = 0;
            for (int j = 0; j < s.length; j++) {
                double w = Math.exp(s[j] - mx);
                z += w;
                zg += w * group.get(j).g()[c];
            }
            total += zg / z;
        }
        return total / groups.size() - b[c];
    }

    public double solve1() {
        return root(l -> gradient(new double[] {l}, 0));
    }

    public double[] solve2() {
        double l1 = root(x -> gradient(new double[] {x, inner(x)}, 0));
        return new double[] {l1, inner(l1)};
    }

    private double inner(double l1) {
        return root(x -> gradient(new double[] {l1, x}, 1));
    }

    /** The λ ≥ 0 where the monotone f crosses zero (0 when f(0) ≥ 0). */
    private static double root(java.util.function.DoubleUnaryOperator f) {
        if (f.applyAsDouble(0) >= 0) {
            return 0;
        }
        double lo = 0;
        double hi = 1;
        while (f.applyAsDouble(hi) < 0) {
            lo = hi;
            hi *= 2;
            if (hi > 1e12) {
                throw new IllegalStateException("no root below 1e12");
            }
        }
        for (int i = 0; i < 200 && hi - lo > 1e-13 * Math.max(1, hi); i++) {
            double mid = 0.5 * (lo + hi);
            if (f.applyAsDouble(mid) < 0) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        return 0.5 * (lo + hi);
    }
}
