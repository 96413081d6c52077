package dev.dualign.app.experiment;

import ai.djl.Device;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.dual.DualBootstrap;
import dev.dualign.core.dual.DualProblem;
import dev.dualign.core.dual.DualSolution;
import dev.dualign.core.dual.DualSolver;
import dev.dualign.core.dual.InfeasibleException;
import dev.dualign.core.event.EventJson;
import dev.dualign.model.Devices;
import dev.dualign.core.dual.TiltWeights;
import dev.dualign.finetune.DistillTrainer;
import dev.dualign.finetune.DpoTrainer;
import dev.dualign.finetune.FineTuneSettings;
import dev.dualign.finetune.PreferencePair;
import dev.dualign.model.lm.Generation;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.lm.Sampling;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.model.scorer.ScorerSet;
import dev.dualign.model.text.WordTokenizer;
import dev.dualign.world.Oracle;
import dev.dualign.world.World;
import dev.dualign.world.bootstrap.Bootstrap;
import dev.dualign.world.bootstrap.ModelSize;
import dev.dualign.world.bootstrap.Progress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The live loop's parts, driven offline for the experiments that train policies: the registry's
 * reference policy (version 0), its scorers, the fine-tuner's trainers (distillation, DPO) and settings, and the
 * world's oracle for the true value of whatever a policy says. Nothing is published: trained
 * policies live only in memory.
 */
final class Lab implements AutoCloseable {
    static final double BETA = 0.1;
    static final int MAX_TOKENS = 40;
    private static final int BATCH = 128;
    static final double TEMPERATURE = 1.0;
    static final double TOP_P = 1.0;

    /**
     * Responses of one policy to some prompts, k per prompt (response i answers prompt i / k), with
     * the scorers' and the oracle's scores.
     */
    record Sampled(List<World.Prompt> prompts, int k, int[][] promptIds, int[][] tokens, Map<String, double[]> scored,
            Oracle.Scores[] truth, double[] logRatio) {
        int size() {
            return tokens.length;
        }

        /** The scorers' s = r + Σ λ_c·g_c of response i. */
        double score(int i, List<String> utilities, double[] lambda) {
            double s = scored.get(ModelNames.REWARD)[i];
            for (int c = 0; c < lambda.length; c++) {
                s += lambda[c] * scored.get(utilities.get(c))[i];
            }
            return s;
        }
    }

    /** What a policy really does (oracle) and what the scorers say it does, on held-out prompts. */
    record Values(double reward, double harmless, double humour, double scoredReward, Map<String, Double> scoredUtilities,
            double kl) {
        /** As JSON, with the λ it was trained or tilted at. */
        ObjectNode json(double lambda) {
            ObjectNode o = EventJson.mapper().createObjectNode();
            o.put("lambda", lambda).put("trueReward", reward).put("trueHarmless", harmless).put("trueHumour", humour)
                    .put("scoredReward", scoredReward).put("kl", kl);
            scoredUtilities.forEach((k, x) -> o.put("scored_" + k, x));
            return o;
        }

        double truth(String name) {
            return switch (name) {
                case Oracle.REWARD -> reward;
                case Oracle.HARMLESS -> harmless;
                case Oracle.HUMOUR -> humour;
                default -> throw new IllegalArgumentException(name);
            };
        }
    }

    final ModelRegistry registry;
    final Device device;
    final List<String> utilities;
    final WordTokenizer tokenizer;
    final PolicyLm reference;
    private final Path referenceDir;
    final ScorerSet scorers;
    private final Progress progress;

    /** With the registry's reference policy (version 0), bootstrapping the registry first when it is empty. */
    Lab(Experiment.Context ctx, List<String> utilities) {
        this(ctx, utilities, null);
    }

