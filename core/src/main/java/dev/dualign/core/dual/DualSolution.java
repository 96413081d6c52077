package dev.dualign.core.dual;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The minimiser λ* of the empirical dual and what it implies: D(λ*), the expected utilities and
 * reward under the tilted policy π_λ*, and how well the solve converged.
 *
 * @param names constraint names, in problem order
 * @param lambda λ*_k
 * @param dual D(λ*)
 * @param expected E_x E_{π_λ*}[g_k]
 * @param reward E_x E_{π_λ*}[r]
 * @param iterations Newton iterations taken
 * @param projectedGradient final projected-gradient norm, relative to the scale of each g_k
 * @param atLambdaMax names of constraints whose λ stopped at the configured λ_max while still violated
 * @param prompts number of prompts (groups)
 * @param samples number of samples
 */
public record DualSolution(
        List<String> names,
        double[] lambda,
        double dual,
        double[] expected,
        double reward,
        int iterations,
        double projectedGradient,
        List<String> atLambdaMax,
        int prompts,
        int samples) {

    public double lambda(String name) {
        return lambda[index(name)];
    }

    public double expected(String name) {
        return expected[index(name)];
    }

    public Map<String, Double> lambdaByName() {
        return byName(lambda);
    }

    public Map<String, Double> expectedByName() {
        return byName(expected);
    }

    private Map<String, Double> byName(double[] v) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (int c = 0; c < names.size(); c++) {
            out.put(names.get(c), v[c]);
        }
        return out;
    }

    private int index(String name) {
        int i = names.indexOf(name);
        if (i < 0) {
            throw new IllegalArgumentException("no constraint named '" + name + "'");
        }
        return i;
    }
}
