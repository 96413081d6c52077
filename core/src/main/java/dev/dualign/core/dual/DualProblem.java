package dev.dualign.core.dual;

import dev.dualign.core.event.ScoredSample;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The empirical dual of the constrained alignment problem (docs/mathematics.md, §2; MoCAN eq. for D(λ)):
 * <pre>  D(λ) = β · mean_x log mean_j exp((r_xj + λ·g_xj)/β) − λ·b,   λ ≥ 0  </pre>
 * with samples grouped by prompt (groups may have different sizes). Samples are stored grouped
 * and flat (CSR layout) so that one evaluation is a single cache-friendly pass.
 *
 * <pre>{@code
 * DualProblem p = DualProblem.builder(0.1).constraint("harmless", 0.2).build(samples);
 * DualSolution s = new DualSolver().solve(p);
 * }</pre>
 */
public final class DualProblem {
    final double beta;
    final String[] names;
    final double[] margins;
    final int k;
    final int[] offsets; // prompt x owns samples offsets[x] .. offsets[x+1]-1
    final double[] reward;
    final double[] g; // g[i*k + c]
    final String[] promptIds;

    private DualProblem(double beta, String[] names, double[] margins, int[] offsets,
            double[] reward, double[] g, String[] promptIds) {
        this.beta = beta;
        this.names = names;
        this.margins = margins;
        this.k = names.length;
        this.offsets = offsets;
        this.reward = reward;
        this.g = g;
        this.promptIds = promptIds;
    }

    public static Builder builder(double beta) {
        return new Builder(beta);
    }

    public double beta() {
        return beta;
    }

    public int constraints() {
        return k;
    }

    public String name(int c) {
        return names[c];
    }

    public List<String> names() {
        return List.of(names);
    }

    public double margin(int c) {
        return margins[c];
    }

    public int prompts() {
        return offsets.length - 1;
    }

    public int samples() {
        return reward.length;
    }

    /** The smallest number of samples any prompt has. */
    public int minGroup() {
        int min = Integer.MAX_VALUE;
        for (int x = 0; x < prompts(); x++) {
            min = Math.min(min, offsets[x + 1] - offsets[x]);
        }
        return min;
    }

    /**
     * The same prompts with ⌈size / divisor⌉ of each prompt's samples, drawn without replacement:
     * the dual as it would be at a smaller K. The finite-K bias of λ̂ is read off how λ̂ moves
     * between K, K/2 and K/4 ({@link DualBootstrap}).
     */
    public DualProblem thinned(int divisor, java.util.SplittableRandom rnd) {
        if (divisor < 1) {
            throw new IllegalArgumentException("divisor must be ≥ 1, got " + divisor);
        }
        int m = prompts();
        int[] off = new int[m + 1];
        for (int x = 0; x < m; x++) {
            int size = offsets[x + 1] - offsets[x];
            off[x + 1] = off[x] + (size + divisor - 1) / divisor;
        }
        double[] r = new double[off[m]];
        double[] u = new double[off[m] * k];
        int[] idx = new int[0];
        for (int x = 0; x < m; x++) {
            int size = offsets[x + 1] - offsets[x];
            if (idx.length < size) {
                idx = new int[size];
            }
            for (int i = 0; i < size; i++) {
                idx[i] = offsets[x] + i;
            }
            int keep = off[x + 1] - off[x];
            for (int i = 0; i < keep; i++) { // partial Fisher–Yates: the first `keep` of a random order
                int j = i + rnd.nextInt(size - i);
                int t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
                r[off[x] + i] = reward[idx[i]];
                System.arraycopy(g, idx[i] * k, u, (off[x] + i) * k, k);
            }
        }
        return new DualProblem(beta, names, margins, off, r, u, promptIds);
    }

    /** Per prompt, the best attainable value of each utility: the feasibility witness. */
    double[] bestAttainable(double[] promptWeights) {
        double[] best = new double[k];
        double total = 0;
        for (int x = 0; x < prompts(); x++) {
            double w = promptWeights == null ? 1 : promptWeights[x];
            if (w == 0) {
                continue;
            }
            total += w;
            for (int c = 0; c < k; c++) {
                double mx = Double.NEGATIVE_INFINITY;
                for (int i = offsets[x]; i < offsets[x + 1]; i++) {
                    mx = Math.max(mx, g[i * k + c]);
                }
                best[c] += w * mx;
            }
        }
        for (int c = 0; c < k; c++) {
            best[c] /= total;
        }
        return best;
    }

    /** The largest |g_c| over all samples, at least the smallest positive double: the scale of g. */
    double gScale(int c) {
        double s = 0;
        for (int i = 0; i < reward.length; i++) {
            s = Math.max(s, Math.abs(g[i * k + c]));
        }
        return s > 0 ? s : 1.0;
    }

