package dev.dualign.finetune;

import dev.dualign.core.control.PolicyStepGate;
import dev.dualign.core.dual.TiltWeights;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.model.lm.Generation;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.lm.Sampling;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.model.scorer.ScorerSet;
import dev.dualign.model.text.WordTokenizer;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntConsumer;

/**
 * {@link FineTuner}'s distillation step (decision 29): K responses to each recent live prompt, from
 * π_ref (or from the serving version, weighted with the importance ratio), weighted towards π_λ,
 * distilled into the policy by {@link DistillTrainer}, and then gated: the version's L = E s − β·KL
 * on held-out prompts must not fall below the stable version's or π_ref's ({@link PolicyStepGate}).
 */
final class DistillStep {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(DistillStep.class);
    /** Responses per held-out prompt for each policy's L estimate at the gate. */
    static final int GATE_SAMPLES = 4;

    /** What the step did: the metrics for the manifest and the gate's verdict. */
    record Outcome(Map<String, Double> metrics, PolicyStepGate.Verdict verdict, int prompts) {}

    private final FineTuneSettings settings;
    private final WordTokenizer tokenizer;
    private final ScorerSet scorers;
    private final PolicyLm reference;

    DistillStep(FineTuneSettings settings, WordTokenizer tokenizer, ScorerSet scorers, PolicyLm reference) {
        this.settings = settings;
        this.tokenizer = tokenizer;
        this.scorers = scorers;
        this.reference = reference;
    }

    /**
     * @param policy the weights to train, in place
     * @param sampler the policy the K responses are drawn from; the reference, or the serving version
     * @param stable the version serving now, for the gate (the reference when none other is)
     * @throws FineTuner.NotEnoughData when fewer than {@code minPairs} prompts can be used
     */
    Outcome run(PolicyLm policy, PolicyLm sampler, PolicyLm stable, List<ScoredSample> data, Map<String, Double> lambda,
            IntConsumer progress) {
        FineTuneSettings.Distill d = settings.distill();
        List<int[]> prompts = prompts(data);
        if (prompts.size() < settings.minPairs()) {
            throw new FineTuner.NotEnoughData(prompts.size() + " usable prompts, " + settings.minPairs() + " needed");
        }
        int heldFrom = prompts.size() - Math.max(1, (int) Math.round(prompts.size() * d.heldOut()));
        DistillTrainer.Result r = null;
        int trained = 0;
        int steps = 0;
        double firstBefore = Double.NaN;
        double essSum = 0;
        for (int round = 1; round <= d.rounds(); round++) {
            // round 1 samples the given policy; each later round the policy trained so far, nearer π_λ, so the
            // importance weights are flatter (more of the K samples count) while their target stays π_λ
            PolicyLm from = round == 1 ? sampler : policy;
            List<DistillTrainer.Example> train = new ArrayList<>();
            List<DistillTrainer.Example> held = new ArrayList<>();
            essSum = weighted(from, prompts, heldFrom, lambda, round, train, held);
            if (train.isEmpty() || held.isEmpty()) {
                throw new FineTuner.NotEnoughData("no weighted samples to distil (every response cut at the token limit?)");
            }
            int before = steps;
            r = DistillTrainer.train(policy, reference, train, held, new DistillTrainer.Options(d.maxEpochs(),
                    settings.batchSize(), d.learningRate(), FineTuneSettings.Distill.CHECKS_PER_EPOCH, d.patience(),
                    settings.maxKl(), 64, settings.maxTokens(), settings.seed() + round - 1), x -> progress.accept(before + x));
            trained += train.size();
            steps += r.steps();
            if (round == 1) {
                firstBefore = r.heldOutBefore();
            }
            LOG.info("distillation round {} of {}: {} weighted samples, effective {} of {} per prompt, held-out loss {} → {}",
                    round, d.rounds(), train.size(), String.format("%.1f", essSum / prompts.size()), d.samples(),
                    String.format("%.4f", r.heldOutBefore()), String.format("%.4f", r.heldOutLoss()));
        }
        List<int[]> gatePrompts = prompts.subList(heldFrom, prompts.size());
        PolicyStepGate.Estimate cand = estimate(policy, gatePrompts, lambda, 1);
        PolicyStepGate.Estimate ref = estimate(reference, gatePrompts, lambda, 2);
        PolicyStepGate.Estimate st = stable == reference ? ref : estimate(stable, gatePrompts, lambda, 3);
        PolicyStepGate.Verdict v = PolicyStepGate.judge(cand, st, ref, settings.beta(), d.publishTolerance());
        Map<String, Double> m = new TreeMap<>();
        m.put("loss", r.heldOutLoss());
        m.put("heldOutLossBefore", firstBefore); // the starting weights', before round 1
        m.put("heldOutLossBeforeLastRound", r.heldOutBefore()); // loss, kl, checks: the last round's
        m.put("trainLoss", r.trainLoss());
        m.put("checks", (double) r.checks());
        m.put("bestCheck", (double) r.bestCheck());
        m.put("steps", (double) steps);
        m.put("kl", r.kl());
        m.put("meanLogRatio", cand.kl());
        m.put("prompts", (double) prompts.size());
        m.put("weightedSamples", (double) trained);
        m.put("rounds", (double) d.rounds());
        m.put("meanEffectiveSamples", essSum / prompts.size()); // of the last round
        m.put("lagrangian", v.candidate());
        m.put("lagrangianBar", v.bar());
        m.put("lagrangianReference", ref.lagrangian(settings.beta()));
        m.put("eval.s", cand.meanScore());
        return new Outcome(m, v, prompts.size());
    }

