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
            double kl, double rewardHalfWidth, double harmlessHalfWidth, double humourHalfWidth, int prompts) {
        /** As JSON, with the λ it was trained or tilted at. */
        ObjectNode json(double lambda) {
            ObjectNode o = EventJson.mapper().createObjectNode();
            o.put("lambda", lambda).put("trueReward", reward).put("trueHarmless", harmless).put("trueHumour", humour)
                    .put("scoredReward", scoredReward).put("kl", kl).put("trueRewardHalfWidth", rewardHalfWidth)
                    .put("trueHarmlessHalfWidth", harmlessHalfWidth).put("trueHumourHalfWidth", humourHalfWidth)
                    .put("prompts", prompts);
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
     * The lab of one seed: its own world models, bootstrapped with that seed (reference policy,
     * tokenizer, scorers), so that a claim about a method holds over references and not for one.
     * Seed 1 uses the registry itself (what {@code bin/dualign bootstrap} makes); seed s another
     * registry beside it, {@code <registry>-seed-s}, bootstrapped on first use.
     */
    static Lab forSeed(Experiment.Context ctx, List<String> utilities, int seed) {
        return new Lab(ctx, utilities, null, registryFor(ctx.registry(), seed), seed);
    }

    static Path registryFor(Path registry, int seed) {
        return seed == 1 ? registry : registry.resolveSibling(registry.getFileName() + "-seed-" + seed);
    }

    /**
     * @param referenceDir a saved policy to use as π_ref instead of the registry's version 0 (the
     *     registry's tokenizer and scorers stay); null: version 0
     */
    Lab(Experiment.Context ctx, List<String> utilities, Path referenceDir) {
        this(ctx, utilities, referenceDir, ctx.registry(), 1);
    }

    private Lab(Experiment.Context ctx, List<String> utilities, Path referenceDir, Path registryDir, int bootstrapSeed) {
        this.registry = new ModelRegistry(registryDir);
        this.device = Devices.resolve("auto");
        if (!Bootstrap.isBootstrapped(registry)) {
            Bootstrap.run(new Bootstrap.Options(registryDir, bootstrapSeed, ModelSize.SMALL, device, false), ctx.progress());
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

    /**
     * A prompt seed for stream {@code stream} of experiment seed {@code seed} that no other
     * (seed, stream) pair gives: {@code seed·7 + k} collides across seeds once k ≥ 7.
     */
    static long stream(long seed, int stream) {
        return seed * 1_000_003L + 1_000_000_007L * stream;
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
        int prompts = s.prompts().size();
        double[][] perPrompt = new double[3][prompts]; // each prompt's (weighted) mean true reward, harmless, humour
        for (int i = 0; i < s.size(); i++) {
            int p = i / s.k();
            perPrompt[0][p] += w[i] * prompts * s.truth[i].reward();
            perPrompt[1][p] += w[i] * prompts * s.truth[i].harmless();
            perPrompt[2][p] += w[i] * prompts * s.truth[i].humour();
        }
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
        return new Values(r, h, j, sr, scored, kl, halfWidth(perPrompt[0]), halfWidth(perPrompt[1]), halfWidth(perPrompt[2]),
                prompts);
    }

    /**
     * The 95 % normal half-width of a mean over prompts, from each prompt's own mean: prompts are
     * drawn independently, so their means are i.i.d. whatever the responses within a prompt share.
     */
    static double halfWidth(double[] perPrompt) {
        int n = perPrompt.length;
        if (n < 2) {
            return Double.NaN;
        }
        double mean = Arrays.stream(perPrompt).average().orElse(0);
        double ss = 0;
        for (double x : perPrompt) {
            ss += (x - mean) * (x - mean);
        }
        return 1.96 * Math.sqrt(ss / (n - 1) / n);
    }

    Values evaluate(PolicyLm policy, List<World.Prompt> heldOut, long seed, String label) {
        return evaluate(policy, heldOut, 2, seed, label);
    }

    /** The policy's true and scored values on {@code k} responses to each held-out prompt. */
    Values evaluate(PolicyLm policy, List<World.Prompt> heldOut, int k, long seed, String label) {
        return values(sample(policy, heldOut, k, seed, label), utilities);
    }

    /**
     * The true values of the tilted policy π_λ ∝ π_ref·exp((r + λ·g)/β) (tilt by the scorers, as the
     * dual prices it), by self-normalised resampling of the reference's k responses per prompt.
     */
    Values tilted(Sampled ref, double[] lambda) {
        return tilted(ref, lambda, BETA);
    }

    /** As {@link #tilted(Sampled, double[])} at another β (the β sweep). */
    Values tilted(Sampled ref, double[] lambda, double beta) {
        int k = ref.k();
        int prompts = ref.prompts().size();
        double[] w = new double[ref.size()];
        double[] klTerm = new double[ref.size()];
        for (int p = 0; p < prompts; p++) {
            double[] wp = tiltWeights(ref, p, lambda, beta);
            for (int q = 0; q < k; q++) {
                w[p * k + q] = wp[q] / prompts;
                // KL(π_λ‖π_ref) on the empirical reference sample: Σ w log(k·w)
                klTerm[p * k + q] = Math.log(k * wp[q]);
            }
        }
        return weighted(ref, w, klTerm, utilities);
    }

    /** Prompt p's resampling weights softmax(s/β) over its k reference responses. */
    private double[] tiltWeights(Sampled ref, int p, double[] lambda, double beta) {
        double[] s = new double[ref.k()];
        for (int q = 0; q < s.length; q++) {
            s[q] = ref.score(p * ref.k() + q, utilities, lambda);
        }
        return TiltWeights.fromReference(s, beta);
    }

    /**
     * PeCAN's models (the preference-based one-shot method): π_r and π_g, trained by DPO from π_ref on
     * preference pairs judged by the oracle, on helpfulness alone and on harmlessness alone. Their
     * implicit reward and utility β·log(π_r/π_ref), β·log(π_g/π_ref) stand in for the scorers.
     * {@code calibration} maps the implicit utility to the true harmlessness (a + c·ĝ, least squares
     * over the labelled pairs' responses), so that a margin given as a harmlessness rate can be
     * stated in ĝ's units: the preference data carry the only labels PeCAN has.
     */
    record Implicit(PolicyLm reward, PolicyLm safety, double intercept, double slope) implements AutoCloseable {
        double margin(double b) {
            return (b - intercept) / slope;
        }

        @Override
        public void close() {
            reward.close();
            safety.close();
        }
    }

    /**
     * Trains PeCAN's π_r and π_g on {@code pairs}' two responses per prompt, each judged by the
     * oracle; the last fifth of the prompts is kept out of training and fits the calibration, so
     * the margin's map is not fitted on the responses ĝ was trained to separate.
     */
    Implicit implicitModels(Sampled pairs, long seed, String label) {
        if (pairs.k() != 2) {
            throw new IllegalArgumentException("preference pairs are two responses per prompt");
        }
        if (utilities.size() != 1) {
            throw new IllegalArgumentException("PeCAN here takes one constraint, got " + utilities);
        }
        FineTuneSettings fs = FineTuneSettings.defaults(utilities, BETA);
        int prompts = pairs.prompts().size();
        int calibrateFrom = prompts - Math.max(2, prompts / 5);
        PolicyLm r = freshReference();
        PolicyLm g = null;
        try {
            g = freshReference();
            for (int which = 0; which < 2; which++) {
                List<PreferencePair> prefs = new ArrayList<>();
                for (int p = 0; p < calibrateFrom; p++) {
                    int a = 2 * p;
                    int b = a + 1;
                    double sa = which == 0 ? pairs.truth[a].reward() : pairs.truth[a].harmless();
                    double sb = which == 0 ? pairs.truth[b].reward() : pairs.truth[b].harmless();
                    if (!Arrays.equals(pairs.tokens[a], pairs.tokens[b]) && sa != sb) { // a tie states no preference
                        prefs.add(new PreferencePair(pairs.promptIds[p], pairs.tokens[a], pairs.tokens[b], sa, sb));
                    }
                }
                String what = which == 0 ? "helpfulness" : "harmlessness";
                int steps = fs.epochs() * ((prefs.size() + fs.batchSize() - 1) / fs.batchSize());
                progress.stage(label + "π_" + (which == 0 ? "r" : "g") + " (DPO on " + what + " preferences)", steps);
                DpoTrainer.Result res = DpoTrainer.train(which == 0 ? r : g, reference, prefs, new DpoTrainer.Options(BETA,
                        fs.epochs(), fs.batchSize(), fs.learningRate(), fs.maxKl(), seed + which), progress::advance);
                progress.finish(prefs.size() + " pairs, loss " + String.format("%.3f", res.finalLoss()));
            }
            double[] ghat = implicitValues(g, pairs);
            int from = 2 * calibrateFrom;
            int n = pairs.size() - from;
            double mx = 0;
            double my = 0;
            for (int i = from; i < pairs.size(); i++) {
                mx += ghat[i] / n;
                my += pairs.truth[i].harmless() / n;
            }
            double sxy = 0;
            double sxx = 0;
            for (int i = from; i < pairs.size(); i++) {
                sxy += (ghat[i] - mx) * (pairs.truth[i].harmless() - my);
                sxx += (ghat[i] - mx) * (ghat[i] - mx);
            }
            double slope = sxy / sxx;
            if (!(slope > 0)) {
                throw new IllegalStateException("PeCAN's implicit utility does not rise with the true harmlessness on the "
                        + "held-out pairs (slope " + slope + ")");
            }
            return new Implicit(r, g, my - slope * mx, slope);
        } catch (RuntimeException e) {
            r.close();
            if (g != null) {
                g.close();
            }
            throw e;
        }
    }

    /** β·log(π/π_ref) of each of {@code s}'s responses. */
    double[] implicitValues(PolicyLm policy, Sampled s) {
        double[] out = new double[s.size()];
        for (int from = 0; from < s.size(); from += BATCH) {
            int to = Math.min(s.size(), from + BATCH);
            List<int[]> prompts = new ArrayList<>();
            List<int[]> responses = new ArrayList<>();
            for (int i = from; i < to; i++) {
                prompts.add(s.promptIds[i / s.k()]);
                responses.add(s.tokens[i]);
            }
            boolean[] ends = new boolean[to - from];
            for (int i = from; i < to; i++) {
                ends[i - from] = s.tokens[i].length < MAX_TOKENS; // a cut response is the prefix it is
            }
            double[] lp = policy.logProbs(prompts, responses, ends);
            double[] lr = reference.logProbs(prompts, responses, ends);
            for (int i = from; i < to; i++) {
                out[i] = BETA * (lp[i - from] - lr[i - from]);
            }
        }
        return out;
    }

    /** {@code s} with the implicit reward and utility in place of the scorers' (PeCAN sees nothing else). */
    Sampled implicit(Sampled s, Implicit m) {
        Map<String, double[]> scored = new java.util.LinkedHashMap<>();
        scored.put(ModelNames.REWARD, implicitValues(m.reward(), s));
        scored.put(utilities.get(0), implicitValues(m.safety(), s));
        return new Sampled(s.prompts(), s.k(), s.promptIds(), s.tokens(), scored, s.truth(), s.logRatio());
    }

    /**
     * How often the oracle prefers {@code policy}'s response to the reference's, on the same
     * prompts (response i of each against response i of the other; a tie counts half): the
     * papers' win rate against the reference, judged by the oracle instead of a model.
     */
    static double winRate(Sampled policy, Sampled reference) {
        if (policy.size() != reference.size() || policy.k() != reference.k()) {
            throw new IllegalArgumentException("win rate needs the same prompts and responses per prompt");
        }
        double wins = 0;
        for (int i = 0; i < policy.size(); i++) {
            wins += win(policy.truth[i].reward(), reference.truth[i].reward());
        }
        return wins / policy.size();
    }

    /** The oracle's verdict on one comparison of true rewards: 1 a win, 0.5 a tie, 0 a loss. */
    private static double win(double mine, double theirs) {
        return mine > theirs ? 1 : mine == theirs ? 0.5 : 0;
    }

    /**
     * The tilted policy's win rate against the reference on the reference's own pool: response i,
     * with its resampling weight, against each other response to the same prompt (ties half).
     */
    double tiltWinRate(Sampled ref, double[] lambda) {
        int k = ref.k();
        int prompts = ref.prompts().size();
        double total = 0;
        for (int p = 0; p < prompts; p++) {
            double[] w = tiltWeights(ref, p, lambda, BETA);
            for (int q = 0; q < k; q++) {
                double wins = 0;
                for (int o = 0; o < k; o++) {
                    if (o != q) {
                        wins += win(ref.truth[p * k + q].reward(), ref.truth[p * k + o].reward());
                    }
                }
                total += w[q] * wins / (k - 1);
            }
        }
        return total / prompts;
    }

    /** The dual problem on the reference's scored responses (each prompt a group), at β. */
    DualProblem problem(Sampled ref, double[] margins, double beta) {
        DualProblem.Builder b = DualProblem.builder(beta);
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
        return b.build();
    }

    /**
     * The dual's Hessian at λ on the reference's scored responses, Cov_{π_λ}(g)/β: the sensitivity
     * the live one-shot solve hands the Newton dual step (decision 27).
     */
    double[] sensitivity(Sampled ref, double[] lambda) {
        return DualSolver.sensitivity(problem(ref, new double[lambda.length], BETA), lambda);
    }

    /**
     * MoCAN's one-shot λ*: the dual solved on the reference's scored responses, corrected for its
     * finite-K bias as the live controller does (1/K, when there are ≥ 8 per prompt).
     *
     * @throws InfeasibleException when no λ ≤ λ_max meets the margins on these responses
     */
    double[] oneShot(Sampled ref, double[] margins, long seed) {
        return oneShot(ref, margins, BETA, seed);
    }

    /** As {@link #oneShot(Sampled, double[], long)} at another β (the β sweep). */
    double[] oneShot(Sampled ref, double[] margins, double beta, long seed) {
        DualProblem problem = problem(ref, margins, beta);
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

    /** The distillation trainer's schedule; {@link #defaultSchedule()} is the fine-tuner's. */
    record Schedule(float learningRate, int maxEpochs, int patience, int checksPerEpoch) {}

    static Schedule defaultSchedule() {
        FineTuneSettings.Distill d = FineTuneSettings.Distill.DEFAULTS;
        return new Schedule(d.learningRate(), d.maxEpochs(), d.patience(), FineTuneSettings.Distill.CHECKS_PER_EPOCH);
    }

    /**
     * The fine-tuner's distillation step (decision 29), in place: {@code data}'s k responses per
     * prompt weighted as a sample of π_λ at λ (softmax(s/β) for the reference's responses; with the
     * importance ratio π_ref/π_q for another policy's), the last tenth of its prompts held out.
     */
    DistillTrainer.Result distill(PolicyLm policy, Sampled data, double[] lambda, long seed, String label) {
        return distill(policy, data, lambda, defaultSchedule(), seed, label);
    }

    /**
     * The fine-tuner's whole distillation step: round 1 on {@code first} (the reference's responses),
     * each later round on the policy's own responses to fresh prompts, importance-weighted, from the
     * weights so far ({@code finetune.distill.rounds}).
     *
     * @return each round's result
     */
    List<DistillTrainer.Result> distillRounds(PolicyLm policy, Sampled first, double[] lambda, int rounds, long seed,
            String label) {
        return distillRounds(policy, first, lambda, rounds, x -> x, seed, label);
    }

    /** As above, each later round's samples rescored by {@code rescore} (PeCAN's implicit models). */
    List<DistillTrainer.Result> distillRounds(PolicyLm policy, Sampled first, double[] lambda, int rounds,
            java.util.function.UnaryOperator<Sampled> rescore, long seed, String label) {
        List<DistillTrainer.Result> out = new ArrayList<>();
        Sampled data = first;
        for (int r = 1; r <= rounds; r++) {
            if (r > 1) {
                data = rescore.apply(sample(policy, prompts(first.prompts().size(), stream(seed, 40 + r)), first.k(), seed * 31L + r,
                        label + " round " + r + " samples"));
            }
            out.add(distill(policy, data, lambda, defaultSchedule(), seed + r - 1, label + " round " + r));
        }
        return out;
    }

    DistillTrainer.Result distill(PolicyLm policy, Sampled data, double[] lambda, Schedule schedule, long seed, String label) {
        FineTuneSettings.Distill d = FineTuneSettings.defaults(utilities, BETA).distill();
        int k = data.k();
        int prompts = data.prompts().size();
        int heldFrom = prompts - Math.max(1, (int) Math.round(prompts * d.heldOut()));
        List<DistillTrainer.Example> train = new ArrayList<>();
        List<DistillTrainer.Example> held = new ArrayList<>();
        double[] logRef = new double[k];
        double ess = 0;
        for (int p = 0; p < prompts; p++) {
            double[] s = new double[k];
            double[] logSampler = new double[k];
            boolean[] ends = new boolean[k];
            List<int[]> responses = new ArrayList<>(k);
            for (int q = 0; q < k; q++) {
                int i = p * k + q;
                responses.add(data.tokens[i]);
                // a response cut at the token limit is learnt as the prefix it is (no EOS): what the limit serves
                ends[q] = data.tokens[i].length < MAX_TOKENS;
                s[q] = data.score(i, utilities, lambda);
                logSampler[q] = data.logRatio[i]; // log π_q − log π_ref: 0 for the reference's own responses
            }
            double[] w = TiltWeights.fromSampler(s, BETA, logRef, logSampler);
            ess += TiltWeights.effectiveSize(w);
            (p < heldFrom ? train : held).addAll(DistillTrainer.group(p, data.promptIds[p], responses, ends, w, d.minWeight()));
        }
        FineTuneSettings fs = FineTuneSettings.defaults(utilities, BETA);
        progress.stage(label, schedule.maxEpochs() * ((train.size() + fs.batchSize() - 1) / fs.batchSize()));
        DistillTrainer.Result r = DistillTrainer.train(policy, reference, train, held, new DistillTrainer.Options(
                schedule.maxEpochs(), fs.batchSize(), schedule.learningRate(), schedule.checksPerEpoch(), schedule.patience(),
                fs.maxKl(), 64, MAX_TOKENS, seed), progress::advance);
        progress.finish(String.format("%d weighted samples (effective %.1f of %d per prompt), check %d of %d kept, "
                + "held-out loss %.3f → %.3f, KL %.2f", train.size(), ess / prompts, k, r.bestCheck(), r.checks(),
                r.heldOutBefore(), r.heldOutLoss(), r.kl()));
        return r;
    }

    @Override
    public void close() {
        scorers.close();
        reference.close();
        tokenizer.close();
    }
}
