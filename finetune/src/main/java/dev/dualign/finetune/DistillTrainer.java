package dev.dualign.finetune;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.Trainer;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import dev.dualign.model.Gradients;
import dev.dualign.model.lm.Generation;
import dev.dualign.model.lm.MaskedTokenNll;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.lm.Sampling;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The policy step by distillation (docs/mathematics.md, §4; decision 29): minimise the weighted
 * sequence NLL −Σ w·log π_θ(y|x) over K sampled responses per prompt, the weights
 * ({@link dev.dualign.core.dual.TiltWeights}) making them a sample of π_λ ∝ π_ref·exp(s/β). Its
 * optimum is π_λ itself (a forward KL(π_λ‖π_θ) fit), so, unlike DPO on pairs, nothing lets the
 * policy wander where no sample was drawn. A held-out loss picks the epoch (early stopping, the
 * best weights restored) and a KL(π_θ‖π_ref) estimate is logged every epoch; beyond the bound
 * training stops with an error and nothing is published.
 */
public final class DistillTrainer {
    private static final Logger LOG = LoggerFactory.getLogger(DistillTrainer.class);

    /**
     * One weighted sample of the target.
     *
     * @param group the prompt it answers (examples of one prompt share it; weights of a group sum to 1)
     * @param prompt prompt tokens
     * @param response response tokens (EOS excluded)
     * @param weight its share of the prompt's target π_λ(·|x)
     * @param ends whether the response ended (EOS); one cut at the token limit is learnt as the
     *     prefix it is: what a server with that limit answers
     */
    public record Example(int group, int[] prompt, int[] response, double weight, boolean ends) {
        public Example(int group, int[] prompt, int[] response, double weight) {
            this(group, prompt, response, weight, true);
        }
    }

    /**
     * @param maxEpochs most passes over the examples
     * @param batchSize examples per step
     * @param learningRate Adam step size
     * @param checksPerEpoch held-out checks per pass (each may stop training and keep the best weights so far)
     * @param patience checks without a better held-out loss before stopping
     * @param maxKl a KL(π_θ‖π_ref) estimate beyond this is divergence: training stops with an error
     * @param klPrompts held-out prompts answered once each, per epoch, for the KL estimate
     * @param maxTokens longest response sampled for the KL estimate
     * @param seed shuffling and sampling seed
     */
    public record Options(int maxEpochs, int batchSize, float learningRate, int checksPerEpoch, int patience, double maxKl,
            int klPrompts, int maxTokens, long seed) {}

    /**
     * @param steps optimiser steps taken
     * @param checks held-out checks made after training started
     * @param bestCheck the check whose weights were kept (0: none beat the starting weights)
     * @param trainLoss weighted NLL per prompt since the last check
     * @param heldOutBefore held-out weighted NLL per prompt of the starting weights
     * @param heldOutLoss held-out weighted NLL per prompt of the kept weights
     * @param kl KL(π_θ‖π_ref) estimate of the kept weights (mean log π_θ/π_ref of its own responses)
     * @param heldOutCurve held-out loss at each check (index 0: before training)
     * @param klCurve KL estimate at each check (index 0: before training)
     */
    public record Result(int steps, int checks, int bestCheck, double trainLoss, double heldOutBefore, double heldOutLoss,
            double kl, List<Double> heldOutCurve, List<Double> klCurve) {}

    private DistillTrainer() {}

    /**
     * One prompt's K samples as examples: those weighing less than {@code minWeight} are left out
     * (they cost a forward pass and teach almost nothing) and the rest renormalised.
     */
    public static List<Example> group(int group, int[] prompt, List<int[]> responses, double[] weights, double minWeight) {
        boolean[] ends = new boolean[responses.size()];
        java.util.Arrays.fill(ends, true);
        return group(group, prompt, responses, ends, weights, minWeight);
    }

    /** As above, with whether each response ended. */
    public static List<Example> group(int group, int[] prompt, List<int[]> responses, boolean[] ends, double[] weights,
            double minWeight) {
        double kept = 0;
        for (double w : weights) {
            kept += w >= minWeight ? w : 0;
        }
        List<Example> out = new ArrayList<>();
        if (!(kept > 0)) {
            return out;
        }
        for (int i = 0; i < weights.length; i++) {
            if (weights[i] >= minWeight) {
                out.add(new Example(group, prompt, responses.get(i), weights[i] / kept, ends[i]));
            }
        }
        return out;
    }