    /**
     * @param referenceDir a saved policy to use as π_ref instead of the registry's version 0 (the
     *     registry's tokenizer and scorers stay); null: version 0
     */
    Lab(Experiment.Context ctx, List<String> utilities, Path referenceDir) {
        this.registry = new ModelRegistry(ctx.registry());
        this.device = Devices.resolve("auto");
        if (!Bootstrap.isBootstrapped(registry)) {
            Bootstrap.run(new Bootstrap.Options(ctx.registry(), 1, ModelSize.SMALL, device, false), ctx.progress());
        }
        this.utilities = List.copyOf(utilities);
        this.progress = ctx.progress();
        Provenance p = ctx.provenance();
        p.param("beta", BETA);
        p.param("maxTokens", MAX_TOKENS);
        p.param("sampleBatch", BATCH);
        p.param("samplingTemperature", TEMPERATURE);
        p.param("samplingTopP", TOP_P);
        p.paramObject("fineTune", FineTuneSettings.defaults(this.utilities, BETA));
        // the models this lab reads: the ones ScorerSet.open and the loads below take
        long tokenizerVersion = registry.latest(ModelNames.TOKENIZER).orElseThrow();
        p.model(registry, ModelNames.TOKENIZER, tokenizerVersion);
        if (referenceDir == null) {
            p.model(registry, ModelNames.POLICY, 0);
        }
        for (String n : scorerNames(this.utilities)) {
            p.model(registry, n, registry.latest(n).orElseThrow(() -> new IllegalStateException("no " + n + " in the registry")));
        }
        this.tokenizer = WordTokenizer.load(registry.open(ModelNames.TOKENIZER, tokenizerVersion).resolve("tokenizer.json"));
        this.referenceDir = referenceDir != null ? referenceDir : registry.open(ModelNames.POLICY, 0);
        this.reference = PolicyLm.load(this.referenceDir, device);
        this.scorers = ScorerSet.open(registry, utilities, device);
    }

    /** The scorers {@link ScorerSet#open} loads: the reward's and each utility's. */
    static List<String> scorerNames(List<String> utilities) {
        List<String> names = new ArrayList<>(List.of(ModelNames.REWARD));
        names.addAll(utilities);
        return names;
    }

    /** A fresh copy of the reference policy's weights, to train. */
    PolicyLm freshReference() {
        return PolicyLm.load(referenceDir, device);
    }

