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
 * ones ({@link ImportedScorer}) with their own, heads ({@link HeadScorer}) with the encoder version
 * they were trained on, loaded once and run once per batch for all of them. One per Flink subtask.
 */
public final class ScorerSet implements AutoCloseable {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ScorerSet.class);
    private final WordTokenizer tokenizer;
    private final Map<String, Scorer> scorers;
    private final Map<String, Long> versions;
    private final Map<String, SentenceEncoder> encoders;

    private ScorerSet(WordTokenizer tokenizer, Map<String, Scorer> scorers, Map<String, Long> versions,
            Map<String, SentenceEncoder> encoders) {
        this.tokenizer = tokenizer;
        this.scorers = scorers;
        this.versions = versions;
        this.encoders = encoders;
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
        Map<String, Long> encoders = new LinkedHashMap<>();
        for (String n : names) {
            long v = registry.latest(n).get();
            out.put(n, v);
            Map<String, String> info = registry.manifest(n, v).info();
            if (HeadScorer.KIND.equals(info.get("kind"))) {
                // a head fits only the encoder version it was trained on: pin that one, not the newest
                Long e = Long.valueOf(info.get("encoderVersion"));
                Long other = encoders.putIfAbsent(info.get("encoder"), e);
                if (other != null && !other.equals(e)) {
                    throw new IllegalArgumentException("the scorers " + names + " were trained on versions " + other + " and " + e
                            + " of '" + info.get("encoder") + "': one set runs one encoder; publish their heads again on one version");
                }
            } else {
                builtIn |= !imported(registry, n, v);
            }
        }
        if (builtIn) {
            out.put(ModelNames.TOKENIZER, registry.latest(ModelNames.TOKENIZER).get());
        }
        out.putAll(encoders);
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
            Map<String, String> info = registry.manifest(n, registry.latest(n).get()).info();
            if (HeadScorer.KIND.equals(info.get("kind"))) {
                long e = Long.parseLong(info.get("encoderVersion"));
                if (!registry.versions(info.get("encoder")).contains(e)) {
                    throw new IllegalArgumentException("scorer '" + n + "' reads version " + e + " of the encoder '" + info.get("encoder")
                            + "', which is not in the registry " + registry.root() + ": run dualign bootstrap --scorers minilm");
                }
                continue;
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
        Map<String, SentenceEncoder> encoders = new LinkedHashMap<>();
        try {
            List<String> names = new ArrayList<>(List.of(ModelNames.REWARD));
            names.addAll(utilities);
            for (String n : names) {
                long v = version(registry, pinned, n);
                java.nio.file.Path dir = registry.open(n, v);
                versions.put(n, v);
                if (ImportedScorer.isImported(dir)) {
                    scorers.put(n, ImportedScorer.load(dir, n, device));
                } else if (HeadScorer.isHead(dir)) {
                    HeadScorer.Head head = HeadScorer.read(dir);
                    long ev = version(registry, pinned, head.encoder());
                    if (ev != head.encoderVersion()) {
                        throw new IllegalArgumentException("scorer '" + n + "' version " + v + " was trained on version "
                                + head.encoderVersion() + " of '" + head.encoder() + "', but version " + ev + " was pinned");
                    }
                    SentenceEncoder enc = encoders.get(head.encoder());
                    if (enc == null) {
                        enc = SentenceEncoder.load(registry.open(head.encoder(), ev), device);
                        encoders.put(head.encoder(), enc);
                        versions.put(head.encoder(), ev);
                        LOG.info("encoder {} v{}: {} on {}, shared by its heads", head.encoder(), ev, enc.spec().modelFile(), enc.device());
                    }
                    scorers.put(n, new HeadScorer(n, head, enc));
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
            encoders.values().forEach(SentenceEncoder::close);
            if (tok != null) {
                tok.close();
            }
            throw e;
        }
        return new ScorerSet(tok, scorers, java.util.Collections.unmodifiableMap(versions), encoders);
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
     * Scores as {@link #score(List)}, but every model call has a shape that depends on each pair
     * alone ({@link #score(List, int, boolean)} with length buckets). A float32 forward pass gives a
     * row's score down to the last bit only for a given shape: with varying shapes the same response
     * scored in different company differed in 9 of 96 rows (measured), with a fixed shape per
     * response in none, whatever the company and the row's position. So a stream job that replays
     * after a failure, with batches cut at other moments, reproduces its scores and λ exactly.
     */
    public Map<String, double[]> score(List<Scorer.PromptResponse> batch, int rows) {
        return score(batch, rows, true);
    }

    /**
     * Scores in calls of a fixed shape per pair (decisions 5 and 32): the word-model scorers in chunks
     * of {@code rows} padded with empty pairs; transformers (imported ones, and the encoder every head
     * shares, run once) by the pair's length bucket, or with {@code buckets} off padded to their
     * maximum length in calls of {@code rows}.
     */
    public Map<String, double[]> score(List<Scorer.PromptResponse> batch, int rows, boolean buckets) {
        if (rows <= 0) {
            throw new IllegalArgumentException("rows must be ≥ 1, got " + rows);
        }
        Map<String, double[]> out = new LinkedHashMap<>();
        Map<SentenceEncoder, float[][]> features = new java.util.IdentityHashMap<>();
        List<String> shared = new ArrayList<>();
        for (Map.Entry<String, Scorer> e : scorers.entrySet()) {
            if (e.getValue() instanceof HeadScorer h) {
                out.put(e.getKey(), h.score(features.computeIfAbsent(h.encoder(), enc -> enc.features(batch, rows, buckets))));
            } else if (tokenizer != null && e.getValue() instanceof TrainedScorer t && t.tokenizer() == tokenizer) {
                shared.add(e.getKey());
                out.put(e.getKey(), new double[batch.size()]);
            } else {
                out.put(e.getKey(), e.getValue().score(batch, rows, buckets));
            }
        }
        if (!shared.isEmpty()) { // the word models share one tokenizer: tokenize each chunk once
            for (int from = 0; from < batch.size(); from += rows) {
                int n = Math.min(rows, batch.size() - from);
                List<Scorer.PromptResponse> chunk = new ArrayList<>(rows);
                chunk.addAll(batch.subList(from, from + n));
                while (chunk.size() < rows) {
                    chunk.add(EMPTY);
                }
                TrainedScorer.Tokenized ids = TrainedScorer.tokenize(tokenizer, chunk,
                        ((TrainedScorer) scorers.get(shared.get(0))).maxTokens());
                for (String name : shared) {
                    System.arraycopy(((TrainedScorer) scorers.get(name)).score(ids), 0, out.get(name), from, n);
                }
            }
        }
        return out;
    }

    private static final Scorer.PromptResponse EMPTY = new Scorer.PromptResponse("", "");

    /** Scores of each pair at the batch's own shape: name → one value per pair (reward first, then the utilities). */
    public Map<String, double[]> score(List<Scorer.PromptResponse> batch) {
        Map<String, double[]> out = new LinkedHashMap<>();
        TrainedScorer.Tokenized ids = null; // the scorers share one tokenizer: tokenize the batch once
        Map<SentenceEncoder, float[][]> features = new java.util.IdentityHashMap<>();
        for (Map.Entry<String, Scorer> e : scorers.entrySet()) {
            if (e.getValue() instanceof HeadScorer h) {
                // buckets: the features the heads were trained on (padding a quantized encoder changes them, decision 31)
                out.put(e.getKey(), h.score(features.computeIfAbsent(h.encoder(), enc -> enc.features(batch, 1, true))));
            } else if (tokenizer != null && e.getValue() instanceof TrainedScorer t && t.tokenizer() == tokenizer) {
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

    /** The scorers, by name (reward first). */
    public Map<String, Scorer> scorers() {
        return java.util.Collections.unmodifiableMap(scorers);
    }

    @Override
    public void close() {
        scorers.values().forEach(Scorer::close);
        encoders.values().forEach(SentenceEncoder::close);
        if (tokenizer != null) {
            tokenizer.close();
        }
    }
}
