package dev.dualign.core.control;

import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.event.VersionEstimate;
import java.util.List;
import java.util.Optional;

/**
 * How λ moves in one {@link dev.dualign.core.dual.DualMode}: pure functions from the controller
 * state and one piece of evidence to a {@link Decision}. The Flink controller only stores the
 * state and publishes the steps; the rules are read and tested here, without Flink.
 */
public interface ControlPolicy {
    /**
     * Whether λ may still move from this state: then every input the controller gets is one that
     * could end in a dual step (the job counts them beside its steps, and an alert watches for
     * inputs without steps). Never in {@code monitor} mode, and in {@code one-shot} mode only
     * until its one solve: there λ stays put by design, and a quiet λ is no stall.
     */
    default boolean movesLambda(ControllerState s) {
        return false;
    }

    /** A policy version's running estimate arrived. */
    default Decision onEstimate(ControllerState s, VersionEstimate e) {
        return Decision.stay(s);
    }

    /** A live (policy-sourced) scored sample arrived. */
    default Decision onLiveSample(ControllerState s, ScoredSample x) {
        return Decision.stay(s);
    }

    /** Whether reference samples should still be collected for the one-shot solve. */
    default boolean wantsReference(ControllerState s) {
        return false;
    }

    /** Whether {@code held} reference samples could be enough, before they are read and grouped. */
    default boolean mayBeReady(long held) {
        return false;
    }

    /**
     * Solves the one-shot dual when the reference samples suffice; empty when more are needed (keep
     * them). Any decision ends the collection: the caller drops the samples.
     */
    default Optional<Decision> solveIfReady(ControllerState s, List<ScoredSample> reference) {
        return Optional.empty();
    }

    /**
     * The reference samples to hold on to after {@link #solveIfReady} decided: none (the collection
     * is over), except for a policy that solves again on a sliding window.
     */
    default List<ScoredSample> keep(ControllerState s, List<ScoredSample> reference) {
        return List.of();
    }

    /**
     * Liveness: the state with a deadline for whatever the policy now waits on (reference samples,
     * the version answering a request), so that no wait lasts for ever. Already armed, or waiting
     * on nothing: unchanged.
     *
     * @param now processing time, epoch ms
     */
    default ControllerState arm(ControllerState s, long now) {
        return s;
    }

    /** The armed deadline passed with nothing arriving: the fallback (and re-armed by the next {@link #arm}). */
    default Decision onDeadline(ControllerState s, long now) {
        return Decision.stay(s.withDeadline(0));
    }

    /** The rules for {@code cfg.mode()}. */
    static ControlPolicy of(ControlSettings cfg) {
        return switch (cfg.mode()) {
            case ITERATIVE -> new IterativePolicy(cfg);
            case ONE_SHOT -> new OneShotPolicy(cfg);
            case PRIMAL_DUAL -> new PrimalDualPolicy(cfg);
            case MONITOR -> new ControlPolicy() {};
            case ENFORCE -> new EnforcePolicy(cfg);
        };
    }
}
