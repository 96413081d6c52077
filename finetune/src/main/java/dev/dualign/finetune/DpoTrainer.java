package dev.dualign.finetune;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.Trainer;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import dev.dualign.model.Gradients;
import dev.dualign.model.lm.MaskedTokenNll;
import dev.dualign.model.lm.PolicyLm;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.function.IntConsumer;

/**
 * The policy step for a given λ (docs/mathematics.md, §4): DPO on pseudo-preferences. For two
 * responses to a prompt the label is p = σ((s₁ − s₂)/β) with s = r + λ·g, used softly, and the loss is
 * −[p·log σ(Δ) + (1 − p)·log σ(−Δ)] with Δ = log π_θ/π_ref(y₁) − log π_θ/π_ref(y₂); π_ref is
 * frozen. β enters once, in the label: the loss is then minimised at Δ = (s₁ − s₂)/β, i.e. at
 * π ∝ π_ref·exp((r + λ·g)/β), the policy whose expectation the dual prices (docs/mathematics.md, §2). (Writing
 * β both in the label and as σ(β·Δ) would aim at exp(s/β²), a ten times sharper tilt at β = 0.1,
 * and the one-shot λ* would no longer describe the trained policy.) A loss or gradient that stays non-finite ({@link Gradients#backward}) or a KL to the
 * reference beyond the bound stops training with an error, so a diverged policy is never published.
 */
public final class DpoTrainer {
    /**
     * @param beta the KL weight β: the temperature of the pseudo-labels
     * @param epochs passes over the pairs
     * @param batchSize pairs per step
     * @param learningRate Adam step size
     * @param maxKl bound on the mean log π_θ/π_ref of the preferred responses; beyond it training stops
     * @param seed shuffling seed
     */
    public record Options(double beta, int epochs, int batchSize, float learningRate, double maxKl, long seed) {}

    /**
     * @param steps optimiser steps
     * @param finalLoss mean loss of the last epoch
     * @param meanLogRatio mean log π_θ/π_ref over the pairs' responses at the end (a KL proxy)
     */
    public record Result(int steps, double finalLoss, double meanLogRatio) {}

    private DpoTrainer() {}

    public static Result train(PolicyLm policy, PolicyLm reference, List<PreferencePair> pairs, Options o, IntConsumer progress) {
        // reference log-probabilities are fixed: compute them once, without gradients
        double[] ref1 = reference.logProbs(pairs.stream().map(PreferencePair::prompt).toList(),
                pairs.stream().map(PreferencePair::first).toList());
        double[] ref2 = reference.logProbs(pairs.stream().map(PreferencePair::prompt).toList(),
                pairs.stream().map(PreferencePair::second).toList());
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < pairs.size(); i++) {
            order.add(i);
        }
        DefaultTrainingConfig cfg = new DefaultTrainingConfig(new MaskedTokenNll())
                .optOptimizer(Optimizer.adam().optClipGrad(1f).optLearningRateTracker(Tracker.fixed(o.learningRate())).build())
                .optDevices(new ai.djl.Device[] {policy.model().getNDManager().getDevice()});
        Random rnd = new Random(o.seed());
        int steps = 0;
        double lastLoss = Double.NaN;
        double logRatio = 0;
        try (Trainer trainer = policy.model().newTrainer(cfg)) {
            for (int epoch = 0; epoch < o.epochs(); epoch++) {
                Collections.shuffle(order, rnd);
                double sum = 0;
                int batches = 0;
                double ratioSum = 0;
                int ratioN = 0;
                for (int from = 0; from < order.size(); from += o.batchSize()) {
                    List<Integer> idx = order.subList(from, Math.min(order.size(), from + o.batchSize()));
                    List<int[]> prompts = idx.stream().map(i -> pairs.get(i).prompt()).toList();
                    float[] r1 = new float[idx.size()];
                    float[] r2 = new float[idx.size()];
                    float[] label = new float[idx.size()];
                    for (int k = 0; k < idx.size(); k++) {
                        PreferencePair p = pairs.get(idx.get(k));
                        r1[k] = (float) ref1[idx.get(k)];
                        r2[k] = (float) ref2[idx.get(k)];
                        label[k] = (float) (1 / (1 + Math.exp(-(p.firstScore() - p.secondScore()) / o.beta())));
                    }
                    try (NDManager m = trainer.getManager().newSubManager()) {
                        NDArray[] ratios = new NDArray[2];
                        float value = Gradients.backward(trainer, policy.model().getBlock(), () -> {
                            NDArray lp1 = policy.sequenceLogProbs(m, prompts, idx.stream().map(i -> pairs.get(i).first()).toList(),
                                    trainer::forward);
                            NDArray lp2 = policy.sequenceLogProbs(m, prompts, idx.stream().map(i -> pairs.get(i).second()).toList(),
                                    trainer::forward);
                            ratios[0] = lp1.sub(m.create(r1));
                            ratios[1] = lp2.sub(m.create(r2));
                            NDArray z = ratios[0].sub(ratios[1]);
                            NDArray p = m.create(label);
                            // −[p log σ(z) + (1 − p) log σ(−z)], with log σ(x) = −softplus(−x)
                            return p.mul(softplus(z.neg())).add(p.neg().add(1f).mul(softplus(z))).mean();
                        }, "DPO", steps + 1);
                        sum += value;
                        float[] a = ratios[0].toFloatArray();
                        float[] b = ratios[1].toFloatArray();
                        for (int k = 0; k < a.length; k++) {
                            ratioSum += a[k] + b[k];
                            ratioN += 2;
                        }
                    }
                    trainer.step();
                    batches++;
                    progress.accept(++steps);
                }
                lastLoss = sum / Math.max(1, batches);
                logRatio = ratioSum / Math.max(1, ratioN);
                if (Math.abs(logRatio) > o.maxKl()) {
                    throw new IllegalStateException(String.format("DPO moved the policy too far from the reference: mean log "
                            + "π/π_ref = %.3f exceeds the bound %.3f", logRatio, o.maxKl()));
                }
            }
        }
        return new Result(steps, lastLoss, logRatio);
    }

    /** softplus(x) = log(1 + e^x), computed stably as max(x, 0) + log(1 + e^−|x|). */
    private static NDArray softplus(NDArray x) {
        return x.maximum(0f).add(x.abs().neg().exp().add(1f).log());
    }
}
