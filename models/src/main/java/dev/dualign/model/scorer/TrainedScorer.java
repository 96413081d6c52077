package dev.dualign.model.scorer;

import ai.djl.Device;
import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
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
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.function.IntConsumer;

/** A {@link ScorerNet} with its tokenizer: trains on labelled pairs, scores batches, saves and loads. */
public final class TrainedScorer implements Scorer {
    static final String CONFIG_FILE = "scorer.json";
    static final String PARAMS_FILE = "scorer.params";

    private final ScorerConfig config;
    private final Model model;
    private final ScorerNet net;
    private final WordTokenizer tokenizer;

    private TrainedScorer(ScorerConfig config, Model model, ScorerNet net, WordTokenizer tokenizer) {
        this.config = config;
        this.model = model;
        this.net = net;
        this.tokenizer = tokenizer;
    }

    /** A labelled pair. */
    public record Labelled(PromptResponse pair, double label) {}

    public static TrainedScorer create(ScorerConfig config, WordTokenizer tokenizer, Device device, long seed) {
        Engine.getInstance().setRandomSeed((int) seed);
        Model model = Model.newInstance("scorer-" + config.name(), device);
        ScorerNet net = new ScorerNet(config);
        model.setBlock(net);
        net.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 2), new Shape(1, 2), new Shape(1, 2), new Shape(1, 2));
        return new TrainedScorer(config, model, net, tokenizer);
    }

    public static TrainedScorer load(Path dir, WordTokenizer tokenizer, Device device) {
        try {
            ScorerConfig config = new ObjectMapper().readValue(dir.resolve(CONFIG_FILE).toFile(), ScorerConfig.class);
            if (config.vocab() != tokenizer.vocabSize()) {
                throw new IllegalArgumentException("scorer " + config.name() + " in " + dir + " was trained with a vocabulary of "
                        + config.vocab() + ", the tokenizer has " + tokenizer.vocabSize());
            }
            Model model = Model.newInstance("scorer-" + config.name(), device);
            ScorerNet net = new ScorerNet(config);
            model.setBlock(net);
            net.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 2), new Shape(1, 2), new Shape(1, 2), new Shape(1, 2));
            try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(dir.resolve(PARAMS_FILE))))) {
                net.loadParameters(model.getNDManager(), in);
            } catch (MalformedModelException e) {
                model.close();
                throw new IllegalArgumentException("scorer parameters in " + dir + " do not fit: " + e.getMessage(), e);
            }
            return new TrainedScorer(config, model, net, tokenizer);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot load scorer from " + dir, e);
        }
    }

    public void save(Path dir) {
        try {
            Files.createDirectories(dir);
            new ObjectMapper().writeValue(dir.resolve(CONFIG_FILE).toFile(), config);
            try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(dir.resolve(PARAMS_FILE))))) {
                net.saveParameters(out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot save scorer to " + dir, e);
        }
    }

    @Override
    public String name() {
        return config.name();
    }

    /** The DJL model (for training code and tests). */
    public Model model() {
        return model;
    }

    /** Token ids of a batch, computed once and shared by scorers with the same tokenizer. */
    public record Tokenized(int[][] prompts, int[][] responses) {
        public int size() {
            return prompts.length;
        }
    }

    /** The tokenizer this scorer was trained with. */
    public WordTokenizer tokenizer() {
        return tokenizer;
    }

    /** The most prompt tokens the scorer reads: a conversation is cut to them from its oldest turn. */
    public int maxTokens() {
        return config.maxTokens();
    }

    /**
     * Token ids of a batch for scorers that read {@code contextTokens} prompt tokens: a single prompt
     * as it is, a conversation ({@link PromptResponse#context}) cut from its oldest turn to them.
     */
    public static Tokenized tokenize(WordTokenizer tokenizer, List<PromptResponse> batch, int contextTokens) {
        int[][] prompts = tokenizer.encodeAll(batch.stream().map(PromptResponse::prompt).toList()); // one call for the batch
        java.util.function.ToIntFunction<String> count = s -> tokenizer.encodeAll(List.of(s))[0].length;
        for (int i = 0; i < prompts.length; i++) {
            PromptResponse p = batch.get(i);
            if (!p.singlePrompt()) {
                int[] ids = tokenizer.encodeAll(List.of(p.context(count, contextTokens)))[0];
                // the scorer reads the first tokens: a newest turn longer than the budget keeps its end
                prompts[i] = ids.length <= contextTokens ? ids : java.util.Arrays.copyOfRange(ids, ids.length - contextTokens, ids.length);
            }
        }
        return new Tokenized(prompts, tokenizer.encodeAll(batch.stream().map(PromptResponse::responseText).toList()));
    }

    @Override
    public double[] score(List<PromptResponse> batch) {
        return score(tokenize(tokenizer, batch, config.maxTokens()));
    }

    /** Scores of a batch already tokenized with {@link #tokenizer()}. */
    public double[] score(Tokenized batch) {
        if (batch.size() == 0) {
            return new double[0];
        }
        try (NoGrad g = NoGrad.enter(); NDManager m = model.getNDManager().newSubManager()) {
            NDList in = features(m, batch);
            float[] out = net.forward(new ParameterStore(m, false), in, false).head().toFloatArray();
            double[] d = new double[out.length];
            for (int i = 0; i < out.length; i++) {
                d[i] = out[i];
            }
            return d;
        }
    }

    /** Trains with mean squared error; returns the last epoch's training loss. */
    public double train(List<Labelled> data, int epochs, int batchSize, float lr, long seed, IntConsumer progress) {
        Loss l2 = Loss.l2Loss();
        DefaultTrainingConfig cfg = new DefaultTrainingConfig(l2)
                .optOptimizer(Optimizer.adam().optClipGrad(1f).optLearningRateTracker(Tracker.fixed(lr)).build())
                .optDevices(new ai.djl.Device[] {model.getNDManager().getDevice()});
        List<Labelled> order = new ArrayList<>(data);
        Random rnd = new Random(seed);
        double last = Double.NaN;
        int steps = 0;
        try (Trainer trainer = model.newTrainer(cfg)) {
            for (int e = 0; e < epochs; e++) {
                Collections.shuffle(order, rnd);
                double sum = 0;
                int n = 0;
                for (int from = 0; from < order.size(); from += batchSize) {
                    List<Labelled> chunk = order.subList(from, Math.min(order.size(), from + batchSize));
                    try (NDManager m = trainer.getManager().newSubManager()) {
                        NDList in = features(m, tokenize(tokenizer, chunk.stream().map(Labelled::pair).toList(), config.maxTokens()));
                        float[] y = new float[chunk.size()];
                        for (int i = 0; i < y.length; i++) {
                            y[i] = (float) chunk.get(i).label();
                        }
                        NDArray label = m.create(y);
                        int stepNo = steps + 1;
                        float value = dev.dualign.model.Gradients.backward(trainer, model.getBlock(),
                                () -> l2.evaluate(new NDList(label), new NDList(trainer.forward(in).head())),
                                "scorer " + config.name() + " training", stepNo);
                        sum += value;
                        n++;
                        trainer.step();
                    }
                    progress.accept(++steps);
                }
                last = sum / Math.max(1, n);
            }
        }
        return last;
    }

    private NDList features(NDManager m, Tokenized batch) {
        int b = batch.size();
        int t = config.maxTokens();
        long[] pIds = new long[b * t];
        float[] pMask = new float[b * t];
        long[] rIds = new long[b * 2 * t];
        float[] rMask = new float[b * 2 * t];
        int[][] prompts = batch.prompts();
        int[][] responses = batch.responses();
        for (int i = 0; i < b; i++) {
            int[] p = prompts[i];
            int[] r = responses[i];
            for (int k = 0; k < Math.min(t, p.length); k++) {
                pIds[i * t + k] = p[k];
                pMask[i * t + k] = 1;
            }
            int at = i * 2 * t;
            int rn = Math.min(t, r.length);
            for (int k = 0; k < rn; k++) {
                rIds[at + k] = r[k];
                rMask[at + k] = 1;
            }
            for (int k = 0; k + 1 < rn; k++) {
                int bucket = Math.floorMod(r[k] * 1_000_003 + r[k + 1] * 7919, config.buckets());
                rIds[at + t + k] = config.vocab() + bucket;
                rMask[at + t + k] = 1;
            }
        }
        return new NDList(m.create(pIds, new Shape(b, t)), m.create(pMask, new Shape(b, t)),
                m.create(rIds, new Shape(b, 2L * t)), m.create(rMask, new Shape(b, 2L * t)));
    }

    @Override
    public void close() {
        model.close();
    }
}
