package dev.dualign.model.scorer;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.Trainer;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * A small head (one hidden ReLU layer) over a {@link SentenceEncoder}'s features: the built-in way to
 * turn one shared transformer into several scorers, each a few kilobytes (decision 31). It is
 * trained with DJL and evaluated in plain Java, row by row, so its score is a function of the
 * features alone, the same bits in any company.
 */
public final class HeadScorer implements Scorer {
    /** The head's weights and the encoder version they were trained on; marks a head version. */
    public static final String HEAD_FILE = "head.json";
    /** The manifest's {@code info.kind} of a head version. */
    public static final String KIND = "encoder-head";
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * A head's weights.
     *
     * @param encoder the registry name of the encoder whose features it reads
     * @param encoderVersion the encoder version it was trained on (the only one it fits)
     * @param mean per-feature mean subtracted before the first layer
     * @param scale per-feature factor applied after it
     * @param w1 first layer, [hidden][features] row-major
     * @param b1 first layer's bias
     * @param w2 output weights, [hidden]
     * @param b2 output bias
     */
    public record Head(String encoder, long encoderVersion, float[] mean, float[] scale, float[] w1, float[] b1, float[] w2,
            float b2) {
        /** The score of one pair's features. */
        public double apply(float[] x) {
            int d = mean.length;
            if (x.length != d) {
                throw new IllegalStateException("the head reads " + d + " features, the encoder gave " + x.length);
            }
            float[] z = new float[d];
            for (int j = 0; j < d; j++) {
                z[j] = (x[j] - mean[j]) * scale[j];
            }
            double y = b2;
            for (int u = 0; u < b1.length; u++) {
                double a = b1[u];
                for (int j = 0, at = u * d; j < d; j++) {
                    a += (double) w1[at + j] * z[j];
                }
                if (a > 0) {
                    y += a * w2[u];
                }
            }
            return y;
        }
    }

    private final String name;
    private final Head head;
    private final SentenceEncoder encoder;

    /** A head scoring through {@code encoder}, which it does not own (the set closes it). */
    public HeadScorer(String name, Head head, SentenceEncoder encoder) {
        this.name = name;
        this.head = head;
        this.encoder = encoder;
    }

    public static boolean isHead(Path dir) {
        return Files.isRegularFile(dir.resolve(HEAD_FILE));
    }

    public static Head read(Path dir) {
        try {
            return JSON.readValue(dir.resolve(HEAD_FILE).toFile(), Head.class);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + dir.resolve(HEAD_FILE) + ": " + e.getMessage(), e);
        }
    }

    public static void write(Path dir, Head head) throws IOException {
        JSON.writeValue(dir.resolve(HEAD_FILE).toFile(), head);
    }

    @Override
    public String name() {
        return name;
    }

    public Head head() {
        return head;
    }

    public SentenceEncoder encoder() {
        return encoder;
    }

    @Override
    public double[] score(List<PromptResponse> batch) {
        return score(encoder.features(batch, 1, true)); // the features it was trained on (decision 31)
    }

    @Override
    public double[] score(List<PromptResponse> batch, int rows, boolean buckets) {
        return score(encoder.features(batch, rows, buckets));
    }

    /** Scores of features the encoder already computed (shared by every head of a set). */
    public double[] score(float[][] features) {
        double[] s = new double[features.length];
        for (int i = 0; i < s.length; i++) {
            s[i] = head.apply(features[i]);
        }
        return s;
    }

    /**
     * Trains a head on features and labels with mean squared error (Adam, full shuffles from
     * {@code seed}); features are standardised with their training mean and deviation.
     */
    public static Head train(String encoder, long encoderVersion, float[][] x, double[] y, int hidden, int epochs, float lr,
            long seed, Device device) {
        int d = x[0].length;
        float[] mean = new float[d];
        float[] scale = new float[d];
        for (int j = 0; j < d; j++) {
            double s = 0;
            double ss = 0;
            for (float[] r : x) {
                s += r[j];
                ss += (double) r[j] * r[j];
            }
            double m = s / x.length;
            mean[j] = (float) m;
            scale[j] = (float) (1 / Math.sqrt(Math.max(1e-8, ss / x.length - m * m)));
        }
        Engine.getEngine("PyTorch").setRandomSeed((int) seed);
        SequentialBlock net = new SequentialBlock().add(Linear.builder().setUnits(hidden).build()).add(Activation::relu)
                .add(Linear.builder().setUnits(1).build());
        try (Model model = Model.newInstance("head", device, "PyTorch")) {
            model.setBlock(net);
            Loss l2 = Loss.l2Loss();
            DefaultTrainingConfig cfg = new DefaultTrainingConfig(l2)
                    .optOptimizer(Optimizer.adam().optWeightDecays(1e-4f).optLearningRateTracker(Tracker.fixed(lr)).build())
                    .optDevices(new Device[] {device});
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i < x.length; i++) {
                order.add(i);
            }
            Random rnd = new Random(seed);
            int batch = 128;
            try (Trainer trainer = model.newTrainer(cfg)) {
                trainer.initialize(new Shape(batch, d));
                for (int e = 0; e < epochs; e++) {
                    Collections.shuffle(order, rnd);
                    for (int from = 0; from < order.size(); from += batch) {
                        int n = Math.min(batch, order.size() - from);
                        float[] xs = new float[n * d];
                        float[] ys = new float[n];
                        for (int k = 0; k < n; k++) {
                            int i = order.get(from + k);
                            for (int j = 0; j < d; j++) {
                                xs[k * d + j] = (x[i][j] - mean[j]) * scale[j];
                            }
                            ys[k] = (float) y[i];
                        }
                        try (NDManager m = trainer.getManager().newSubManager()) {
                            NDArray in = m.create(xs, new Shape(n, d));
                            NDArray label = m.create(ys, new Shape(n, 1));
                            dev.dualign.model.Gradients.backward(trainer, net,
                                    () -> l2.evaluate(new NDList(label), new NDList(trainer.forward(new NDList(in)).head())),
                                    "head training", e + 1);
                            trainer.step();
                        }
                    }
                }
            }
            List<Parameter> p = net.getParameters().values();
            return new Head(encoder, encoderVersion, mean, scale, p.get(0).getArray().toFloatArray(), p.get(1).getArray().toFloatArray(),
                    p.get(2).getArray().toFloatArray(), p.get(3).getArray().toFloatArray()[0]);
        }
    }

    @Override
    public void close() {
        // the encoder is the set's
    }
}
