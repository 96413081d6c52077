package dev.dualign.model.scorer;

import ai.djl.Device;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A transformer encoder (e.g. all-MiniLM-L6-v2 as ONNX) that turns a (prompt, response) pair into
 * features once, for every {@link HeadScorer} trained on it: the encoder is the cost, the heads are a
 * few thousand multiply-adds (decision 31). Runs in length-bucket calls like {@link ImportedScorer},
 * and pools in Java per row, so a pair's features depend on the pair alone (decision 32).
 */
public final class SentenceEncoder implements AutoCloseable {
    /** The file that says how to run the encoder (an {@link ImportedScorer.Spec}); marks an encoder version. */
    public static final String SPEC_FILE = "encoder.json";
    /** The manifest's {@code info.kind} of an encoder version. */
    public static final String KIND = "encoder";

    private final ImportedScorer model;
    private final int dim;

    private SentenceEncoder(ImportedScorer model, int dim) {
        this.model = model;
        this.dim = dim;
    }

    /** Loads a published encoder version: {@code encoder.json}, its model file and {@code tokenizer.json}. */
    public static SentenceEncoder load(Path dir, Device device) {
        ImportedScorer.Spec spec;
        try {
            spec = new com.fasterxml.jackson.databind.ObjectMapper().readValue(dir.resolve(SPEC_FILE).toFile(), ImportedScorer.Spec.class);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + dir.resolve(SPEC_FILE) + ": " + e.getMessage(), e);
        }
        return load(spec, ImportedScorer.modelFileIn(dir, spec), dir.resolve(ImportedScorer.TOKENIZER_FILE), device);
    }

    /** Loads an encoder from its files wherever they are (the bootstrap, before it publishes). */
    public static SentenceEncoder load(ImportedScorer.Spec spec, Path modelFile, Path tokenizerFile, Device device) {
        ImportedScorer m = ImportedScorer.load(KIND, spec, modelFile, tokenizerFile, device);
        try {
            float[][] probe = new SentenceEncoder(m, -1).run(List.of(new Scorer.PromptResponse("a", "b")), 1, false);
            return new SentenceEncoder(m, probe[0].length);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /** Writes an encoder spec beside its model file. */
    public static void writeSpec(Path dir, ImportedScorer.Spec spec) throws IOException {
        new com.fasterxml.jackson.databind.ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(dir.resolve(SPEC_FILE).toFile(), spec);
    }

    /** Whether {@code dir} holds an encoder version. */
    public static boolean isEncoder(Path dir) {
        return Files.isRegularFile(dir.resolve(SPEC_FILE));
    }

    /** Features per pair: 2 × the hidden width (mean and max of the hidden states over the pair's tokens). */
    public int dim() {
        return dim;
    }

    public ImportedScorer.Spec spec() {
        return model.spec();
    }

    public String device() {
        return model.device().toString();
    }

    /**
     * The features of each pair, each from a call of its own at its length bucket (or at the maximum
     * length when {@code buckets} is off); {@code rows} is ignored (see the note in the body).
     */
    public float[][] features(List<Scorer.PromptResponse> batch, int rows, boolean buckets) {
        return run(batch, rows, buckets);
    }

    private float[][] run(List<Scorer.PromptResponse> batch, int rows, boolean buckets) {
        float[][] out = new float[batch.size()][];
        // one row per call: a dynamically quantized encoder (MiniLM's int8 ONNX) scales its activations by
        // the min and max of the whole call's input, so neighbours in a call would change a row's features
        model.run(batch, 1, buckets, (call, mask, hidden, shape) -> pool(call, mask, hidden, shape, out));
        return out;
    }

    /** Mean and max of each real row's hidden states over its attended tokens, in a fixed order (double sums). */
    private static void pool(LengthBuckets.Call call, long[] mask, float[] hidden, Shape shape, float[][] out) {
        if (shape.dimension() != 3) {
            throw new IllegalStateException("an encoder must output [batch, tokens, hidden], got " + shape);
        }
        int len = (int) shape.get(1);
        int h = (int) shape.get(2);
        for (int k = 0; k < call.rows().length; k++) {
            int row = call.rows()[k];
            if (row < 0) {
                continue;
            }
            double[] sum = new double[h];
            float[] max = new float[h];
            java.util.Arrays.fill(max, Float.NEGATIVE_INFINITY);
            int n = 0;
            for (int t = 0; t < len; t++) {
                if (mask[k * len + t] == 0) {
                    continue;
                }
                n++;
                int at = (k * len + t) * h;
                for (int j = 0; j < h; j++) {
                    float v = hidden[at + j];
                    sum[j] += v;
                    max[j] = Math.max(max[j], v);
                }
            }
            float[] f = new float[2 * h];
            for (int j = 0; j < h; j++) {
                f[j] = (float) (sum[j] / Math.max(1, n));
                f[h + j] = n == 0 ? 0 : max[j];
            }
            out[row] = f;
        }
    }

    @Override
    public void close() {
        model.close();
    }
}
