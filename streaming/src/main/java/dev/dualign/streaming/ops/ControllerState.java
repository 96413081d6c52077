package dev.dualign.streaming.ops;

/**
 * The dual controller's state.
 *
 * @param lambda λ per constraint, in configuration order
 * @param step dual steps taken
 * @param awaiting the policy version whose estimate the next iterative step waits for (−1: any)
 * @param lastStepped the last version that moved λ (−1: none)
 * @param oneShotDone whether the one-shot solve has run
 * @param batchSums primal-dual: per-constraint sum of the current mini-batch
 * @param batchCount primal-dual: samples in the current mini-batch
 * @param latestVersion the newest policy version seen
 */
public record ControllerState(double[] lambda, long step, long awaiting, long lastStepped, boolean oneShotDone,
        double[] batchSums, int batchCount, long latestVersion) {}
