/**
 * The Flink alignment job, alone: batched scoring, the one per-version estimator, the canary judge
 * and the dual controller's shell, wired by {@link dev.dualign.streaming.AlignmentJob}. The rules
 * they apply live in {@code dev.dualign.core.control}; the command line is in the app module.
 */
package dev.dualign.streaming;