    /**
     * K responses of {@code sampler} to each prompt, weighted as a sample of π_λ (with the
     * importance ratio π_ref/π_sampler unless the sampler is the reference), into {@code train}
     * and, from prompt {@code heldFrom} on, {@code held}.
     *
     * @return the sum over prompts of the weights' effective sample size
     */
    private double weighted(PolicyLm sampler, List<int[]> prompts, int heldFrom, Map<String, Double> lambda, int round,
            List<DistillTrainer.Example> train, List<DistillTrainer.Example> held) {
        FineTuneSettings.Distill d = settings.distill();
        boolean fromReference = sampler == reference;
        double essSum = 0;
        for (int from = 0; from < prompts.size(); from += 32) {
            List<int[]> chunk = prompts.subList(from, Math.min(prompts.size(), from + 32));
            List<int[]> rows = new ArrayList<>();
            for (int[] p : chunk) {
                for (int k = 0; k < d.samples(); k++) {
                    rows.add(p);
                }
            }
            List<Generation> gens = sampler.generate(rows, Sampling.plain(settings.maxTokens(),
                    settings.seed() + from + 1_000_003L * (round - 1)), reference);
            double[] s = scores(rows, gens, lambda);
            for (int p = 0; p < chunk.size(); p++) {
                int k0 = p * d.samples();
                double[] sp = new double[d.samples()];
                double[] logRef = new double[d.samples()];
                double[] logQ = new double[d.samples()];
                boolean[] ends = new boolean[d.samples()];
                List<int[]> responses = new ArrayList<>();
                for (int k = 0; k < d.samples(); k++) {
                    Generation g = gens.get(k0 + k);
                    // a response cut at the limit is learnt as the prefix it is, without EOS: what the limit serves
                    ends[k] = g.stopped();
                    sp[k] = s[k0 + k];
                    logRef[k] = g.refLogprob();
                    logQ[k] = g.logprob();
                    responses.add(g.tokens());
                }
                double[] w = fromReference ? TiltWeights.fromReference(sp, settings.beta())
                        : TiltWeights.fromSampler(sp, settings.beta(), logRef, logQ);
                essSum += TiltWeights.effectiveSize(w);
                int group = from + p;
                (group < heldFrom ? train : held).addAll(DistillTrainer.group(group, chunk.get(p), responses, ends, w,
                        d.minWeight()));
            }
        }
        return essSum;
    }

    /** E s and the KL estimate of a policy's own responses, {@link #GATE_SAMPLES} per prompt. */
    private PolicyStepGate.Estimate estimate(PolicyLm p, List<int[]> prompts, Map<String, Double> lambda, long salt) {
        List<int[]> rows = new ArrayList<>();
        for (int[] x : prompts) {
            for (int k = 0; k < GATE_SAMPLES; k++) {
                rows.add(x);
            }
        }
        List<Generation> gens = p.generate(rows, Sampling.plain(settings.maxTokens(), settings.seed() * 101 + salt), reference);
        double[] s = scores(rows, gens, lambda);
        double sum = 0;
        double kl = 0;
        for (int i = 0; i < s.length; i++) {
            sum += s[i];
            kl += p == reference ? 0 : gens.get(i).logprob() - gens.get(i).refLogprob();
        }
        return new PolicyStepGate.Estimate(sum / s.length, kl / s.length);
    }

    private double[] scores(List<int[]> prompts, List<Generation> gens, Map<String, Double> lambda) {
        List<Scorer.PromptResponse> batch = new ArrayList<>();
        for (int i = 0; i < gens.size(); i++) {
            batch.add(new Scorer.PromptResponse(tokenizer.decode(prompts.get(i)), tokenizer.decode(gens.get(i).tokens())));
        }
        Map<String, double[]> sc = scorers.score(batch);
        double[] s = new double[gens.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = sc.get(ModelNames.REWARD)[i];
            for (Map.Entry<String, Double> l : lambda.entrySet()) {
                s[i] += l.getValue() * sc.get(l.getKey())[i];
            }
        }
        return s;
    }

    /** The most recent distinct live prompts (newest first) that leave room for a response. */
    private List<int[]> prompts(List<ScoredSample> data) {
        LinkedHashSet<String> texts = new LinkedHashSet<>();
        for (int i = data.size() - 1; i >= 0 && texts.size() < settings.maxPairs(); i--) {
            if (data.get(i).prompt() != null) {
                texts.add(data.get(i).prompt());
            }
        }
        List<int[]> out = new ArrayList<>();
        for (String t : texts) {
            int[] ids = tokenizer.encode(t);
            if (ids.length + settings.maxTokens() + 3 <= reference.config().maxLen()) {
                out.add(ids);
            }
        }
        return out;
    }
}
