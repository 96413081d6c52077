package dev.dualign.model;

import ai.djl.pytorch.jni.JniUtils;

/**
 * Turns PyTorch's gradient recording off for the calling thread while an inference runs, and back
 * to what it was when it closes. PyTorch keeps grad mode per thread and DJL turns it off only on the
 * thread that loads the engine, so on every other thread (the chat batcher, HTTP workers, Flink's
 * task threads) each op of a forward pass recorded an autograd graph against the parameters, and
 * generation ran about a third slower there than on the main thread (docs/benchmarks.md). Inside a
 * training step (grad on, by DJL's gradient collector) it is a no-op that restores nothing wrongly.
 */
public final class NoGrad implements AutoCloseable {
    private final boolean was;

    private NoGrad() {
        was = JniUtils.isGradMode();
        if (was) {
            JniUtils.setGradMode(false);
        }
    }

    /** Grad mode off on this thread until {@link #close()}. */
    public static NoGrad enter() {
        return new NoGrad();
    }

    @Override
    public void close() {
        if (was) {
            JniUtils.setGradMode(true);
        }
    }
}
