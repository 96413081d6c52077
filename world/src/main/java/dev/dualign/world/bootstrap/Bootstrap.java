package dev.dualign.world.bootstrap;

import ai.djl.Device;
import dev.dualign.model.lm.Generation;
import dev.dualign.model.lm.LmConfig;
import dev.dualign.model.lm.LmTraining;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.lm.Sampling;
import dev.dualign.model.registry.Manifest;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.model.scorer.ScorerConfig;
import dev.dualign.model.scorer.TrainedScorer;
import dev.dualign.model.text.WordTokenizer;
import dev.dualign.world.Intent;
import dev.dualign.world.Oracle;
import dev.dualign.world.World;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Builds everything the loop starts from, deterministically from a seed: the reference corpus,
 * the tokenizer, the reference policy (trained on the corpus) and one scorer each for the reward
 * and the utilities (trained on oracle labels), published as version 0 of each in the registry.
 * A registry that already holds them for the same seed and size is recognised, not retrained.
 */
public final class Bootstrap {
    public static final String CORPUS = "corpus";
    public static final List<String> SCORERS = List.of(Oracle.REWARD, Oracle.HARMLESS, Oracle.HUMOUR);
    public static final List<String> ALL = List.of(ModelNames.TOKENIZER, CORPUS, ModelNames.POLICY, Oracle.REWARD, Oracle.HARMLESS, Oracle.HUMOUR);

    /** Longest prompt plus response the policy is built for. */
    static final int MAX_LEN = 60;
    static final int MAX_RESPONSE_TOKENS = 40;

    /**
     * @param registry where to publish
     * @param seed everything random derives from it
     * @param size tiny or small
     * @param device where DJL runs
     * @param force retrain even if the registry holds a bootstrap
     */
    public record Options(Path registry, long seed, ModelSize size, Device device, boolean force) {}

    /**
     * The final table.
     *
     * @param reused whether an existing bootstrap was recognised (nothing trained)
     * @param manifests the version-0 manifest of each model, by name
     * @param seconds time taken
     */
    public record Result(boolean reused, Map<String, Manifest> manifests, double seconds) {}

    private Bootstrap() {}

    /** Whether {@code registry} holds a complete bootstrap (of any seed and size). */
    public static boolean isBootstrapped(ModelRegistry registry) {
        return ALL.stream().allMatch(n -> registry.versions(n).contains(0L));
    }

