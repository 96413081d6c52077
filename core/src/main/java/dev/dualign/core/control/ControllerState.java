package dev.dualign.core.control;

import java.util.Arrays;
import java.util.List;

/**
 * The dual controller's state, immutable: each rule returns a new one through the {@code with…}
 * methods, so the Flink shell only stores what the rules hand back.
 *
 * @param lambda λ per constraint, in configuration order
 * @param step dual steps taken
 * @param awaiting the policy version whose estimate the next iterative step waits for (−1: any)
 * @param lastStepped the last version that moved λ (−1: none)
 * @param oneShotDone whether the one-shot solve has run
 * @param batchSums primal-dual: per-constraint sum of the current mini-batch
 * @param batchCount primal-dual: samples in the current mini-batch
 * @param latestVersion the newest policy version seen
 * @param deadline processing time (epoch ms) at which the current wait ends (0: not armed, see
 *     {@link ControlPolicy#arm})
 * @param retries fine-tune requests re-sent since the last step
 * @param referenceMeans the reference's mean of each utility, once measured (relative margins need
 *     it), or null; kept rather than the margins so that a changed configuration applies at once
 * @param sensitivity dE_{π_λ}[g]/dλ = Cov_{π_λ}(g)/β on the reference samples at λ(0), k×k
 *     row-major, what the Newton dual step divides by; null when no one-shot solve ran (absent from
 *     state saved before it was kept: the step then falls back, see {@link dev.dualign.core.dual.NewtonStep})
 */
