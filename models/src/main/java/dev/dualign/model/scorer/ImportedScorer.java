package dev.dualign.model.scorer;

import ai.djl.Device;
import ai.djl.MalformedModelException;
import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ModelNotFoundException;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.TranslateException;
import ai.djl.util.PairList;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dualign.model.NoGrad;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A scorer a team brings: a TorchScript model run by DJL's PyTorch engine or an ONNX model run by
 * DJL's OnnxRuntime engine (the format recorded in its spec picks the engine, decision 30), with any
 * Hugging Face {@code tokenizer.json}, published by {@code dualign registry import scorer}. The
 * prompt and the response are encoded as a pair (the tokenizer's own template: [CLS] prompt [SEP]
 * response [SEP] for BERT), truncated longest-first to {@link Spec#maxLength()}, and run in calls
 * whose shape depends on the pair alone (its length bucket, {@link LengthBuckets}), so a response
 * scores the same in any company (see {@link ScorerSet#score(List, int)}). The score is one output column of the model, raw or through a
 * sigmoid or a softmax.
 */
public final class ImportedScorer implements Scorer {
    /** The file beside the model that says how to run it; its presence marks an imported scorer. */
    public static final String SPEC_FILE = "imported-scorer.json";
    public static final String TOKENIZER_FILE = "tokenizer.json";
    /** The manifest's {@code info.kind} of an imported scorer version. */
    public static final String KIND = "imported-scorer";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** {@link Spec#format()} of a TorchScript model, run by DJL's PyTorch engine. */
    public static final String TORCHSCRIPT = "torchscript";
    /** {@link Spec#format()} of an ONNX model, run by DJL's OnnxRuntime engine when its plugin folder is on the class path. */
    public static final String ONNX = "onnx";
    /** DJL's name of the engine that runs ONNX models. */
    public static final String ONNX_ENGINE = "OnnxRuntime";
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ImportedScorer.class);

    /** The model inputs the tokenizer can fill, by the names Hugging Face models use. */
    public static final List<String> KNOWN_INPUTS = List.of("input_ids", "attention_mask", "token_type_ids");

    /**
     * How to run an imported model.
     *
     * @param format {@code torchscript} or {@code onnx}: which DJL engine runs the model
     * @param modelFile the model's file name in the version's directory
     * @param inputs the model's inputs in order, each one of {@link #KNOWN_INPUTS}, int64 [batch, maxLength]
     * @param output the column of a [batch, classes] output that is the score (ignored for a [batch] or [batch, 1] output)
     * @param transform {@code none} (the raw value, e.g. a reward model's logit), {@code sigmoid} or
     *     {@code softmax} (the probability of the output column)
     * @param maxLength tokens per pair, special tokens included; longer pairs are truncated
     * @param label the output column's label when it was chosen by label (or null)
     */
    public record Spec(String format, String modelFile, List<String> inputs, int output, String transform, int maxLength,
            String label) {
        public Spec {
            if (!format.equals(TORCHSCRIPT) && !format.equals(ONNX)) {
                throw new IllegalArgumentException("model format must be torchscript or onnx, got " + format);
            }
            if (inputs.isEmpty() || !KNOWN_INPUTS.containsAll(inputs) || inputs.stream().distinct().count() != inputs.size()) {
                throw new IllegalArgumentException("inputs must be distinct names among " + KNOWN_INPUTS + ", got " + inputs);
            }
            if (!inputs.get(0).equals("input_ids")) {
                throw new IllegalArgumentException("the first input must be input_ids, got " + inputs);
            }
            if (output < 0) {
                throw new IllegalArgumentException("output index must be ≥ 0, got " + output);
            }
            if (!List.of("none", "sigmoid", "softmax").contains(transform)) {
                throw new IllegalArgumentException("transform must be none, sigmoid or softmax, got " + transform);
            }
            if (maxLength < 4) {
                throw new IllegalArgumentException("max length must be ≥ 4 tokens, got " + maxLength);
            }
        }
    }

    private final String name;
    private final Spec spec;
    private final HuggingFaceTokenizer tokenizer;
    private final ZooModel<NDList, NDList> model;
    private final Predictor<NDList, NDList> predictor;

    /** The format of a model file, by its name: {@code .onnx} is ONNX, anything else TorchScript. */
    public static String formatOf(Path modelFile) {
        return modelFile.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".onnx") ? ONNX : TORCHSCRIPT;
    }

    /** The DJL engine that runs a format. */
    static String engineOf(String format) {
        return format.equals(ONNX) ? ONNX_ENGINE : "PyTorch";
    }

    /**
     * Whether DJL can run ONNX models here: the OnnxRuntime engine's jars (a 137 MB plugin, decision 30)
     * are on the class path. The launcher always has them; a Flink cluster has them when its {@code lib/}
     * has {@code streaming/target/flink-lib-onnx/}.
     */
    public static boolean onnxAvailable() {
        try {
            return ai.djl.engine.Engine.hasEngine(ONNX_ENGINE);
        } catch (RuntimeException | LinkageError e) {
            return false;
        }
    }

    /** Why an ONNX scorer cannot load here, and what to do about it. */
    public static String onnxMissing() {
        return "DJL's OnnxRuntime engine is not on the class path: bin/dualign puts app/target/engines/onnxruntime/ on it "
                + "(rebuild with bin/dualign if that folder is missing); on a Flink cluster copy streaming/target/flink-lib-onnx/*.jar "
                + "(built by bin/dualign job --jar) into Flink's lib/ beside flink-lib/ and restart it (decision 30)";
    }

    /**
     * The device an engine runs on for {@code requested}: a GPU only when that engine sees one. The
     * onnxruntime jar the build ships is the CPU build, so on a GPU machine a TorchScript scorer runs on
     * the GPU and an ONNX one on the CPU unless {@code onnxruntime_gpu} replaces it (logged either way).
     */
    static Device deviceFor(String engine, Device requested) {
        if (!requested.isGpu()) {
            return requested;
        }
        int gpus = ai.djl.engine.Engine.getEngine(engine).getGpuCount();
        if (gpus > 0) {
            return requested;
        }
        LOG.warn("DJL's {} engine sees no GPU; its scorers run on the CPU", engine);
        return Device.cpu();
    }

    private ImportedScorer(String name, Spec spec, HuggingFaceTokenizer tokenizer, ZooModel<NDList, NDList> model) {
        this.name = name;
        this.spec = spec;
        this.tokenizer = tokenizer;
        this.model = model;
        this.predictor = model.newPredictor();
    }

    /** Whether {@code dir} holds an imported scorer (rather than a built-in one). */
    public static boolean isImported(Path dir) {
        return Files.isRegularFile(dir.resolve(SPEC_FILE));
    }

    public static Spec readSpec(Path dir) {
        try {
            return JSON.readValue(dir.resolve(SPEC_FILE).toFile(), Spec.class);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + dir.resolve(SPEC_FILE) + ": " + e.getMessage(), e);
        }
    }

    public static void writeSpec(Path dir, Spec spec) throws IOException {
        JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve(SPEC_FILE).toFile(), spec);
    }

    /** Loads a published scorer version: {@code scorer.json}, the model file and {@code tokenizer.json}. */
    public static ImportedScorer load(Path dir, String name, Device device) {
        Spec spec = readSpec(dir);
        return load(name, spec, modelFileIn(dir, spec), dir.resolve(TOKENIZER_FILE), device);
    }

    /**
     * The spec's model file, which must be a file of the version's own directory: the registry
     * checksums that directory's files, so a path leading out of it would load an unchecked file.
     */
    static Path modelFileIn(Path dir, Spec spec) {
        String m = spec.modelFile();
        Path p = m == null ? null : dir.resolve(m).normalize();
        if (p == null || m.isBlank() || !dir.normalize().equals(p.getParent())) {
            throw new IllegalArgumentException(dir.resolve(SPEC_FILE) + ": modelFile '" + m
                    + "' is not a file of the version's directory; refusing to load it");
        }
        return p;
    }

    /** Loads a scorer from its files wherever they are (the importer checks them before publishing). */
    public static ImportedScorer load(String name, Spec spec, Path modelFile, Path tokenizerFile, Device device) {
        HuggingFaceTokenizer tok;
        try {
            tok = HuggingFaceTokenizer.builder().optTokenizerPath(tokenizerFile).optAddSpecialTokens(true).optTruncation(true)
                    .optPadToMaxLength().optMaxLength(spec.maxLength()).build();
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("cannot load the tokenizer " + tokenizerFile + ": " + e.getMessage(), e);
        }
        boolean onnx = spec.format().equals(ONNX);
        String what = onnx ? "ONNX" : "TorchScript";
        if (onnx && !onnxAvailable()) {
            tok.close();
            throw new IllegalArgumentException("cannot load the ONNX model " + modelFile + ": " + onnxMissing());
        }
        try {
            String engine = engineOf(spec.format());
            var builder = Criteria.builder().setTypes(NDList.class, NDList.class).optModelPath(modelFile.toAbsolutePath())
                    .optModelName(stem(modelFile)).optEngine(engine).optDevice(deviceFor(engine, device));
            if (!onnx) {
                builder.optOption("mapLocation", "true");
            } else {
                // as many threads as the PyTorch scorers get (bin/dualign: 1), unless set apart; ORT's default is every core
                String threads = System.getProperty("ai.djl.onnxruntime.num_threads", System.getProperty("ai.djl.pytorch.num_threads"));
                if (threads != null) {
                    builder.optOption("intraOpNumThreads", threads);
                }
            }
            ImportedScorer s = new ImportedScorer(name, spec, tok, builder.build().loadModel());
            LOG.info("scorer {}: {} model {} on {} ({} engine)", name, what, modelFile.getFileName(), s.device(), engine);
            return s;
        } catch (IOException | ModelNotFoundException | MalformedModelException | RuntimeException e) {
            tok.close();
            throw new IllegalArgumentException("cannot load the " + what + " model " + modelFile + ": " + e.getMessage(), e);
        }
    }

    private static String stem(Path file) {
        String f = file.getFileName().toString();
        int dot = f.lastIndexOf('.');
        return dot > 0 ? f.substring(0, dot) : f;
    }

    @Override
    public String name() {
        return name;
    }

    public Spec spec() {
        return spec;
    }

    /** Where the model runs: what the job logs for each scorer. */
    public Device device() {
        return model.getNDManager().getDevice();
    }

    /** The tokenizer's encoding of each pair (for tests and the importer's report). */
    public Encoding[] encode(List<PromptResponse> batch) {
        PairList<String, String> pairs = new PairList<>(batch.size());
        for (PromptResponse p : batch) {
            String response = p.responseText();
            String context = p.prompt();
            if (!p.singlePrompt()) {
                // the conversation, cut from its oldest turn so that it and the response fit (3 special tokens of a pair)
                int budget = spec.maxLength() - 3 - tokens(response);
                context = p.context(this::tokens, Math.max(1, budget));
            }
            pairs.add(context, response);
        }
        return tokenizer.batchEncode(pairs);
    }

    /** Tokens of {@code text} alone, without special tokens. */
    private int tokens(String text) {
        int n = 0;
        for (long m : tokenizer.encode(text, false, false).getAttentionMask()) {
            n += (int) m; // the tokenizer pads to the model's length: count the real tokens
        }
        return n;
    }

    @Override
    public double[] score(List<PromptResponse> batch) {
        return score(batch, Math.max(1, batch.size()), false); // one call at the maximum length
    }

    /**
     * Scores in calls whose shape depends on each pair alone: by length bucket ({@code buckets}), or
     * all at the maximum length in calls of {@code rows} (see {@link LengthBuckets#plan}).
     */
    @Override
    public double[] score(List<PromptResponse> batch, int rows, boolean buckets) {
        double[] s = new double[batch.size()];
        run(batch, rows, buckets, (call, mask, out, shape) -> {
            double[] col = column(out, shape, call.rows().length);
            for (int k = 0; k < call.rows().length; k++) {
                if (call.rows()[k] >= 0) {
                    s[call.rows()[k]] = col[k];
                }
            }
        });
        return s;
    }

    /** The output of one call: row k is pair {@code call.rows()[k]} (or padding), {@code mask} its attention mask. */
    interface CallOutput {
        void accept(LengthBuckets.Call call, long[] mask, float[] out, Shape shape);
    }

    /** Runs the model on {@code batch} in the calls {@link LengthBuckets#plan} gives, handing each output to {@code sink}. */
    void run(List<PromptResponse> batch, int rows, boolean buckets, CallOutput sink) {
        if (batch.isEmpty()) {
            return;
        }
        List<PromptResponse> withPad = new java.util.ArrayList<>(batch);
        withPad.add(new PromptResponse("", "")); // the padding row
        Encoding[] enc = encode(withPad);
        int max = spec.maxLength();
        int[] tokens = new int[batch.size()];
        for (int i = 0; i < tokens.length; i++) {
            long[] m = enc[i].getAttentionMask();
            if (m.length != max) {
                throw new IllegalStateException("the tokenizer gave " + m.length + " tokens, not the padded " + max);
            }
            int n = 0;
            while (n < max && m[n] == 1) {
                n++;
            }
            tokens[i] = n;
            for (int k = n; k < max; k++) {
                if (m[k] != 0) { // not padded on the right: only the full length keeps every token
                    tokens[i] = max;
                    break;
                }
            }
        }
        for (LengthBuckets.Call call : LengthBuckets.plan(tokens, max, rows, buckets)) {
            int b = call.rows().length;
            int len = call.length();
            // grad mode is PyTorch's alone; OnnxRuntime records nothing
            try (NoGrad g = spec.format().equals(TORCHSCRIPT) ? NoGrad.enter() : null;
                    NDManager m = model.getNDManager().newSubManager()) {
                NDList inputs = new NDList();
                long[] mask = null;
                for (String input : spec.inputs()) {
                    long[] flat = new long[b * len];
                    for (int i = 0; i < b; i++) {
                        Encoding e = enc[call.rows()[i] >= 0 ? call.rows()[i] : batch.size()];
                        long[] row = switch (input) {
                            case "input_ids" -> e.getIds();
                            case "attention_mask" -> e.getAttentionMask();
                            default -> e.getTypeIds();
                        };
                        System.arraycopy(row, 0, flat, i * len, len); // right-padded: the first len tokens are the row at len
                    }
                    if (input.equals("attention_mask")) {
                        mask = flat;
                    }
                    NDArray x = m.create(flat, new Shape(b, len));
                    x.setName(input); // ONNX feeds inputs by name
                    inputs.add(x);
                }
                if (mask == null) {
                    mask = new long[b * len];
                    for (int i = 0; i < b; i++) {
                        long[] row = enc[call.rows()[i] >= 0 ? call.rows()[i] : batch.size()].getAttentionMask();
                        System.arraycopy(row, 0, mask, i * len, len);
                    }
                }
                NDList out = predictor.predict(inputs);
                NDArray o = out.get(0).getDataType() == DataType.FLOAT32 ? out.get(0) : out.get(0).toType(DataType.FLOAT32, false);
                sink.accept(call, mask, o.toFloatArray(), o.getShape());
            } catch (TranslateException | ai.djl.engine.EngineException | IllegalArgumentException | UnsupportedOperationException e) {
                // the engine refused the inputs: the importer tries the next input set, the job fails naming the scorer
                throw new IllegalStateException("scorer " + name + " failed: " + e.getMessage(), e);
            }
        }
    }

    /** The score column of a [b] or [b, c] output, transformed. */
    private double[] column(float[] values, Shape shape, int b) {
        long classes = shape.dimension() == 1 ? 1 : shape.get(1);
        if (shape.get(0) != b || shape.dimension() > 2) {
            throw new IllegalStateException("scorer " + name + " returned shape " + shape + " for a batch of " + b
                    + "; expected [" + b + "] or [" + b + ", classes]");
        }
        if (classes == 1 && spec.transform().equals("softmax")) {
            throw new IllegalStateException("scorer " + name + " has one output: its softmax is always 1; use --transform sigmoid");
        }
        if (classes > 1 && spec.output() >= classes) {
            throw new IllegalStateException("scorer " + name + " has " + classes + " outputs; output " + spec.output() + " does not exist");
        }
        int col = classes > 1 ? spec.output() : 0;
        double[] s = new double[b];
        for (int i = 0; i < b; i++) {
            double x = values[(int) (i * classes) + col];
            s[i] = switch (spec.transform()) {
                case "sigmoid" -> 1 / (1 + Math.exp(-x));
                case "softmax" -> softmax(values, (int) (i * classes), (int) classes, col);
                default -> x;
            };
        }
        return s;
    }

    private static double softmax(float[] v, int off, int n, int col) {
        double max = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < n; k++) {
            max = Math.max(max, v[off + k]);
        }
        double z = 0;
        for (int k = 0; k < n; k++) {
            z += Math.exp(v[off + k] - max);
        }
        return Math.exp(v[off + col] - max) / z;
    }

    @Override
    public void close() {
        predictor.close();
        model.close();
        tokenizer.close();
    }
}
