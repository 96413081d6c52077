package dev.dualign.model;

import ai.djl.pytorch.jni.JniUtils;

/**
 * Turns PyTorch's gradient recording off for the calling thread while an inference runs, and back
 * to what it was when it closes. PyTorch keeps grad mode per thread and DJL turns it off only on the
 * thread that loads the engine, so on every other thread (the chat batcher, HTTP workers, Flink's
 * task threads) each op of a forward pass recorded an autograd graph against the parameters, and
 * generation ran about a third slower there than on the main thread (docs/benchmarks.md). Inside a
 * gradient collector it turns recording off too: a wrapped call gives no gradients, by design
 * (training goes through the trainer's forward, never through these), and the collector's mode
 * is back when it closes.
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
        JniUtils.setGradMode(was); // exactly what it found, whatever ran inside
    }
}