    public static Result train(PolicyLm policy, PolicyLm reference, List<Example> train, List<Example> heldOut, Options o,
            IntConsumer progress) {
        if (train.isEmpty() || heldOut.isEmpty()) {
            throw new IllegalArgumentException("distillation needs training and held-out examples");
        }
        DefaultTrainingConfig cfg = new DefaultTrainingConfig(new MaskedTokenNll())
                .optOptimizer(Optimizer.adam().optClipGrad(1f).optLearningRateTracker(Tracker.fixed(o.learningRate())).build())
                .optDevices(new ai.djl.Device[] {policy.model().getNDManager().getDevice()});
        List<int[]> klPrompts = distinctPrompts(heldOut, o.klPrompts());
        double trainGroups = groups(train);
        List<Double> curve = new ArrayList<>();
        List<Double> klCurve = new ArrayList<>();
        curve.add(heldOutLoss(policy, heldOut));
        klCurve.add(kl(policy, reference, klPrompts, o, 0));
        double best = curve.get(0);
        int bestCheck = 0;
        byte[] bestWeights = snapshot(policy.model().getBlock());
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < train.size(); i++) {
            order.add(i);
        }
        int perEpoch = (train.size() + o.batchSize() - 1) / o.batchSize();
        int checkEvery = Math.max(1, (perEpoch + o.checksPerEpoch() - 1) / o.checksPerEpoch());
        Random rnd = new Random(o.seed());
        int steps = 0;
        int check = 0;
        double sum = 0;
        int since = 0;
        double lastLoss = Double.NaN;
        try (Trainer trainer = policy.model().newTrainer(cfg)) {
            training:
            for (int epoch = 1; epoch <= o.maxEpochs(); epoch++) {
                Collections.shuffle(order, rnd);
                for (int from = 0; from < order.size(); from += o.batchSize()) {
                    List<Example> batch = order.subList(from, Math.min(order.size(), from + o.batchSize())).stream()
                            .map(train::get).toList();
                    float[] w = new float[batch.size()];
                    double wSum = 0;
                    for (int k = 0; k < w.length; k++) {
                        w[k] = (float) batch.get(k).weight();
                        wSum += w[k];
                    }
                    float scale = (float) (1 / Math.max(wSum, 1e-12));
                    try (NDManager m = trainer.getManager().newSubManager()) {
                        float value = Gradients.backward(trainer, policy.model().getBlock(), () -> policy.sequenceLogProbs(m,
                                batch.stream().map(Example::prompt).toList(), batch.stream().map(Example::response).toList(),
                                ends(batch), trainer::forward).mul(m.create(w)).sum().mul(-scale), "distillation", steps + 1);
                        sum += value * wSum;
                    }
                    trainer.step();
                    progress.accept(++steps);
                    since++;
                    boolean last = from + o.batchSize() >= order.size();
                    if (steps % checkEvery != 0 && !(last && epoch == o.maxEpochs())) {
                        continue;
                    }
                    check++;
                    lastLoss = sum * perEpoch / (since * trainGroups); // per prompt, as if over a whole pass
                    sum = 0;
                    since = 0;
                    double held = heldOutLoss(policy, heldOut);
                    double kl = kl(policy, reference, klPrompts, o, check);
                    curve.add(held);
                    klCurve.add(kl);
                    LOG.info("distillation check {} (epoch {}, step {}): train loss {}, held-out loss {}, KL(π_θ‖π_ref) ≈ {} nats",
                            check, epoch, steps, String.format("%.4f", lastLoss), String.format("%.4f", held),
                            String.format("%.3f", kl));
                    if (!(Math.abs(kl) <= o.maxKl())) {
                        throw new IllegalStateException(String.format("distillation moved the policy too far from the reference: "
                                + "KL(π_θ‖π_ref) ≈ %.3f exceeds the bound %.3f", kl, o.maxKl()));
                    }
                    if (held < best) {
                        best = held;
                        bestCheck = check;
                        bestWeights = snapshot(policy.model().getBlock());
                    } else if (check - bestCheck >= o.patience()) {
                        break training;
                    }
                }
            }
        }
        if (bestCheck != check) {
            restore(policy, bestWeights);
        }
        return new Result(steps, check, bestCheck, lastLoss, curve.get(0), best, klCurve.get(bestCheck), List.copyOf(curve),
                List.copyOf(klCurve));
    }

    /** Weighted NLL per prompt, −(1/#prompts)·Σ w·log π_θ(y|x): the cross-entropy of the target under π_θ. */
    static double heldOutLoss(PolicyLm policy, List<Example> examples) {
        double sum = 0;
        for (int from = 0; from < examples.size(); from += 128) {
            List<Example> chunk = examples.subList(from, Math.min(examples.size(), from + 128));
            double[] lp = policy.logProbs(chunk.stream().map(Example::prompt).toList(), chunk.stream().map(Example::response).toList(),
                    ends(chunk));
            for (int k = 0; k < lp.length; k++) {
                sum -= chunk.get(k).weight() * lp[k];
            }
        }
        return sum / groups(examples);
    }

    /** Mean log π_θ/π_ref of π_θ's own responses, one per prompt: an unbiased KL(π_θ‖π_ref) estimate. */
    static double kl(PolicyLm policy, PolicyLm reference, List<int[]> prompts, Options o, int epoch) {
        if (prompts.isEmpty()) {
            return 0;
        }
        List<Generation> g = policy.generate(prompts, Sampling.plain(o.maxTokens(), o.seed() * 31 + epoch), reference);
        return g.stream().mapToDouble(x -> x.logprob() - x.refLogprob()).average().orElse(0);
    }

    private static boolean[] ends(List<Example> examples) {
        boolean[] e = new boolean[examples.size()];
        for (int i = 0; i < e.length; i++) {
            e[i] = examples.get(i).ends();
        }
        return e;
    }

    private static double groups(List<Example> examples) {
        return examples.stream().mapToInt(Example::group).distinct().count();
    }

    private static List<int[]> distinctPrompts(List<Example> examples, int n) {
        Map<Integer, int[]> byGroup = new LinkedHashMap<>();
        for (Example e : examples) {
            if (byGroup.size() >= n) {
                break;
            }
            byGroup.putIfAbsent(e.group(), e.prompt());
        }
        return new ArrayList<>(byGroup.values());
    }

    static byte[] snapshot(Block block) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            block.saveParameters(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    static void restore(PolicyLm policy, byte[] weights) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(weights))) {
            Block block = policy.model().getBlock();
            block.loadParameters(policy.model().getNDManager(), in);
            // loaded arrays are new arrays: without this a later training of the same policy has no gradient
            block.getParameters().values().forEach(p -> p.getArray().setRequiresGradient(true));
        } catch (IOException | MalformedModelException e) {
            throw new IllegalStateException("could not restore the best distilled weights", e);
        }
    }
}
