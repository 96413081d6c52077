package dev.dualign.model.scorer;

import ai.djl.Device;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.text.WordTokenizer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The reward scorer and one scorer per constraint utility, loaded (checksums verified) from the
 * latest version of each in the registry: built-in ones with the bootstrap's tokenizer, imported
 * ones ({@link ImportedScorer}) with their own. One per Flink subtask.
 */
public final class ScorerSet implements AutoCloseable {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ScorerSet.class);
    private final WordTokenizer tokenizer;
    private final Map<String, Scorer> scorers;
    private final Map<String, Long> versions;

    private ScorerSet(WordTokenizer tokenizer, Map<String, Scorer> scorers, Map<String, Long> versions) {
        this.tokenizer = tokenizer;
        this.scorers = scorers;
        this.versions = versions;
    }

    /** The registry version of each scorer loaded, and of the tokenizer the built-in ones share (if any). */
    public Map<String, Long> versions() {
        return versions;
    }

    /**
     * The latest registry version of the reward scorer, of each utility's and (when a scorer is
     * built-in) of the bootstrap's tokenizer, in that order: what {@link #open(ModelRegistry, List,
     * Device, Map)} loads. A job resolves them once, at submission, so that every subtask and every
     * restart of that run scores with the same models even when a newer one is published meanwhile.
     */
    public static Map<String, Long> pin(ModelRegistry registry, List<String> utilities) {
        check(registry, utilities);
        Map<String, Long> out = new LinkedHashMap<>();
        List<String> names = new ArrayList<>(List.of(ModelNames.REWARD));
        names.addAll(utilities);
        boolean builtIn = false;
        for (String n : names) {
            long v = registry.latest(n).get();
            out.put(n, v);
            builtIn |= !imported(registry, n, v);
        }
        if (builtIn) {
            out.put(ModelNames.TOKENIZER, registry.latest(ModelNames.TOKENIZER).get());
        }
        return java.util.Collections.unmodifiableMap(out);
    }

    /** Fails naming the first utility without a scorer: for start-up checks. */
    public static void check(ModelRegistry registry, List<String> utilities) {
        List<String> names = new ArrayList<>(List.of(ModelNames.REWARD));
        names.addAll(utilities);
        boolean builtIn = false;
        for (String n : names) {
            if (registry.latest(n).isEmpty()) {
                throw new IllegalArgumentException("no model '" + n + "' in the registry " + registry.root()
                        + (utilities.contains(n) ? ": constraint '" + n + "' has no scorer (bootstrap, or dualign registry import scorer)"
                                : ": run dualign bootstrap, or dualign registry import scorer --name reward"));
            }
            builtIn |= !imported(registry, n, registry.latest(n).get());
        }
        if (builtIn && registry.latest(ModelNames.TOKENIZER).isEmpty()) {
            throw new IllegalArgumentException("no model '" + ModelNames.TOKENIZER + "' in the registry " + registry.root()
                    + ": the built-in scorers need the bootstrap's tokenizer; run dualign bootstrap");
        }
    }

    /** Whether a published scorer version was imported ({@code dualign registry import scorer}). */
    public static boolean imported(ModelRegistry registry, String name, long version) {
        return ImportedScorer.KIND.equals(registry.manifest(name, version).info().get("kind"));
    }

    /**
     * The latest version of the reward scorer and of each utility's: built-in ones share the
     * bootstrap's word tokenizer (loaded only when one is built-in), imported ones bring their own.
     */
    public static ScorerSet open(ModelRegistry registry, List<String> utilities, Device device) {
        return open(registry, utilities, device, pin(registry, utilities));
    }

    /**
     * The versions {@code pinned} (by {@link #pin}) of the reward scorer and each utility's; fails
     * naming the model when one is not pinned or no longer in the registry.
     */
    public static ScorerSet open(ModelRegistry registry, List<String> utilities, Device device, Map<String, Long> pinned) {
        WordTokenizer tok = null;
        Map<String, Scorer> scorers = new LinkedHashMap<>();
        Map<String, Long> versions = new LinkedHashMap<>();
        try {
            List<String> names = new ArrayList<>(List.of(ModelNames.REWARD));
            names.addAll(utilities);
            for (String n : names) {
                long v = version(registry, pinned, n);
                java.nio.file.Path dir = registry.open(n, v);
                versions.put(n, v);
                if (ImportedScorer.isImported(dir)) {
                    scorers.put(n, ImportedScorer.load(dir, n, device));
                } else {
                    if (tok == null) {
                        long tv = version(registry, pinned, ModelNames.TOKENIZER);
                        tok = WordTokenizer.load(registry.open(ModelNames.TOKENIZER, tv).resolve("tokenizer.json"));
                        versions.put(ModelNames.TOKENIZER, tv);
                    }
                    scorers.put(n, TrainedScorer.load(dir, tok, device));
                    LOG.info("scorer {}: built-in model on {} (PyTorch engine)", n, device); // an imported one logs its own
                }
            }
        } catch (RuntimeException e) {
            scorers.values().forEach(Scorer::close);
            if (tok != null) {
                tok.close();
            }
            throw e;
        }
        return new ScorerSet(tok, scorers, java.util.Collections.unmodifiableMap(versions));
    }

    private static long version(ModelRegistry registry, Map<String, Long> pinned, String name) {
        Long v = pinned.get(name);
        if (v == null) {
            throw new IllegalArgumentException("no version of '" + name + "' was pinned for this run (pinned: " + pinned + ")");
        }
        if (!registry.versions(name).contains(v)) {
            throw new IllegalArgumentException("'" + name + "' version " + v + ", which this run scores with, is no longer in the registry "
                    + registry.root() + ": it was pruned or deleted; start the job afresh to score with the newest one");
        }
        return v;
    }

    /**
     * Scores as {@link #score(List)}, but every scorer call has exactly {@code rows} rows (the
     * batch is cut into chunks of {@code rows} and the last one padded with empty pairs). A float32
     * forward pass gives a row's score down to the last bit only for a given batch shape: with
     * varying shapes the same response scored in different company differed in 9 of 96 rows
     * (measured), with a fixed shape in none, whatever the company and the row's position. So a
     * stream job that replays after a failure, with batches cut at other moments, reproduces its
     * scores and λ exactly.
     */
    public Map<String, double[]> score(List<Scorer.PromptResponse> batch, int rows) {
        if (rows <= 0) {
            throw new IllegalArgumentException("rows must be ≥ 1, got " + rows);
        }
        Map<String, double[]> out = new LinkedHashMap<>();
        for (String name : scorers.keySet()) {
            out.put(name, new double[batch.size()]);
        }
        for (int from = 0; from < batch.size(); from += rows) {
            int n = Math.min(rows, batch.size() - from);
            List<Scorer.PromptResponse> chunk = new ArrayList<>(rows);
            chunk.addAll(batch.subList(from, from + n));
            while (chunk.size() < rows) {
                chunk.add(EMPTY);
            }
            Map<String, double[]> scored = score(chunk);
            for (Map.Entry<String, double[]> e : scored.entrySet()) {
                System.arraycopy(e.getValue(), 0, out.get(e.getKey()), from, n);
            }
        }
        return out;
    }

    private static final Scorer.PromptResponse EMPTY = new Scorer.PromptResponse("", "");

    /** Scores of each pair: name → one value per pair (reward first, then the utilities). */
    public Map<String, double[]> score(List<Scorer.PromptResponse> batch) {
        Map<String, double[]> out = new LinkedHashMap<>();
        TrainedScorer.Tokenized ids = null; // the scorers share one tokenizer: tokenize the batch once
        for (Map.Entry<String, Scorer> e : scorers.entrySet()) {
            if (tokenizer != null && e.getValue() instanceof TrainedScorer t && t.tokenizer() == tokenizer) {
                if (ids == null) {
                    ids = TrainedScorer.tokenize(tokenizer, batch, t.maxTokens());
                }
                out.put(e.getKey(), t.score(ids));
            } else {
                out.put(e.getKey(), e.getValue().score(batch));
            }
        }
        return out;
    }

    @Override
    public void close() {
        scorers.values().forEach(Scorer::close);
        if (tokenizer != null) {
            tokenizer.close();
        }
    }
}
