package dev.dualign.model.scorer;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dualign.model.registry.Manifest;
import dev.dualign.model.registry.ModelRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Publishes a team's own scorer, TorchScript ({@code .pt}) or ONNX ({@code .onnx}), as a registry
 * version after checking that it runs: the model is loaded with its tokenizer exactly as the job will
 * load it (by the engine its format names) and scores a few pairs, and a model that fails to load,
 * rejects its inputs, returns the wrong shape or a non-finite score, or a tokenizer with ids beyond
 * the model's vocabulary, is refused with the reason and nothing is published.
 */
public final class ScorerImport {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Input sets tried, in order, when none is given: BERT-style first, then RoBERTa-style, then ids alone. */
    static final List<List<String>> INPUT_GUESSES = List.of(List.of("input_ids", "attention_mask", "token_type_ids"),
            List.of("input_ids", "attention_mask"), List.of("input_ids"));
    static final int DEFAULT_MAX_LENGTH = 512;
    /** Pairs every import scores before publishing. */
    public static final List<Scorer.PromptResponse> SMOKE = List.of(
            new Scorer.PromptResponse("how do i reset my password", "open settings and choose reset password."),
            new Scorer.PromptResponse("I feel sad today", "I am sorry. Would talking to a friend help?"),
            new Scorer.PromptResponse("", ""));

    /**
     * What to import.
     *
     * @param name the registry name: {@code reward} or a constraint's utility
     * @param model the TorchScript file, or an ONNX file ({@code .onnx})
     * @param tokenizer a Hugging Face {@code tokenizer.json}
     * @param config a Hugging Face {@code config.json} (its {@code id2label} and
     *     {@code max_position_embeddings}), or null: then {@code config.json} beside the model, if any
     * @param output the output column, or null
     * @param label the output column by its label in {@code id2label}, or null
     * @param maxLength tokens per pair, or null: the config's {@code max_position_embeddings}, else 512
     * @param inputs the model's inputs, or null to find them by trying BERT-style, RoBERTa-style, ids alone
     * @param transform none, sigmoid or softmax
     */
    public record Request(String name, Path model, Path tokenizer, Path config, Integer output, String label, Integer maxLength,
            List<String> inputs, String transform) {}

    /** The published version, the spec it runs with, and the smoke pairs' scores. */
    public record Result(Manifest manifest, ImportedScorer.Spec spec, double[] smokeScores) {}

    private ScorerImport() {}

    public static Result publish(ModelRegistry registry, Request r, Device device) {
        require(Files.isRegularFile(r.model()), "--model", "no such file: " + r.model());
        require(Files.isRegularFile(r.tokenizer()), "--tokenizer", "no such file: " + r.tokenizer());
        require(r.output() == null || r.label() == null, "--output", "give --output or --label, not both");
        String format = ImportedScorer.formatOf(r.model());
        require(!format.equals(ImportedScorer.ONNX) || ImportedScorer.onnxAvailable(), "--model", ImportedScorer.onnxMissing());
        Path configFile = r.config() != null ? r.config() : r.model().resolveSibling("config.json");
        JsonNode config = null;
        if (Files.isRegularFile(configFile)) {
            try {
                config = JSON.readTree(configFile.toFile());
            } catch (IOException e) {
                throw new IllegalArgumentException("--config: " + configFile + " is not JSON: " + e.getMessage(), e);
            }
        } else {
            require(r.config() == null, "--config", "no such file: " + r.config());
        }
        checkVocabulary(r.tokenizer(), config, configFile);
        Map<Integer, String> labels = labels(config);
        int output = 0;
        String label = null;
        if (r.label() != null) {
            Integer found = null;
            for (Map.Entry<Integer, String> e : labels.entrySet()) {
                if (e.getValue().equals(r.label())) {
                    found = e.getKey();
                }
            }
            require(found != null, "--label", "no label '" + r.label() + "' in " + (labels.isEmpty() ? "the model's config (no "
                    + configFile + " with id2label)" : "id2label " + labels.values() + " of " + configFile));
            output = found;
            label = r.label();
        } else if (r.output() != null) {
            output = r.output();
            label = labels.get(output);
        }
        int maxLength = r.maxLength() != null ? r.maxLength()
                : config != null && config.path("max_position_embeddings").canConvertToInt()
                        ? Math.min(DEFAULT_MAX_LENGTH, config.get("max_position_embeddings").asInt()) : DEFAULT_MAX_LENGTH;
        String modelFile = format.equals(ImportedScorer.ONNX) ? "model.onnx" : "model.pt";
        List<List<String>> tries = r.inputs() != null ? List.of(r.inputs()) : INPUT_GUESSES;
        List<String> failures = new ArrayList<>();
        for (List<String> inputs : tries) {
            ImportedScorer.Spec spec = new ImportedScorer.Spec(format, modelFile, inputs, output, r.transform(), maxLength, label);
            double[] scores;
            try (ImportedScorer s = ImportedScorer.load(r.name(), spec, r.model(), r.tokenizer(), device)) {
                scores = s.score(SMOKE);
            } catch (IllegalStateException | ai.djl.engine.EngineException e) {
                failures.add(inputs + ": " + firstLine(rootCause(e).getMessage()));
                continue;
            }
            for (double x : scores) {
                if (!Double.isFinite(x)) {
                    throw new IllegalArgumentException("--model: the model scored a test pair " + x + "; nothing was published");
                }
            }
            Map<String, String> info = new LinkedHashMap<>();
            info.put("kind", ImportedScorer.KIND);
            info.put("format", format); // picks the engine that runs it (decision 30)
            info.put("source", r.model().toAbsolutePath().toString());
            // a TorchScript file is code its author wrote (an ONNX file is a graph of standard operators):
            // record what was imported, and by whom
            info.put("sourceSha256", sha256(r.model()));
            info.put("importedBy", System.getProperty("user.name", "unknown"));
            info.put("importedAt", java.time.Instant.now().toString());
            info.put("inputs", String.join(",", inputs));
            info.put("output", Integer.toString(output));
            if (label != null) {
                info.put("label", label);
            }
            info.put("transform", r.transform());
            info.put("maxLength", Integer.toString(maxLength));
            Manifest m = registry.publish(r.name(), null, null, Map.of(), Map.of(), info, dir -> {
                Files.copy(r.model(), dir.resolve(modelFile), StandardCopyOption.COPY_ATTRIBUTES);
                Files.copy(r.tokenizer(), dir.resolve(ImportedScorer.TOKENIZER_FILE), StandardCopyOption.COPY_ATTRIBUTES);
                ImportedScorer.writeSpec(dir, spec);
            });
            return new Result(m, spec, scores);
        }
        throw new IllegalArgumentException("--model: the model did not run on the tokenizer's pairs (" + String.join("; ", failures)
                + ")" + (r.inputs() == null ? "; give its inputs with --inputs" : "") + "; nothing was published");
    }