    static List<World.Prompt> prompts(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<World.Prompt> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(World.prompt(rnd));
        }
        return out;
    }

    /** k responses of {@code policy} to each prompt, scored by the scorers and the oracle. */
    Sampled sample(PolicyLm policy, List<World.Prompt> prompts, int k, long seed, String label) {
        int total = prompts.size() * k;
        int[][] promptIds = new int[prompts.size()][];
        for (int p = 0; p < prompts.size(); p++) {
            promptIds[p] = tokenizer.encode(prompts.get(p).text());
        }
        int[][] tokens = new int[total][];
        double[] logRatio = new double[total];
        progress.stage(label, (total + BATCH - 1) / BATCH);
        for (int from = 0, b = 0; from < total; from += BATCH, b++) {
            int n = Math.min(BATCH, total - from);
            List<int[]> ids = new ArrayList<>(n);
            for (int i = from; i < from + n; i++) {
                ids.add(promptIds[i / k]);
            }
            List<Generation> g = policy.generate(ids, new Sampling(TEMPERATURE, TOP_P, MAX_TOKENS, seed * 1_000_003L + b), reference);
            for (int i = 0; i < n; i++) {
                tokens[from + i] = g.get(i).tokens();
                logRatio[from + i] = g.get(i).logprob() - g.get(i).refLogprob();
            }
            progress.advance(b + 1);
        }
        progress.finish(total + " responses");
        List<Scorer.PromptResponse> pairs = new ArrayList<>(total);
        Oracle.Scores[] truth = new Oracle.Scores[total];
        for (int i = 0; i < total; i++) {
            World.Prompt p = prompts.get(i / k);
            String text = tokenizer.decode(tokens[i]);
            pairs.add(new Scorer.PromptResponse(p.text(), text));
            truth[i] = Oracle.score(p.intent(), text);
        }
        return new Sampled(List.copyOf(prompts), k, promptIds, tokens, scorers.score(pairs, 512), truth, logRatio);
    }

    /** The true and scored means of a policy's responses, and its KL to the reference (mean log π/π_ref). */
    static Values values(Sampled s, List<String> utilities) {
        double[] w = new double[s.size()];
        java.util.Arrays.fill(w, 1.0 / s.size());
        return weighted(s, w, s.logRatio, utilities);
    }

    /**
     * Σ_i w_i·(each score of response i), with Σ w_i = 1; the KL is Σ_i w_i·klTerm_i. One sum for
     * a policy's own responses (uniform weights) and for the tilted reference (resampling weights).
     */
    private static Values weighted(Sampled s, double[] w, double[] klTerm, List<String> utilities) {
        double r = 0;
        double h = 0;
        double j = 0;
        double sr = 0;
        double kl = 0;
        double[] su = new double[utilities.size()];
        double[] reward = s.scored.get(ModelNames.REWARD);
        for (int i = 0; i < s.size(); i++) {
            r += w[i] * s.truth[i].reward();
            h += w[i] * s.truth[i].harmless();
            j += w[i] * s.truth[i].humour();
            sr += w[i] * reward[i];
            kl += w[i] > 0 ? w[i] * klTerm[i] : 0;
            for (int c = 0; c < su.length; c++) {
                su[c] += w[i] * s.scored.get(utilities.get(c))[i];
            }
        }
        Map<String, Double> scored = new java.util.LinkedHashMap<>();
        for (int c = 0; c < su.length; c++) {
            scored.put(utilities.get(c), su[c]);
        }
        return new Values(r, h, j, sr, scored, kl);
    }

    Values evaluate(PolicyLm policy, List<World.Prompt> heldOut, long seed, String label) {
        return values(sample(policy, heldOut, 2, seed, label), utilities);
    }

    /**
     * The true values of the tilted policy π_λ ∝ π_ref·exp((r + λ·g)/β) (tilt by the scorers, as the
     * dual prices it), by self-normalised resampling of the reference's k responses per prompt.
     */
    Values tilted(Sampled ref, double[] lambda) {
        int k = ref.k();
        int prompts = ref.prompts().size();
        double[] w = new double[ref.size()];
        double[] klTerm = new double[ref.size()];
        for (int p = 0; p < prompts; p++) {
            double max = Double.NEGATIVE_INFINITY;
            double[] s = new double[k];
            for (int q = 0; q < k; q++) {
                s[q] = ref.score(p * k + q, utilities, lambda) / BETA;
                max = Math.max(max, s[q]);
            }
            double z = 0;
            for (int q = 0; q < k; q++) {
                z += Math.exp(s[q] - max);
            }
            for (int q = 0; q < k; q++) {
                double wi = Math.exp(s[q] - max) / z;
                w[p * k + q] = wi / prompts;
                // KL(π_λ‖π_ref) on the empirical reference sample: Σ w log(k·w)
                klTerm[p * k + q] = Math.log(k * wi);
            }
        }
        return weighted(ref, w, klTerm, utilities);
    }

    /**
     * MoCAN's one-shot λ*: the dual solved on the reference's scored responses, corrected for its
     * finite-K bias as the live controller does (1/K, when there are ≥ 8 per prompt).
     *
     * @throws InfeasibleException when no λ ≤ λ_max meets the margins on these responses
     */
    double[] oneShot(Sampled ref, double[] margins, long seed) {
        DualProblem.Builder b = DualProblem.builder(BETA);
        for (int c = 0; c < margins.length; c++) {
            b.constraint(utilities.get(c), margins[c]);
        }
        double[] u = new double[utilities.size()];
        for (int i = 0; i < ref.size(); i++) {
            for (int c = 0; c < u.length; c++) {
                u[c] = ref.scored.get(utilities.get(c))[i];
            }
            b.add("p" + i / ref.k(), ref.scored.get(ModelNames.REWARD)[i], u.clone());
        }
        DualProblem problem = b.build();
        DualSolver solver = new DualSolver();
        DualSolution s = solver.solve(problem);
        double[] corrected = DualBootstrap.corrected(solver, problem, s, seed);
        return corrected != null ? corrected : s.lambda();
    }

    /**
     * The live fine-tuner's policy step, in place: DPO with the fine-tuner's default settings on
     * pairs of {@code data}'s responses to the same prompt, labelled by the scorers at λ.
     */
    DpoTrainer.Result train(PolicyLm policy, Sampled data, double[] lambda, long seed, String label) {
        return train(policy, data, lambda, FineTuneSettings.defaults(utilities, BETA).epochs(), seed, label);
    }

    /** As {@link #train(PolicyLm, Sampled, double[], long, String)} with {@code epochs} passes over the pairs. */
    DpoTrainer.Result train(PolicyLm policy, Sampled data, double[] lambda, int epochs, long seed, String label) {
        FineTuneSettings fs = FineTuneSettings.defaults(utilities, BETA);
        List<PreferencePair> pairs = new ArrayList<>();
        int k = data.k();
        for (int p = 0; p < data.prompts().size() && pairs.size() < fs.maxPairs(); p++) {
            for (int q = 0; q + 1 < k && pairs.size() < fs.maxPairs(); q += 2) {
                int a = p * k + q;
                int b = a + 1;
                if (!Arrays.equals(data.tokens[a], data.tokens[b])) { // identical responses carry no preference
                    pairs.add(new PreferencePair(data.promptIds[p], data.tokens[a], data.tokens[b],
                            data.score(a, utilities, lambda), data.score(b, utilities, lambda)));
                }
            }
        }
        int steps = epochs * ((pairs.size() + fs.batchSize() - 1) / fs.batchSize());
        progress.stage(label, steps);
        DpoTrainer.Result r = DpoTrainer.train(policy, reference, pairs, new DpoTrainer.Options(BETA, epochs,
                fs.batchSize(), fs.learningRate(), fs.maxKl(), seed), progress::advance);
        progress.finish(pairs.size() + " pairs, loss " + String.format("%.3f", r.finalLoss()));
        return r;
    }

    /**
     * The fine-tuner's distillation step (decision 29), in place: {@code data}'s k reference responses
     * per prompt weighted by softmax(s/β) at λ, the last tenth of its prompts held out.
     */
    DistillTrainer.Result distill(PolicyLm policy, Sampled data, double[] lambda, long seed, String label) {
        FineTuneSettings.Distill d = FineTuneSettings.defaults(utilities, BETA).distill();
        int k = data.k();
        int prompts = data.prompts().size();
        int heldFrom = prompts - Math.max(1, (int) Math.round(prompts * d.heldOut()));
        List<DistillTrainer.Example> train = new ArrayList<>();
        List<DistillTrainer.Example> held = new ArrayList<>();
        for (int p = 0; p < prompts; p++) {
            double[] s = new double[k];
            List<int[]> responses = new ArrayList<>(k);
            for (int q = 0; q < k; q++) {
                int i = p * k + q;
                responses.add(data.tokens[i]);
                // a response cut at the token limit has no end to learn: it takes no weight
                s[q] = data.tokens[i].length >= MAX_TOKENS ? Double.NaN : data.score(i, utilities, lambda);
            }
            double[] w = TiltWeights.fromReference(s, BETA);
            (p < heldFrom ? train : held).addAll(DistillTrainer.group(p, data.promptIds[p], responses, w, d.minWeight()));
        }
        FineTuneSettings fs = FineTuneSettings.defaults(utilities, BETA);
        progress.stage(label, d.maxEpochs() * ((train.size() + fs.batchSize() - 1) / fs.batchSize()));
        DistillTrainer.Result r = DistillTrainer.train(policy, reference, train, held, new DistillTrainer.Options(d.maxEpochs(),
                fs.batchSize(), d.learningRate(), FineTuneSettings.Distill.CHECKS_PER_EPOCH, d.patience(), fs.maxKl(), 64, MAX_TOKENS, seed), progress::advance);
        progress.finish(String.format("%d weighted samples, epoch %d of %d kept, held-out loss %.3f → %.3f, KL %.2f",
                train.size(), r.bestCheck(), r.checks(), r.heldOutBefore(), r.heldOutLoss(), r.kl()));
        return r;
    }

    @Override
    public void close() {
        scorers.close();
        reference.close();
        tokenizer.close();
    }
}