public record ControllerState(double[] lambda, long step, long awaiting, long lastStepped, boolean oneShotDone,
        double[] batchSums, int batchCount, long latestVersion, long deadline, int retries, double[] referenceMeans,
        double[] sensitivity) {
    /** Used for "no version" in {@link #awaiting} and {@link #lastStepped}. */
    public static final long NONE = -1;

    /** λ = 0 for {@code constraints} constraints, nothing seen yet. */
    public static ControllerState initial(int constraints) {
        return new ControllerState(new double[constraints], 0, NONE, NONE, false, new double[constraints], 0, NONE, 0, 0, null, null);
    }

    public ControllerState withLambda(double[] newLambda) {
        return new ControllerState(newLambda.clone(), step, awaiting, lastStepped, oneShotDone, batchSums, batchCount,
                latestVersion, deadline, retries, referenceMeans, sensitivity);
    }

    /** λ after dual step number {@code newStep}: the wait for its fine-tune starts afresh (disarmed, no retries). */
    public ControllerState withStep(double[] newLambda, long newStep) {
        return new ControllerState(newLambda.clone(), newStep, awaiting, lastStepped, oneShotDone, batchSums, batchCount,
                latestVersion, 0, 0, referenceMeans, sensitivity);
    }

    /** The wait ends at {@code at} (epoch ms; 0 disarms). */
    public ControllerState withDeadline(long at) {
        return new ControllerState(lambda, step, awaiting, lastStepped, oneShotDone, batchSums, batchCount, latestVersion, at,
                retries, referenceMeans, sensitivity);
    }

    public ControllerState withRetries(int n) {
        return new ControllerState(lambda, step, awaiting, lastStepped, oneShotDone, batchSums, batchCount, latestVersion,
                deadline, n, referenceMeans, sensitivity);
    }

    public ControllerState withAwaiting(long version) {
        return new ControllerState(lambda, step, version, lastStepped, oneShotDone, batchSums, batchCount, latestVersion, deadline, retries, referenceMeans, sensitivity);
    }

    public ControllerState withLastStepped(long version) {
        return new ControllerState(lambda, step, awaiting, version, oneShotDone, batchSums, batchCount, latestVersion, deadline, retries, referenceMeans, sensitivity);
    }

    /** The tilted sensitivity S (k×k, row-major) measured at λ(0); null: unknown. */
    public ControllerState withSensitivity(double[] s) {
        return new ControllerState(lambda, step, awaiting, lastStepped, oneShotDone, batchSums, batchCount, latestVersion, deadline,
                retries, referenceMeans, s == null ? null : s.clone());
    }

    /** The reference's mean of each utility, measured. */
    public ControllerState withReferenceMeans(double[] means) {
        return new ControllerState(lambda, step, awaiting, lastStepped, oneShotDone, batchSums, batchCount, latestVersion, deadline,
                retries, means == null ? null : means.clone(), sensitivity);
    }

    public ControllerState withOneShotDone() {
        return new ControllerState(lambda, step, awaiting, lastStepped, true, batchSums, batchCount, latestVersion, deadline, retries, referenceMeans, sensitivity);
    }

    /** The primal-dual mini-batch so far. */
    public ControllerState withBatch(double[] sums, int count) {
        return new ControllerState(lambda, step, awaiting, lastStepped, oneShotDone, sums.clone(), count, latestVersion, deadline, retries, referenceMeans, sensitivity);
    }

    /** Notes that {@code version} was seen; {@link #latestVersion} only grows. */
    public ControllerState withSeen(long version) {
        long latest = Math.max(latestVersion, version);
        return latest == latestVersion ? this
                : new ControllerState(lambda, step, awaiting, lastStepped, oneShotDone, batchSums, batchCount, latest, deadline, retries, referenceMeans, sensitivity);
    }

    /**
     * This state after the constraint list changed from {@code saved} to {@code names}: λ carried
     * over by name, never by position (a reordered or shorter list would give one constraint
     * another's λ); new constraints start at 0 and the primal-dual batch starts afresh.
     */
    public ControllerState withConstraints(List<String> saved, List<String> names) {
        double[] carried = new double[names.size()];
        for (int c = 0; c < carried.length; c++) {
            int i = saved.indexOf(names.get(c));
            carried[c] = i >= 0 && i < lambda.length ? lambda[i] : 0.0;
        }
        // the means and the sensitivity are by position: measured again (means from version 0's estimate) for the new list
        return new ControllerState(carried, step, awaiting, lastStepped, oneShotDone, new double[names.size()], 0,
                latestVersion, deadline, retries, null, null);
    }

    /**
     * This state checked against the constraint names it was saved with ({@code saved}, comma-joined;
     * null for state from before the names were kept): itself when they are {@code names}, else
     * {@linkplain #withConstraints carried over by name}.
     */
    public ControllerState reconciled(String saved, List<String> names) {
        if (String.join(",", names).equals(saved) || (saved == null && lambda.length == names.size())) {
            return this;
        }
        return withConstraints(saved == null ? List.of() : List.of(saved.split(",")), names);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ControllerState s && Arrays.equals(lambda, s.lambda) && step == s.step
                && awaiting == s.awaiting && lastStepped == s.lastStepped && oneShotDone == s.oneShotDone
                && Arrays.equals(batchSums, s.batchSums) && batchCount == s.batchCount && latestVersion == s.latestVersion
                && deadline == s.deadline && retries == s.retries && Arrays.equals(referenceMeans, s.referenceMeans)
                && Arrays.equals(sensitivity, s.sensitivity);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(lambda) + Long.hashCode(step) + 7 * Long.hashCode(awaiting);
    }

    @Override
    public String toString() {
        return "ControllerState[λ=" + Arrays.toString(lambda) + ", step=" + step + ", awaiting=" + awaiting
                + ", lastStepped=" + lastStepped + ", oneShotDone=" + oneShotDone + ", batch=" + batchCount
                + ", latest=" + latestVersion + ", deadline=" + deadline + ", retries=" + retries
                + (referenceMeans == null ? "" : ", referenceMeans=" + Arrays.toString(referenceMeans))
                + (sensitivity == null ? "" : ", sensitivity=" + Arrays.toString(sensitivity)) + "]";
    }
}
