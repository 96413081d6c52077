package dev.dualign.model.lm;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.function.IntConsumer;

/**
 * Maximum-likelihood training of the policy on (prompt, response) pairs: the reference policy is
 * the model of the reference corpus. Deterministic for a seed and a thread count.
 */
public final class LmTraining {
    /**
     * @param epochs passes over the training pairs
     * @param batchSize pairs per step
     * @param learningRate Adam step size
     * @param seed shuffling seed
     */
    public record Options(int epochs, int batchSize, float learningRate, long seed) {}

    /**
     * @param steps optimiser steps taken
     * @param trainLoss mean token NLL of the last epoch
     * @param heldOutPerplexity exp(mean token NLL) on the held-out pairs
     */
    public record Result(int steps, double trainLoss, double heldOutPerplexity) {}

    private LmTraining() {}

    public static Result train(PolicyLm lm, List<int[][]> train, List<int[][]> heldOut, Options o, IntConsumer progress) {
        MaskedTokenNll loss = new MaskedTokenNll();
        DefaultTrainingConfig cfg = new DefaultTrainingConfig(loss)
                .optOptimizer(Optimizer.adam().optClipGrad(1f).optLearningRateTracker(Tracker.fixed(o.learningRate())).build())
                .optDevices(new ai.djl.Device[] {lm.model().getNDManager().getDevice()});
        List<int[][]> order = new ArrayList<>(train);
        Random rnd = new Random(o.seed());
        int steps = 0;
        double lastEpochLoss = Double.NaN;
        try (Trainer trainer = lm.model().newTrainer(cfg)) {
            for (int epoch = 0; epoch < o.epochs(); epoch++) {
                Collections.shuffle(order, rnd);
                double sum = 0;
                int batches = 0;
                for (int from = 0; from < order.size(); from += o.batchSize()) {
                    List<int[][]> chunk = order.subList(from, Math.min(order.size(), from + o.batchSize()));
                    try (NDManager m = trainer.getManager().newSubManager()) {
                        LmBatch batch = LmBatch.of(m, chunk.stream().map(x -> x[0]).toList(),
                                chunk.stream().map(x -> x[1]).toList(), true, lm.config().maxLen());
                        float value = dev.dualign.model.Gradients.backward(trainer, lm.model().getBlock(), () -> {
                            NDArray logp = trainer.forward(batch.inputs()).head();
                            return loss.evaluate(new NDList(batch.targets, batch.mask), new NDList(logp));
                        }, "policy training", steps + 1);
                        sum += value;
                        trainer.step();
                    }
                    batches++;
                    steps++;
                    progress.accept(steps);
                }
                lastEpochLoss = sum / Math.max(1, batches);
            }
        }
        return new Result(steps, lastEpochLoss, perplexity(lm, heldOut));
    }

    /** exp(mean NLL per response token, EOS included). */
    public static double perplexity(PolicyLm lm, List<int[][]> pairs) {
        double nll = 0;
        long tokens = 0;
        for (int from = 0; from < pairs.size(); from += 128) {
            List<int[][]> chunk = pairs.subList(from, Math.min(pairs.size(), from + 128));
            try (dev.dualign.model.NoGrad g = dev.dualign.model.NoGrad.enter(); NDManager m = lm.model().getNDManager().newSubManager()) {
                LmBatch batch = LmBatch.of(m, chunk.stream().map(x -> x[0]).toList(), chunk.stream().map(x -> x[1]).toList(),
                        true, lm.config().maxLen());
                NDArray logp = lm.forward(new ParameterStore(m, false), batch.inputs(), false).head();
                nll -= batch.sequenceLogProbs(logp).sum().getFloat();
                tokens += (long) batch.tokenCount().getFloat();
            }
        }
        return Math.exp(nll / Math.max(1, tokens));
    }
}