    /** Collects samples by prompt id; lines of one prompt need not be adjacent. */
    public static final class Builder {
        private final double beta;
        private final List<String> names = new ArrayList<>();
        private final List<Double> margins = new ArrayList<>();
        private final Map<String, Integer> promptIndex = new HashMap<>();
        private final List<String> promptIds = new ArrayList<>();
        private int[] promptOf = new int[1024];
        private double[] rewards = new double[1024];
        private double[] utils = new double[0];
        private int n;
        private boolean frozen;

        private Builder(double beta) {
            if (!(beta > 0) || !Double.isFinite(beta)) {
                throw new IllegalArgumentException("beta must be a positive finite number, got " + beta);
            }
            this.beta = beta;
        }

        public Builder constraint(String name, double margin) {
            if (frozen) {
                throw new IllegalStateException("constraints must be declared before samples are added");
            }
            if (name == null || name.isEmpty()) {
                throw new IllegalArgumentException("constraint name must not be empty");
            }
            if (names.contains(name)) {
                throw new IllegalArgumentException("constraint '" + name + "' declared twice");
            }
            if (!Double.isFinite(margin)) {
                throw new IllegalArgumentException("margin of '" + name + "' must be finite, got " + margin);
            }
            names.add(name);
            margins.add(margin);
            return this;
        }

        public Builder constraints(Map<String, Double> nameToMargin) {
            nameToMargin.forEach(this::constraint);
            return this;
        }

        /** Adds one sample; {@code utilities} are in the order the constraints were declared. */
        public Builder add(String promptId, double reward, double... utilities) {
            if (names.isEmpty()) {
                throw new IllegalStateException("declare at least one constraint first");
            }
            frozen = true;
            int k = names.size();
            if (utilities.length != k) {
                throw new IllegalArgumentException("expected " + k + " utilities, got " + utilities.length);
            }
            if (!Double.isFinite(reward)) {
                throw new IllegalArgumentException("reward must be finite, got " + reward);
            }
            for (int c = 0; c < k; c++) {
                if (!Double.isFinite(utilities[c])) {
                    throw new IllegalArgumentException("utility '" + names.get(c) + "' must be finite, got " + utilities[c]);
                }
            }
            if (n == rewards.length) {
                rewards = Arrays.copyOf(rewards, n * 2);
                promptOf = Arrays.copyOf(promptOf, n * 2);
            }
            if (utils.length < (n + 1) * k) {
                utils = Arrays.copyOf(utils, Math.max(1024 * k, utils.length * 2));
            }
            Integer x = promptIndex.get(promptId);
            if (x == null) {
                x = promptIds.size();
                promptIndex.put(promptId, x);
                promptIds.add(promptId);
            }
            promptOf[n] = x;
            rewards[n] = reward;
            System.arraycopy(utilities, 0, utils, n * k, k);
            n++;
            return this;
        }

        /** Adds a scored sample, taking the utilities named by the constraints. */
        public Builder add(ScoredSample s) {
            double[] u = new double[names.size()];
            for (int c = 0; c < u.length; c++) {
                u[c] = s.utility(names.get(c));
            }
            return add(s.promptId(), s.reward(), u);
        }

        public int samples() {
            return n;
        }

        public DualProblem build() {
            if (n == 0) {
                throw new IllegalStateException("no samples");
            }
            int k = names.size();
            int m = promptIds.size();
            int[] offsets = new int[m + 1];
            for (int i = 0; i < n; i++) {
                offsets[promptOf[i] + 1]++;
            }
            for (int x = 0; x < m; x++) {
                offsets[x + 1] += offsets[x];
            }
            int[] cursor = Arrays.copyOf(offsets, m);
            double[] r = new double[n];
            double[] g = new double[n * k];
            for (int i = 0; i < n; i++) {
                int at = cursor[promptOf[i]]++;
                r[at] = rewards[i];
                System.arraycopy(utils, i * k, g, at * k, k);
            }
            double[] b = new double[k];
            for (int c = 0; c < k; c++) {
                b[c] = margins.get(c);
            }
            return new DualProblem(beta, names.toArray(String[]::new), b, offsets, r, g,
                    promptIds.toArray(String[]::new));
        }

        public DualProblem build(Iterable<ScoredSample> samples) {
            for (ScoredSample s : samples) {
                add(s);
            }
            return build();
        }
    }

    /** Constraint name to margin, in declaration order. */
    public Map<String, Double> margins() {
        Map<String, Double> out = new LinkedHashMap<>();
        for (int c = 0; c < k; c++) {
            out.put(names[c], margins[c]);
        }
        return out;
    }
}