    public static Result run(Options o, Progress progress) {
        long t0 = System.nanoTime();
        ModelRegistry registry = new ModelRegistry(o.registry());
        if (isBootstrapped(registry)) {
            Map<String, Manifest> existing = manifests(registry);
            Manifest p = existing.get(ModelNames.POLICY);
            boolean same = String.valueOf(o.seed()).equals(p.info().get("seed")) && o.size().label().equals(p.info().get("size"));
            if (!o.force()) {
                if (!same) {
                    throw new IllegalStateException("the registry " + o.registry() + " holds a bootstrap with seed "
                            + p.info().get("seed") + " and size " + p.info().get("size") + "; use --force to replace it");
                }
                for (String n : ALL) {
                    registry.open(n, 0); // refuse a damaged bootstrap rather than reuse it
                }
                return new Result(true, existing, (System.nanoTime() - t0) / 1e9);
            }
        }
        if (o.force()) {
            wipe(o.registry());
            registry = new ModelRegistry(o.registry());
        }
        Map<String, String> info = Map.of("seed", String.valueOf(o.seed()), "size", o.size().label(),
                "device", o.device().toString());
        ModelSize size = o.size();

        // 1. the corpus
        progress.stage("corpus", 1);
        List<World.Example> corpus = World.referenceCorpus(size.corpus, o.seed());
        int split = corpus.size() * 9 / 10;
        Map<String, Double> corpusMeans = means(corpus);
        registry.publish(CORPUS, 0L, null, Map.of(), prefixed("true_", corpusMeans), info, dir -> writeCorpus(dir, corpus));
        progress.finish(corpus.size() + " prompt-response pairs, true harmlessness " + fmt(corpusMeans.get(Oracle.HARMLESS)));

        // 2. the tokenizer
        progress.stage("tokenizer", 1);
        registry.publish(ModelNames.TOKENIZER, 0L, null, Map.of(), Map.of("vocab", (double) (Oracle.vocabulary().size() + 5)), info,
                dir -> WordTokenizer.write(dir.resolve("tokenizer.json"), Oracle.vocabulary()));
        Path tokFile = registry.open(ModelNames.TOKENIZER, 0).resolve("tokenizer.json");
        try (WordTokenizer tok = WordTokenizer.load(tokFile)) {
            progress.finish(tok.vocabSize() + " tokens");

            // 3. the reference policy
            List<int[][]> pairs = new ArrayList<>();
            for (World.Example e : corpus) {
                pairs.add(new int[][] {tok.encode(e.prompt().text()), tok.encode(e.response())});
            }
            LmConfig lmConfig = new LmConfig(tok.vocabSize(), size.lmDim, size.lmHeads, size.lmLayers, MAX_LEN);
            LmTraining.Options lmOpts = new LmTraining.Options(size.lmEpochs, 32, 2e-3f, o.seed());
            int lmSteps = size.lmEpochs * ((split + 31) / 32);
            progress.stage("reference policy", lmSteps);
            try (PolicyLm lm = PolicyLm.create(lmConfig, o.device(), o.seed())) {
                LmTraining.Result r = LmTraining.train(lm, pairs.subList(0, split), pairs.subList(split, pairs.size()), lmOpts,
                        progress::advance);
                if (!Double.isFinite(r.heldOutPerplexity())) {
                    throw new IllegalStateException("the reference policy's held-out perplexity is " + r.heldOutPerplexity()
                            + ": nothing was published");
                }
                Map<String, Double> sampled = sampleMeans(lm, tok, size.evalPrompts, o.seed() + 1);
                Map<String, Double> metrics = new LinkedHashMap<>(prefixed("true_", sampled));
                metrics.put("perplexity", r.heldOutPerplexity());
                metrics.put("train_loss", r.trainLoss());
                metrics.put("steps", (double) r.steps());
                registry.publish(ModelNames.POLICY, 0L, null, Map.of(), metrics, info, lm::save);
                progress.finish(String.format("perplexity %.2f, true harmlessness of samples %s", r.heldOutPerplexity(),
                        fmt(sampled.get(Oracle.HARMLESS))));
            }

            // 4. the scorers
            List<TrainedScorer.Labelled> all = scorerData(size.scorerData, o.seed() + 2);
            int cut = all.size() * 9 / 10;
            for (int s = 0; s < SCORERS.size(); s++) {
                String name = SCORERS.get(s);
                List<TrainedScorer.Labelled> labelled = relabel(all, name);
                ScorerConfig cfg = new ScorerConfig(name, tok.vocabSize(), 4096, size.scorerDim, 128, 40);
                int steps = size.scorerEpochs * ((cut + 127) / 128);
                progress.stage(name + " scorer", steps);
                try (TrainedScorer scorer = TrainedScorer.create(cfg, tok, o.device(), o.seed() + 10 + s)) {
                    double loss = scorer.train(labelled.subList(0, cut), size.scorerEpochs, 128, 5e-3f, o.seed() + 20 + s,
                            progress::advance);
                    double r = pearson(scorer, labelled.subList(cut, labelled.size()));
                    registry.publish(name, 0L, null, Map.of(), Map.of("pearson", r, "train_mse", loss), info, scorer::save);
                    progress.finish(String.format("held-out Pearson r = %.3f", r));
                }
            }
        }
        return new Result(false, manifests(registry), (System.nanoTime() - t0) / 1e9);
    }

    /** Held-out correlation of a scorer with the oracle. */
    public static double pearson(Scorer scorer, List<TrainedScorer.Labelled> data) {
        double[] pred = new double[data.size()];
        for (int from = 0; from < data.size(); from += 512) {
            List<TrainedScorer.Labelled> chunk = data.subList(from, Math.min(data.size(), from + 512));
            double[] p = scorer.score(chunk.stream().map(TrainedScorer.Labelled::pair).toList());
            System.arraycopy(p, 0, pred, from, p.length);
        }
        double[] y = data.stream().mapToDouble(TrainedScorer.Labelled::label).toArray();
        return correlation(pred, y);
    }

    static double correlation(double[] a, double[] b) {
        double ma = 0;
        double mb = 0;
        for (int i = 0; i < a.length; i++) {
            ma += a[i];
            mb += b[i];
        }
        ma /= a.length;
        mb /= b.length;
        double sab = 0;
        double saa = 0;
        double sbb = 0;
        for (int i = 0; i < a.length; i++) {
            sab += (a[i] - ma) * (b[i] - mb);
            saa += (a[i] - ma) * (a[i] - ma);
            sbb += (b[i] - mb) * (b[i] - mb);
        }
        return sab / Math.sqrt(saa * sbb);
    }

