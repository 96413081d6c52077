package dev.dualign.finetune;

import ai.djl.Device;
import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.core.event.FineTuneRequest;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.model.lm.Generation;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.lm.Sampling;
import dev.dualign.model.registry.Manifest;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.model.scorer.ScorerSet;
import dev.dualign.model.text.WordTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Stage 2 of the loop: for a requested λ, train the next version towards π_λ ∝ π_ref·exp(s/β),
 * s = r + λ·g, from the reference's weights on fresh reference responses to recent live prompts (so
 * it depends on λ only; {@code finetune.init: base} and {@code finetune.pairs: traffic} warm-start and
 * use the serving version's responses instead). {@code finetune.method}: distillation of π_λ on K
 * weighted samples per prompt, gated on L ({@link DistillStep}, decision 29), or DPO on pairs. Every
 * response is scored by the job's scorers. The result is published atomically (manifest with λ,
 * parent and metrics); a diverged or refused run throws and publishes nothing.
 */
public final class FineTuner implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FineTuner.class);

    /** Not enough usable pairs yet: wait for more traffic and try again. */
    public static final class NotEnoughData extends RuntimeException {
        public NotEnoughData(String message) {
            super(message);
        }
    }

    private final ModelRegistry registry;
    private final Device device;
    private final FineTuneSettings settings;
    private final WordTokenizer tokenizer;
    private final PolicyLm reference;
    /** Pairs the last {@link #pairs} call left out as too long for the model (one thread trains). */
    private int tooLong;
    private final ScorerSet scorers;

    public FineTuner(ModelRegistry registry, Device device, FineTuneSettings settings) {
        this.registry = registry;
        this.device = device;
        this.settings = settings;
        this.scorers = ScorerSet.open(registry, settings.utilities(), device);
        this.tokenizer = WordTokenizer.load(registry.open(ModelNames.TOKENIZER, registry.latest(ModelNames.TOKENIZER).orElseThrow())
                .resolve("tokenizer.json"));
        this.reference = PolicyLm.load(registry.open(ModelNames.POLICY, 0), device);
    }

    public FineTuneSettings settings() {
        return settings;
    }

    /**
     * Trains and publishes the version the request asks for.
     *
     * @param data recent scored samples, any order; those of the request's data version are used first
     * @return the checkpoint event announcing the published version
     * @throws NotEnoughData when fewer than {@code minPairs} pairs can be made
     * @throws RuntimeException when training diverges or fails (nothing is published)
     */
    public CheckpointEvent train(FineTuneRequest req, List<ScoredSample> data, IntConsumer progress) {
        long t0 = System.nanoTime();
        Map<String, Double> lambda = new LinkedHashMap<>();
        for (String u : settings.utilities()) {
            Double l = req.lambda().get(u);
            if (l == null) {
                throw new IllegalArgumentException("request " + req.requestId() + " has no λ for constraint '" + u + "'");
            }
            lambda.put(u, l);
        }
        long base = req.baseVersion();
        if (!registry.versions(ModelNames.POLICY).contains(base)) {
            if (!settings.fromReference() || !settings.referencePairs()) {
                // warm-starting or sampling from a version that is gone would silently train something else
                throw new IllegalStateException("base version " + base + " is no longer in the registry (pruned?): "
                        + (settings.fromReference() ? "its responses are needed for the pairs" : "it is the starting point")
                        + "; a newer request will follow");
            }
            LOG.info("fine-tune {}: base version {} is no longer in the registry; it is bookkeeping only here (trained "
                    + "from the reference on the reference's pairs)", req.requestId(), base);
            base = 0;
        }
        long init = settings.fromReference() ? 0 : base;
        // the base version, untouched: DPO from traffic samples from it; distillation measures it at the gate
        boolean baseNeeded = settings.distills() ? base != 0 : init != base && !settings.referencePairs();
        try (PolicyLm policy = PolicyLm.load(registry.open(ModelNames.POLICY, init), device);
                PolicyLm sampler = baseNeeded ? PolicyLm.load(registry.open(ModelNames.POLICY, base), device) : null) {
            Map<String, Double> metrics = settings.distills() ? distill(req, policy, sampler, init, base, data, lambda, progress)
                    : dpo(req, policy, sampler, data, lambda, init, base, progress);
            metrics.put("seconds", (System.nanoTime() - t0) / 1e9);
            Map<String, String> info = new TreeMap<>();
            info.put("requestId", req.requestId());
            info.put("requestTimestamp", Long.toString(req.timestamp()));
            info.put("dataVersion", String.valueOf(req.dataVersion()));
            info.put("trainedFrom", Long.toString(init));
            info.put("after", Long.toString(base));
            info.put("pairs", settings.referencePairs() ? "reference" : "traffic");
            info.put("method", settings.method());
            // a last word before publishing: the caller may cancel (a fine-tuner that lost its lease), and
            // a version another fine-tuner published for this request meanwhile is returned, not doubled
            progress.accept(metrics.get("steps").intValue());
            java.util.Optional<CheckpointEvent> meanwhile = published(req);
            if (meanwhile.isPresent()) {
                LOG.warn("fine-tune {}: version {} was published for this request meanwhile; not publishing a second",
                        req.requestId(), meanwhile.get().version());
                return meanwhile.get();
            }
            Manifest m = registry.publish(ModelNames.POLICY, null, base, lambda, metrics, info, policy::save);
            LOG.info("fine-tune {}: published policy version {} in {} s (loss {}, mean log π/π_ref {})", req.requestId(),
                    m.version(), String.format("%.1f", metrics.get("seconds")), String.format("%.4f", metrics.get("loss")),
                    String.format("%.3f", metrics.get("meanLogRatio")));
            return new CheckpointEvent(m.version(), ModelNames.POLICY + "/" + m.version(),
                    registry.manifestSha256(ModelNames.POLICY, m.version()), lambda, base, metrics, System.currentTimeMillis())
                    .answering(req.requestId(), null);
        }
    }

    /** The DPO step (decision 6): pairs, training, the manifest's metrics. */
    private Map<String, Double> dpo(FineTuneRequest req, PolicyLm policy, PolicyLm sampler, List<ScoredSample> data,
            Map<String, Double> lambda, long init, long base, IntConsumer progress) {
        List<PreferencePair> pairs = settings.referencePairs() ? referencePairs(data, lambda)
                : pairs(req, data, sampler != null ? sampler : policy, lambda);
        if (pairs.size() < settings.minPairs()) {
            throw new NotEnoughData(pairs.size() + " preference pairs, " + settings.minPairs() + " needed"
                    + (tooLong > 0 ? " (" + tooLong + " left out: too long for the model)" : ""));
        }
        if (tooLong > 0) {
            LOG.warn("fine-tune {}: {} prompt/response pairs left out, too long for the model's {} tokens", req.requestId(),
                    tooLong, reference.config().maxLen());
        }
        LOG.info("fine-tune {}: λ={} after version {}, from the weights of version {}, on {} pairs", req.requestId(), lambda,
                base, init, pairs.size());
        DpoTrainer.Result r = DpoTrainer.train(policy, reference, pairs, new DpoTrainer.Options(settings.beta(),
                settings.epochs(), settings.batchSize(), settings.learningRate(), settings.maxKl(), settings.seed()), progress);
        if (!Double.isFinite(r.finalLoss())) {
            throw new IllegalStateException("DPO loss is not finite: " + r.finalLoss());
        }
        Map<String, Double> metrics = new TreeMap<>();
        metrics.put("loss", r.finalLoss());
        metrics.put("meanLogRatio", r.meanLogRatio());
        metrics.put("steps", (double) r.steps());
        metrics.put("pairs", (double) pairs.size());
        metrics.put("skippedTooLong", (double) tooLong);
        metrics.putAll(evaluate(policy, pairs));
        return metrics;
    }

    /** Distillation (decision 29), gated on L against the request's base version (π_ref for version 0). */
    private Map<String, Double> distill(FineTuneRequest req, PolicyLm policy, PolicyLm baseVersion, long init, long base,
            List<ScoredSample> data, Map<String, Double> lambda, IntConsumer progress) {
        PolicyLm serving = base == 0 ? reference : baseVersion;
        DistillStep.Outcome o = new DistillStep(settings, tokenizer, scorers, reference).run(policy,
                settings.referencePairs() ? reference : serving, serving, data, lambda, progress);
        LOG.info("fine-tune {}: λ={} after version {}, distilled from the weights of version {} on {} prompts: {}", req.requestId(),
                lambda, base, init, o.prompts(), o.verdict().reason());
        if (!o.verdict().publish()) {
            throw new IllegalStateException("fine-tune " + req.requestId() + " not published: " + o.verdict().reason());
        }
        return o.metrics();
    }

    /**
     * The version this request already produced, if one was published for it (its manifest carries
     * the request id and the request's timestamp): a service that crashed after publishing and
     * before committing the request meets it again, and must announce that version instead of
     * training a second one. Request ids repeat across runs on one registry (a controller's steps
     * count from 0 again), so the id alone would hand a new run a version trained for another λ:
     * the timestamp must match too (for a version published before it was recorded, the λ).
     */
    public java.util.Optional<CheckpointEvent> published(FineTuneRequest req) {
        List<Long> versions = registry.versions(ModelNames.POLICY);
        for (int i = versions.size() - 1; i >= 0; i--) {
            long v = versions.get(i);
            Manifest m = registry.manifest(ModelNames.POLICY, v);
            if (m.info() != null && req.requestId().equals(m.info().get("requestId")) && sameRequest(req, m)) {
                return java.util.Optional.of(new CheckpointEvent(v, ModelNames.POLICY + "/" + v,
                        registry.manifestSha256(ModelNames.POLICY, v), m.lambda(), m.parentVersion() == null ? 0 : m.parentVersion(),
                        m.metrics(), System.currentTimeMillis()).answering(req.requestId(), null));
            }
        }
        return java.util.Optional.empty();
    }

    /**
     * The same version announced as an outside one ({@code finetune.answer: adapter}): by the adapter
     * name {@code prefix + version} and its directory in the registry, with the directory's
     * {@link AdapterChecksum}, so a gateway loads it into its upstream ({@code serve}) as it would
     * a trainer's LoRA adapter.
     */
    public CheckpointEvent asAdapter(CheckpointEvent c, String prefix) {
        java.nio.file.Path dir = registry.root().resolve(c.path()).toAbsolutePath().normalize();
        String sha;
        try {
            sha = dev.dualign.core.event.AdapterChecksum.of(dir);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("version " + c.version() + ": cannot read " + dir, e);
        }
        return new CheckpointEvent(c.version(), c.path(), sha, c.lambda(), c.parentVersion(), c.metrics(), c.timestamp(),
                c.requestId(), new CheckpointEvent.External(prefix + c.version(), dir.toString(), null));
    }

    private static boolean sameRequest(FineTuneRequest req, Manifest m) {
        String ts = m.info().get("requestTimestamp");
        if (ts != null) {
            return ts.equals(Long.toString(req.timestamp()));
        }
        return m.lambda() != null && m.lambda().entrySet().stream()
                .allMatch(e -> Double.valueOf(e.getValue()).equals(req.lambda().get(e.getKey())));
    }

    /**
     * Preference pairs: responses to the same prompt text paired two by two (data version first,
     * newest first); a prompt left with one response gets a fresh sample of the base policy.
     */
    List<PreferencePair> pairs(FineTuneRequest req, List<ScoredSample> data, PolicyLm base, Map<String, Double> lambda) {
        tooLong = 0;
        List<ScoredSample> ordered = new ArrayList<>();
        for (int pass = 0; pass < 2; pass++) {
            for (int i = data.size() - 1; i >= 0; i--) {
                ScoredSample s = data.get(i);
                boolean ofVersion = req.dataVersion() != null && req.dataVersion().equals(s.policyVersion());
                if ((pass == 0) == ofVersion && usable(s)) {
                    ordered.add(s);
                }
            }
        }
        Map<String, List<ScoredSample>> byPrompt = new LinkedHashMap<>();
        for (ScoredSample s : ordered) {
            byPrompt.computeIfAbsent(s.prompt(), k -> new ArrayList<>()).add(s);
        }
        List<PreferencePair> pairs = new ArrayList<>();
        List<ScoredSample> singles = new ArrayList<>();
        for (List<ScoredSample> group : byPrompt.values()) {
            int i = 0;
            for (; i + 1 < group.size() && pairs.size() < settings.maxPairs(); i += 2) {
                ScoredSample a = group.get(i);
                ScoredSample b = group.get(i + 1);
                int[] tp = tokenizer.encode(a.prompt());
                int[] ta = tokenizer.encode(a.response());
                int[] tb = tokenizer.encode(b.response());
                if (!fits(tp, ta.length) || !fits(tp, tb.length)) {
                    tooLong++;
                } else if (!Arrays.equals(ta, tb)) { // identical responses carry no preference
                    pairs.add(new PreferencePair(tp, ta, tb, score(a.reward(), a.utilities(), lambda),
                            score(b.reward(), b.utilities(), lambda)));
                }
            }
            if (i < group.size()) {
                ScoredSample single = group.get(i);
                int[] tp = tokenizer.encode(single.prompt());
                // its partner is sampled (up to max-tokens long): both must fit the model
                if (fits(tp, tokenizer.encode(single.response()).length) && fits(tp, settings.maxTokens())) {
                    singles.add(single);
                } else {
                    tooLong++;
                }
            }
        }
        int room = Math.min(singles.size(), settings.maxPairs() - pairs.size());
        for (int from = 0; from < room; from += 128) {
            List<ScoredSample> chunk = singles.subList(from, Math.min(room, from + 128));
            List<int[]> prompts = chunk.stream().map(s -> tokenizer.encode(s.prompt())).toList();
            List<Generation> gens = base.generate(prompts, Sampling.plain(settings.maxTokens(), settings.seed() + from), reference);
            List<Scorer.PromptResponse> batch = new ArrayList<>();
            for (int k = 0; k < chunk.size(); k++) {
                batch.add(new Scorer.PromptResponse(chunk.get(k).prompt(), tokenizer.decode(gens.get(k).tokens())));
            }
            Map<String, double[]> scores = scorers.score(batch);
            for (int k = 0; k < chunk.size(); k++) {
                ScoredSample a = chunk.get(k);
                int[] ta = tokenizer.encode(a.response());
                int[] tb = gens.get(k).tokens();
                if (Arrays.equals(ta, tb) || !gens.get(k).stopped()) {
                    continue;
                }
                double sb = score(scores.get("reward")[k], utilities(scores, k), lambda);
                if (Double.isFinite(sb)) {
                    pairs.add(new PreferencePair(prompts.get(k), ta, tb, score(a.reward(), a.utilities(), lambda), sb));
                }
            }
        }
        return pairs;
    }

    /**
     * Preference pairs from the reference: the most recent distinct live prompts (newest first), each
     * answered twice by π_ref and scored. The live policy's responses play no part, so the policy
     * trained at λ depends on λ and the prompts only, not on the versions before it.
     */
    List<PreferencePair> referencePairs(List<ScoredSample> data, Map<String, Double> lambda) {
        tooLong = 0;
        java.util.LinkedHashSet<String> prompts = new java.util.LinkedHashSet<>();
        for (int i = data.size() - 1; i >= 0 && prompts.size() < settings.maxPairs(); i--) {
            String p = data.get(i).prompt();
            if (p != null) {
                prompts.add(p);
            }
        }
        List<String> texts = new ArrayList<>();
        List<int[]> ids = new ArrayList<>();
        for (String p : prompts) {
            int[] tp = tokenizer.encode(p);
            if (fits(tp, settings.maxTokens())) {
                texts.add(p);
                ids.add(tp);
            } else {
                tooLong++;
            }
        }
        List<PreferencePair> pairs = new ArrayList<>();
        for (int from = 0; from < ids.size(); from += 64) {
            int to = Math.min(ids.size(), from + 64);
            List<int[]> twice = new ArrayList<>();
            for (int k = from; k < to; k++) {
                twice.add(ids.get(k));
                twice.add(ids.get(k));
            }
            List<Generation> gens = reference.generate(twice, Sampling.plain(settings.maxTokens(), settings.seed() + from), reference);
            List<Scorer.PromptResponse> batch = new ArrayList<>();
            for (int j = 0; j < gens.size(); j++) {
                batch.add(new Scorer.PromptResponse(texts.get(from + j / 2), tokenizer.decode(gens.get(j).tokens())));
            }
            Map<String, double[]> scores = scorers.score(batch);
            for (int k = from; k < to; k++) {
                Generation a = gens.get(2 * (k - from));
                Generation b = gens.get(2 * (k - from) + 1);
                if (!a.stopped() || !b.stopped() || Arrays.equals(a.tokens(), b.tokens())) {
                    continue; // cut short, or identical: no clean preference
                }
                double sa = score(scores.get(ModelNames.REWARD)[2 * (k - from)], utilities(scores, 2 * (k - from)), lambda);
                double sb = score(scores.get(ModelNames.REWARD)[2 * (k - from) + 1], utilities(scores, 2 * (k - from) + 1), lambda);
                if (Double.isFinite(sa) && Double.isFinite(sb)) {
                    pairs.add(new PreferencePair(ids.get(k), a.tokens(), b.tokens(), sa, sb));
                }
            }
        }
        return pairs;
    }

    private Map<String, Double> utilities(Map<String, double[]> scores, int i) {
        Map<String, Double> u = new LinkedHashMap<>();
        for (String name : settings.utilities()) {
            u.put(name, scores.get(name)[i]);
        }
        return u;
    }

    /**
     * Whether a prompt and a response of {@code responseTokens} fit the model's context (with its
     * start, separator and end tokens). A live chatbot can send anything; one record too long for
     * the model must cost that record, not every fine-tune while it sits in the buffer.
     */
    private boolean fits(int[] prompt, int responseTokens) {
        return prompt.length + responseTokens + 3 <= reference.config().maxLen();
    }

    private boolean usable(ScoredSample s) {
        if (s.prompt() == null || s.response() == null) {
            return false;
        }
        for (String u : settings.utilities()) {
            Double x = s.utilities().get(u);
            if (x == null || !Double.isFinite(x)) {
                return false;
            }
        }
        return true;
    }

    private static double score(double reward, Map<String, Double> utilities, Map<String, Double> lambda) {
        double s = reward;
        for (Map.Entry<String, Double> l : lambda.entrySet()) {
            s += l.getValue() * utilities.get(l.getKey());
        }
        return s;
    }

    /** The trained policy's scored means on the pairs' prompts (what the scorers expect of it). */
    private Map<String, Double> evaluate(PolicyLm policy, List<PreferencePair> pairs) {
        int n = Math.min(128, pairs.size());
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            prompts.add(pairs.get(i).prompt());
        }
        List<Generation> gens = policy.generate(prompts, Sampling.plain(settings.maxTokens(), settings.seed() + 7), reference);
        List<Scorer.PromptResponse> batch = new ArrayList<>();
        for (int k = 0; k < n; k++) {
            batch.add(new Scorer.PromptResponse(tokenizer.decode(prompts.get(k)), tokenizer.decode(gens.get(k).tokens())));
        }
        Map<String, Double> out = new TreeMap<>();
        scorers.score(batch).forEach((name, v) -> out.put("eval." + name, Arrays.stream(v).average().orElse(Double.NaN)));
        return out;
    }

    @Override
    public void close() {
        reference.close();
        scorers.close();
        tokenizer.close();
    }
}
