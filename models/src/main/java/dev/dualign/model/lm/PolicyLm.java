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
import dev.dualign.model.NoGrad;
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
 * differentiable sequence log-probabilities. Not thread-safe: its owner uses it from one thread at
 * a time (the fine-tuner's own thread; the policy server locks it per generation); every NDArray of a call lives in a sub-manager closed before the call returns, so
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
            // loaded arrays do not require gradients as initialised ones do: a fine-tuner needs them
            // (PyTorch would then record every op on a thread whose grad mode is on: inference enters NoGrad)
            block.getParameters().values().forEach(p -> p.getArray().setRequiresGradient(true));
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
        boolean[] eos = new boolean[prompts.size()];
        java.util.Arrays.fill(eos, withEos);
        return logProbs(prompts, responses, eos);
    }

    /** As {@link #logProbs(List, List)}, with the final EOS for the rows where {@code eos} says so. */
    public double[] logProbs(List<int[]> prompts, List<int[]> responses, boolean[] eos) {
        try (NoGrad g = NoGrad.enter(); NDManager m = model.getNDManager().newSubManager()) {
            LmBatch batch = LmBatch.of(m, prompts, responses, eos, config().maxLen());
            NDArray logp = block.forward(new ParameterStore(m, false), batch.inputs(), false).head();
            return toDoubles(batch.sequenceLogProbs(logp));
        }
    }

    /** Log-probability of each response token and of EOS. */
    public double[] tokenLogProbs(int[] prompt, int[] response) {
        try (NoGrad g = NoGrad.enter(); NDManager m = model.getNDManager().newSubManager()) {
            LmBatch batch = LmBatch.of(m, List.of(prompt), List.of(response), true, config().maxLen());
            NDArray logp = block.forward(new ParameterStore(m, false), batch.inputs(), false).head();
            float[] all = batch.tokenLogProbs(logp).toFloatArray();
            // positions predicting response[0..n-1] and EOS: the n + 1 before the last
            return toDoubles(Arrays.copyOfRange(all, all.length - 2 - response.length, all.length - 1));
        }
    }

    /** Log-probabilities of the next token after {@code BOS prompt SEP prefix}: length vocab. */
    public double[] nextTokenLogProbs(int[] prompt, int[] prefix) {
        try (NoGrad g = NoGrad.enter(); NDManager m = model.getNDManager().newSubManager()) {
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
        return generate(prompts, java.util.Collections.nCopies(prompts.size(), s), s.seed(), reference, null);
    }

    /** Told of each token as it is drawn (e.g. to stream it to a client); called on the generating thread. */
    @FunctionalInterface
    public interface TokenListener {
        /** Row {@code row} drew {@code token} with log π {@code logprob} (temperature 1); never called for EOS. */
        void token(int row, int token, double logprob);
    }

    /**
     * As {@link #generate(List, Sampling, PolicyLm)} with each row's own temperature, top-p and
     * length ({@code rows.get(i)}; their seeds are ignored): what dynamic batching of requests with
     * different settings needs. One random stream of {@code seed} serves the whole batch, drawn row by
     * row, so a row's draw depends on its company; with one {@link Sampling} for every row this is
     * exactly the single-setting method.
     *
     * @param listener told of every token as it is drawn; may be null
     */
    public List<Generation> generate(List<int[]> prompts, List<Sampling> rows, long seed, PolicyLm reference,
            TokenListener listener) {
        int b = prompts.size();
        if (rows.size() != b) {
            throw new IllegalArgumentException(rows.size() + " sampling settings for " + b + " prompts");
        }
        int maxTokens = rows.stream().mapToInt(Sampling::maxTokens).max().orElse(1);
        int[][] out = new int[b][maxTokens];
        float[][] tokenLp = new float[b][maxTokens];
        int[] len = new int[b];
        boolean[] done = new boolean[b]; // ended with EOS
        boolean[] over = new boolean[b]; // ended: EOS, or its own length reached
        double[] lp = new double[b];
        SplittableRandom rnd = new SplittableRandom(seed);
        int maxPrompt = prompts.stream().mapToInt(p -> p.length).max().orElse(0);
        int steps = Math.min(maxTokens, config().maxLen() - maxPrompt - 2);
        if (steps < 1) {
            throw new IllegalArgumentException("prompt of " + maxPrompt + " tokens leaves no room in maxLen " + config().maxLen());
        }
        int v = config().vocab();
        // one sub-manager for the whole decode: the key/value caches live across steps and are
        // released together when it closes
        try (NoGrad g = NoGrad.enter(); NDManager m = model.getNDManager().newSubManager()) {
            ParameterStore ps = new ParameterStore(m, false);
            LmBatch prefix = LmBatch.of(m, prompts, java.util.Collections.nCopies(b, new int[0]), false, config().maxLen());
            CausalTransformer.Cache cache = block.new Cache(prefix.pads);
            NDArray logp = block.prefill(ps, prefix.ids, cache);
            for (int step = 0; step < steps; step++) {
                float[] last = logp.toFloatArray();
                logp.close();
                boolean all = true;
                long[] next = new long[b];
                for (int i = 0; i < b; i++) {
                    if (over[i]) {
                        next[i] = WordTokenizer.EOS; // keeps rows aligned; never counted
                        continue;
                    }
                    int tok = draw(last, i * v, v, rows.get(i), rnd);
                    float tlp = last[i * v + tok];
                    lp[i] += tlp;
                    next[i] = tok;
                    if (tok == WordTokenizer.EOS) {
                        done[i] = true;
                        over[i] = true;
                    } else {
                        out[i][len[i]] = tok;
                        tokenLp[i][len[i]] = tlp;
                        len[i]++;
                        over[i] = len[i] >= rows.get(i).maxTokens();
                        if (listener != null) {
                            listener.token(i, tok, tlp);
                        }
                    }
                    all &= over[i];
                }
                if (all || step == steps - 1) {
                    break;
                }
                try (NDManager stepManager = m.newSubManager()) {
                    NDArray nextIds = stepManager.create(next, new Shape(b, 1));
                    NDArray stepLogp = block.step(new ParameterStore(stepManager, false), nextIds, cache);
                    // keep what outlives the step in the decode's manager
                    stepLogp.attach(m);
                    for (int l = 0; l < cache.keys.length; l++) {
                        cache.keys[l].attach(m);
                        cache.values[l].attach(m);
                    }
                    logp = stepLogp;
                }
            }
        }
        List<int[]> responses = new ArrayList<>(b);
        for (int i = 0; i < b; i++) {
            responses.add(Arrays.copyOf(out[i], len[i]));
        }
        double[] ref = reference == this ? lp : reference.mixedLogProbs(prompts, responses, done);
        List<Generation> gens = new ArrayList<>(b);
        for (int i = 0; i < b; i++) {
            gens.add(new Generation(responses.get(i), done[i], lp[i], ref[i], toDoubles(Arrays.copyOf(tokenLp[i], len[i]))));
        }
        return gens;
    }

    /** Log-probabilities with EOS for rows that stopped and without for rows that were cut. */
    private double[] mixedLogProbs(List<int[]> prompts, List<int[]> responses, boolean[] stopped) {
        return logProbs(prompts, responses, stopped);
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
        if (s.topP() < 1) {
            // nucleus: the smallest set of most likely tokens reaching topP = all tokens at or
            // above a threshold probability
            double threshold = nucleusThreshold(p, z, s.topP());
            double keep = 0;
            for (int k = 0; k < v; k++) {
                if (p[k] < threshold) {
                    p[k] = 0;
                } else {
                    keep += p[k];
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

    /**
     * The probability of the last token the nucleus takes: tokens in descending order of p until
     * their share of z reaches topP (0 when rounding keeps it just short: every token stays). A
     * heap pops only the nucleus, a few dozen tokens, where sorting the whole vocabulary at every
     * step of every row was most of the Java time of a generation (profiled); the order of the
     * additions, and so the threshold, is that of a descending sort.
     */
    static double nucleusThreshold(double[] p, double z, double topP) {
        double[] h = p.clone();
        int n = h.length;
        for (int i = n / 2 - 1; i >= 0; i--) {
            siftDown(h, i, n);
        }
        double cum = 0;
        while (n > 0) {
            double top = h[0];
            cum += top / z;
            if (cum >= topP) {
                return top;
            }
            h[0] = h[--n];
            siftDown(h, 0, n);
        }
        return 0;
    }

    private static void siftDown(double[] h, int i, int n) {
        while (true) {
            int c = 2 * i + 1;
            if (c >= n) {
                return;
            }
            if (c + 1 < n && Double.compare(h[c + 1], h[c]) > 0) {
                c++;
            }
            if (Double.compare(h[c], h[i]) <= 0) {
                return;
            }
            double t = h[c];
            h[c] = h[i];
            h[i] = t;
            i = c;
        }
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

    /**
     * Differentiable log π(response + EOS | prompt) per pair, through {@code forward} (a trainer's
     * forward during training). The arrays live in {@code manager}.
     */
    public NDArray sequenceLogProbs(NDManager manager, List<int[]> prompts, List<int[]> responses,
            java.util.function.Function<NDList, NDList> forward) {
        boolean[] eos = new boolean[prompts.size()];
        java.util.Arrays.fill(eos, true);
        return sequenceLogProbs(manager, prompts, responses, eos, forward);
    }

    /** As above, with the final EOS only for the rows where {@code eos} says so (a response cut at the limit has none). */
    public NDArray sequenceLogProbs(NDManager manager, List<int[]> prompts, List<int[]> responses, boolean[] eos,
            java.util.function.Function<NDList, NDList> forward) {
        LmBatch batch = LmBatch.of(manager, prompts, responses, eos, config().maxLen());
        return batch.sequenceLogProbs(forward.apply(batch.inputs()).head());
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