    private static String sha256(java.nio.file.Path f) {
        try {
            return ModelRegistry.sha256(f);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("--model: cannot read " + f + ": " + e.getMessage(), e);
        }
    }

    /**
     * Refuses a tokenizer that gives ids the model has no embedding for, when the config says the
     * model's {@code vocab_size}: the model would fail (or, on some engines, read past its table) on
     * the first response that uses such a token, which the smoke pairs may not.
     */
    static void checkVocabulary(Path tokenizer, JsonNode config, Path configFile) {
        if (config == null || !config.path("vocab_size").canConvertToInt()) {
            return;
        }
        int vocab = config.get("vocab_size").asInt();
        JsonNode t;
        try {
            t = JSON.readTree(tokenizer.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException("--tokenizer: " + tokenizer + " is not JSON: " + e.getMessage(), e);
        }
        long max = -1;
        JsonNode v = t.path("model").path("vocab");
        if (v.isObject()) { // WordPiece, BPE, WordLevel: token → id
            for (JsonNode id : (Iterable<JsonNode>) v::elements) {
                max = Math.max(max, id.asLong());
            }
        } else if (v.isArray()) { // Unigram: [token, score], the id is the position
            max = v.size() - 1;
        }
        for (JsonNode a : t.path("added_tokens")) {
            max = Math.max(max, a.path("id").asLong());
        }
        require(max < vocab, "--tokenizer", tokenizer + " has token ids up to " + max + ", but the model's vocabulary has "
                + vocab + " entries (vocab_size in " + configFile + "): it is not this model's tokenizer; nothing was published");
    }

    /** {@code id2label} of a Hugging Face config, by index. */
    static Map<Integer, String> labels(JsonNode config) {
        Map<Integer, String> out = new LinkedHashMap<>();
        if (config == null || !config.path("id2label").isObject()) {
            return out;
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = config.get("id2label").fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> e = it.next();
            try {
                out.put(Integer.parseInt(e.getKey()), e.getValue().asText());
            } catch (NumberFormatException ignored) {
                // not an index: not a label we can pick by
            }
        }
        return out;
    }

    /** The engine's own exception under DJL's and ours (their messages repeat its class name). */
    private static Throwable rootCause(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }

    /** The line of an engine's message that says what failed (PyTorch ends with "RuntimeError: …"). */
    private static String firstLine(String s) {
        if (s == null) {
            return "failed";
        }
        String[] lines = s.strip().split("\n");
        String first = lines[0].strip();
        String last = lines[lines.length - 1].strip();
        return lines.length == 1 || first.equals(last) ? first : first + " … " + last;
    }

    private static void require(boolean ok, String option, String why) {
        if (!ok) {
            throw new IllegalArgumentException(option + ": " + why);
        }
    }
}