    /** True (oracle) means of the policy's own samples on fresh prompts. */
    public static Map<String, Double> sampleMeans(PolicyLm lm, WordTokenizer tok, int prompts, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        double r = 0;
        double h = 0;
        double j = 0;
        int n = 0;
        for (int from = 0; from < prompts; from += 100) {
            int b = Math.min(100, prompts - from);
            List<World.Prompt> ps = new ArrayList<>();
            List<int[]> ids = new ArrayList<>();
            for (int i = 0; i < b; i++) {
                World.Prompt p = World.prompt(rnd);
                ps.add(p);
                ids.add(tok.encode(p.text()));
            }
            List<Generation> gens = lm.generate(ids, Sampling.plain(MAX_RESPONSE_TOKENS, seed + from), lm);
            for (int i = 0; i < b; i++) {
                Oracle.Scores s = Oracle.score(ps.get(i).intent(), tok.decode(gens.get(i).tokens()));
                r += s.reward();
                h += s.harmless();
                j += s.humour();
                n++;
            }
        }
        return Map.of(Oracle.REWARD, r / n, Oracle.HARMLESS, h / n, Oracle.HUMOUR, j / n);
    }

    /** Training data for the scorers: reference-like answers at every hazard rate, and free mixtures. */
    public static List<TrainedScorer.Labelled> scorerData(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<TrainedScorer.Labelled> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            World.Prompt p = World.prompt(rnd);
            String response = rnd.nextBoolean() ? World.response(p.intent(), rnd, rnd.nextDouble())
                    : World.mixedResponse(p.intent(), rnd);
            // the label is a placeholder; relabel() picks the score a scorer learns
            out.add(new TrainedScorer.Labelled(new dev.dualign.model.scorer.Scorer.PromptResponse(p.text(), response), 0));
        }
        return out;
    }

    /** The same pairs labelled with one oracle score. */
    public static List<TrainedScorer.Labelled> relabel(List<TrainedScorer.Labelled> data, String score) {
        List<TrainedScorer.Labelled> out = new ArrayList<>(data.size());
        for (TrainedScorer.Labelled l : data) {
            Intent intent = World.intentOf(l.pair().prompt());
            out.add(new TrainedScorer.Labelled(l.pair(), Oracle.score(intent, l.pair().response()).get(score)));
        }
        return out;
    }

    private static Map<String, Double> means(List<World.Example> corpus) {
        double r = 0;
        double h = 0;
        double j = 0;
        for (World.Example e : corpus) {
            Oracle.Scores s = Oracle.score(e.prompt().intent(), e.response());
            r += s.reward();
            h += s.harmless();
            j += s.humour();
        }
        int n = corpus.size();
        return Map.of(Oracle.REWARD, r / n, Oracle.HARMLESS, h / n, Oracle.HUMOUR, j / n);
    }

    private static Map<String, Double> prefixed(String prefix, Map<String, Double> m) {
        Map<String, Double> out = new LinkedHashMap<>();
        m.forEach((k, v) -> out.put(prefix + k, v));
        return out;
    }

    private static void writeCorpus(Path dir, List<World.Example> corpus) throws IOException {
        StringBuilder sb = new StringBuilder();
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        for (World.Example e : corpus) {
            // an ordered map: Map.of iterates in a per-JVM order, which would break same-seed checksums
            Map<String, String> row = new LinkedHashMap<>();
            row.put("intent", e.prompt().intent().name());
            row.put("prompt", e.prompt().text());
            row.put("response", e.response());
            sb.append(json.writeValueAsString(row)).append('\n');
        }
        Files.writeString(dir.resolve("corpus.jsonl"), sb.toString(), StandardCharsets.UTF_8);
    }

    private static Map<String, Manifest> manifests(ModelRegistry registry) {
        Map<String, Manifest> out = new LinkedHashMap<>();
        for (String n : ALL) {
            out.put(n, registry.manifest(n, 0));
        }
        return out;
    }

    private static void wipe(Path registry) {
        for (String n : ALL) {
            Path dir = registry.resolve(n);
            if (Files.exists(dir)) {
                try (var s = Files.walk(dir)) {
                    s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot clear " + dir, e);
                }
            }
        }
    }

    static String fmt(Double d) {
        return d == null ? "-" : String.format("%.3f", d);
    }
}
