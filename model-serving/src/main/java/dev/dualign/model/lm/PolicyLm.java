package dev.dualign.model.lm;

import ai.djl.Device;
import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dualign.model.text.WordTokenizer;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The policy language model: a {@link CausalTransformer} with batched sampling and exact,
 * differentiable sequence log-probabilities. Not thread-safe (one per Flink subtask or server
 * worker); every NDArray of a call lives in a sub-manager closed before the call returns, so
 * nothing native outlives it.
 *
 * <pre>{@code
 * try (PolicyLm lm = PolicyLm.load(dir, Device.cpu())) {
 *     List<Generation> out = lm.generate(prompts, new Sampling(1.0, 0.95, 24, 7), lm);
 * }
 * }</pre>
 */
public final class PolicyLm implements AutoCloseable {
    static final String CONFIG_FILE = "lm.json";
    static final String PARAMS_FILE = "lm.params";

    private final Model model;
    private final CausalTransformer block;

    private PolicyLm(Model model, CausalTransformer block) {
        this.model = model;
        this.block = block;
    }

    /** A freshly initialised model; the engine seed makes the initial weights reproducible. */
    public static PolicyLm create(LmConfig config, Device device, long seed) {
        Engine.getInstance().setRandomSeed((int) seed);
        Model model = Model.newInstance("policy", device);
        CausalTransformer block = new CausalTransformer(config);
        model.setBlock(block);
        block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 4), new Shape(1));
        return new PolicyLm(model, block);
    }

    public static PolicyLm load(Path dir, Device device) {
        try {
            LmConfig config = new ObjectMapper().readValue(dir.resolve(CONFIG_FILE).toFile(), LmConfig.class);
            Model model = Model.newInstance("policy", device);
            CausalTransformer block = new CausalTransformer(config);
            model.setBlock(block);
            block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 4), new Shape(1));
            try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(dir.resolve(PARAMS_FILE))))) {
                block.loadParameters(model.getNDManager(), in);
            } catch (MalformedModelException e) {
                model.close();
                throw new IllegalArgumentException("policy parameters in " + dir + " do not fit the model: " + e.getMessage(), e);
            }
            return new PolicyLm(model, block);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot load the policy from " + dir, e);
        }
    }

    /** Writes {@code lm.json} and {@code lm.params} into {@code dir}. */
    public void save(Path dir) {
        try {
            Files.createDirectories(dir);
            new ObjectMapper().writeValue(dir.resolve(CONFIG_FILE).toFile(), block.config());
            try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(dir.resolve(PARAMS_FILE))))) {
                block.saveParameters(out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot save the policy to " + dir, e);
        }
    }

    public LmConfig config() {
        return block.config();
    }

    public Model model() {
        return model;
    }

    CausalTransformer block() {
        return block;
    }

    /** log π(response + EOS | prompt) for each pair. */
    public double[] logProbs(List<int[]> prompts, List<int[]> responses) {
        return logProbs(prompts, responses, true);
    }

    /** As {@link #logProbs(List, List)}, with or without the final EOS. */
    public double[] logProbs(List<int[]> prompts, List<int[]> responses, boolean withEos) {
        try (NDManager m = model.getNDManager().newSubManager()) {
            LmBatch batch = LmBatch.of(m, prompts, responses, withEos, config().maxLen());
            NDArray logp = block.forward(new ParameterStore(m, false), batch.inputs(), false).head();
            return toDoubles(batch.sequenceLogProbs(logp));
        }
    }

    /** Log-probability of each response token and of EOS. */
    public double[] tokenLogProbs(int[] prompt, int[] response) {
        try (NDManager m = model.getNDManager().newSubManager()) {
            LmBatch batch = LmBatch.of(m, List.of(prompt), List.of(response), true, config().maxLen());
            NDArray logp = block.forward(new ParameterStore(m, false), batch.inputs(), false).head();
            float[] all = batch.tokenLogProbs(logp).toFloatArray();
            // positions predicting response[0..n-1] and EOS: the n + 1 before the last
            return toDoubles(Arrays.copyOfRange(all, all.length - 2 - response.length, all.length - 1));
        }
    }

    /** Log-probabilities of the next token after {@code BOS prompt SEP prefix}: length vocab. */
    public double[] nextTokenLogProbs(int[] prompt, int[] prefix) {
        try (NDManager m = model.getNDManager().newSubManager()) {
            LmBatch batch = LmBatch.of(m, List.of(prompt), List.of(prefix), false, config().maxLen());
            NDArray logp = block.forward(new ParameterStore(m, false), batch.inputs(), false).head();
            float[] last = logp.get(0, batch.length - 1).toFloatArray();
            return toDoubles(last);
        }
    }

    /**
     * Samples one response per prompt, all prompts in one batch. Log-probabilities are those of
     * the model at temperature 1 (the policy π itself), whatever temperature or top-p was used to
     * draw; {@code reference} scores the same tokens under π_ref (pass {@code this} for version 0).
     */
    public List<Generation> generate(List<int[]> prompts, Sampling s, PolicyLm reference) {
        int b = prompts.size();
        int[][] out = new int[b][s.maxTokens()];
        int[] len = new int[b];
        boolean[] done = new boolean[b];
        double[] lp = new double[b];
        SplittableRandom rnd = new SplittableRandom(s.seed());
        int maxPrompt = prompts.stream().mapToInt(p -> p.length).max().orElse(0);
        int steps = Math.min(s.maxTokens(), config().maxLen() - maxPrompt - 2);
        if (steps < 1) {
            throw new IllegalArgumentException("prompt of " + maxPrompt + " tokens leaves no room in maxLen " + config().maxLen());
        }
        int v = config().vocab();
        for (int step = 0; step < steps; step++) {
            List<int[]> prefixes = new ArrayList<>(b);
            for (int i = 0; i < b; i++) {
                prefixes.add(Arrays.copyOf(out[i], step));
            }
            float[] last;
            try (NDManager m = model.getNDManager().newSubManager()) {
                LmBatch batch = LmBatch.of(m, prompts, prefixes, false, config().maxLen());
                NDArray logp = block.forward(new ParameterStore(m, false), batch.inputs(), false).head();
                last = logp.get(":, -1, :").toFloatArray();
            }
            boolean all = true;
            for (int i = 0; i < b; i++) {
                if (done[i]) {
                    out[i][step] = WordTokenizer.EOS; // keeps rows aligned; never counted
                    continue;
                }
                int tok = draw(last, i * v, v, s, rnd);
                lp[i] += last[i * v + tok];
                if (tok == WordTokenizer.EOS) {
                    done[i] = true;
                } else {
                    out[i][step] = tok;
                    len[i]++;
                }
                all &= done[i];
            }
            if (all) {
                break;
            }
        }
        List<int[]> responses = new ArrayList<>(b);
        for (int i = 0; i < b; i++) {
            responses.add(Arrays.copyOf(out[i], len[i]));
        }
        double[] ref = reference == this ? lp : reference.mixedLogProbs(prompts, responses, done);
        List<Generation> gens = new ArrayList<>(b);
        for (int i = 0; i < b; i++) {
            gens.add(new Generation(responses.get(i), done[i], lp[i], ref[i]));
        }
        return gens;
    }

    /** Log-probabilities with EOS for rows that stopped and without for rows that were cut. */
    private double[] mixedLogProbs(List<int[]> prompts, List<int[]> responses, boolean[] stopped) {
        double[] with = logProbs(prompts, responses, true);
        double[] without = null;
        for (int i = 0; i < stopped.length; i++) {
            if (!stopped[i]) {
                if (without == null) {
                    without = logProbs(prompts, responses, false);
                }
                with[i] = without[i];
            }
        }
        return with;
    }

    private static int draw(float[] logp, int off, int v, Sampling s, SplittableRandom rnd) {
        double[] p = new double[v];
        double max = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < v; k++) {
            max = Math.max(max, logp[off + k] / s.temperature());
        }
        double z = 0;
        for (int k = 0; k < v; k++) {
            p[k] = Math.exp(logp[off + k] / s.temperature() - max);
            z += p[k];
        }
        Integer[] order = null;
        double keep = 1.0;
        if (s.topP() < 1) {
            order = new Integer[v];
            for (int k = 0; k < v; k++) {
                order[k] = k;
            }
            final double[] pp = p;
            Arrays.sort(order, (a, c) -> Double.compare(pp[c], pp[a]));
            double cum = 0;
            int cut = v;
            for (int k = 0; k < v; k++) {
                cum += p[order[k]] / z;
                if (cum >= s.topP()) {
                    cut = k + 1;
                    break;
                }
            }
            keep = 0;
            boolean[] kept = new boolean[v];
            for (int k = 0; k < cut; k++) {
                kept[order[k]] = true;
                keep += p[order[k]];
            }
            for (int k = 0; k < v; k++) {
                if (!kept[k]) {
                    p[k] = 0;
                }
            }
            z = keep;
        }
        double u = rnd.nextDouble() * z;
        double cum = 0;
        int lastPositive = 0;
        for (int k = 0; k < v; k++) {
            if (p[k] > 0) {
                lastPositive = k;
                cum += p[k];
                if (u < cum) {
                    return k;
                }
            }
        }
        return lastPositive;
    }

    private static double[] toDoubles(NDArray a) {
        return toDoubles(a.toType(DataType.FLOAT32, false).toFloatArray());
    }

    private static double[] toDoubles(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    /** For training code: forward on a batch with the given parameter store. */
    NDList forward(ParameterStore ps, NDList inputs, boolean training) {
        return block.forward(ps, inputs, training);
    }

    @Override
    public void close() {
        model.close();
    }
}
