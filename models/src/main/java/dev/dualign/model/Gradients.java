package dev.dualign.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.nn.Block;

/**
 * Gradient housekeeping for our training loops. DJL's {@code GradientCollector.zeroGradients()}
 * resets a gradient by subtracting it from itself, which turns a gradient that ever held ±∞ into
 * NaN for good; we fill with zeros instead, and check gradients are finite before a step so a bad
 * batch never reaches the weights.
 */
public final class Gradients {
    /** Attempts at one batch before a non-finite loss or gradient counts as divergence. */
    static final int ATTEMPTS = 3;

    private Gradients() {}

    /** Computes a batch's loss (forward, inside the collector) and returns it. */
    @FunctionalInterface
    public interface LossFunction {
        NDArray loss();
    }

    /**
     * Zeroes the gradients, runs {@code loss} and backward in a fresh collector, and returns the loss
     * once it and every gradient are finite. Non-finite results are rare and transient here (seen at
     * random steps, never twice in a row), so the same batch is redone, which gives exactly the
     * gradient a clean run gets and keeps training deterministic; a batch that stays non-finite
     * {@link #ATTEMPTS} times is divergence.
     */
    public static float backward(ai.djl.training.Trainer trainer, Block block, LossFunction loss, String what, int step) {
        float value = Float.NaN;
        for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
            try (ai.djl.training.GradientCollector gc = trainer.newGradientCollector()) {
                zero(block); // not gc.zeroGradients(): see the class comment
                NDArray l = loss.loss();
                value = l.getFloat();
                if (Float.isFinite(value)) {
                    gc.backward(l);
                }
            }
            if (Float.isFinite(value) && finite(block)) {
                return value;
            }
        }
        throw new IllegalStateException(what + " diverged at step " + step + " (loss " + value
                + " or a gradient stayed non-finite over " + ATTEMPTS + " attempts); lower the learning rate");
    }

    public static void zero(Block block) {
        for (var p : block.getParameters()) {
            NDArray a = p.getValue().getArray();
            if (a.hasGradient()) {
                try (NDArray g = a.getGradient()) {
                    g.set(new NDIndex("..."), 0f);
                }
            }
        }
    }

    public static boolean finite(Block block) {
        for (var p : block.getParameters()) {
            NDArray a = p.getValue().getArray();
            if (a.hasGradient()) {
                try (NDArray g = a.getGradient(); NDArray bad = g.isNaN().logicalOr(g.isInfinite()).any()) {
                    if (bad.getBoolean()) {
                        return false;
                    }
                }
            }
        }
        return true;
    }
}
