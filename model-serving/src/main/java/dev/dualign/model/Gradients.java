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
    private Gradients() {}

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
