package dev.dualign.serving;

import dev.dualign.core.control.CanaryHold;
import dev.dualign.core.event.DeploymentDecision;
import dev.dualign.serving.Deployments.Live;

/**
 * Where a version is chosen for the canary slot: a new version waits behind an undecided canary
 * ({@link CanaryHold}), and the job's decisions about canaries are carried out (the job judges; the server obeys).
 */
final class CanarySlot {
    private record Waiting(long version, String manifestSha256) {}

    private final Deployments deployments;
    private final ServerSettings settings;
    private final VersionTimeline timeline;
    /** Versions the job rolled back here: never promoted later by a decision naming them. Guarded by swapLock. */
    private final java.util.Set<Long> rolledBackByJob = new java.util.HashSet<>();
    /** The newest version waiting behind an undecided canary, or null; guarded by swapLock. */
    private Waiting waiting;

    CanarySlot(Deployments deployments, ServerSettings settings, VersionTimeline timeline) {
        this.deployments = deployments;
        this.settings = settings;
        this.timeline = timeline;
    }

    /**
     * A newly fine-tuned version, as the checkpoint topic announces it: deployed as the canary at
     * once when the slot is free or its canary has had {@code canaryHoldMs}; else it waits (the
     * newest waiting one only) until {@link #tick} finds the canary decided or its hold over.
     *
     * @return whether the version was deployed now (false: waiting, or refused)
     */
    boolean offer(long version, String manifestSha256) {
        synchronized (deployments.swapLock) {
            Live cur = deployments.live();
            boolean busy = settings.canaryFraction() > 0 && cur.canary() != null && cur.canary().version != version
                    && cur.stable().version != version;
            long canarySince = deployments.canarySince();
            if (busy && !CanaryHold.mayReplace(canarySince, System.currentTimeMillis(), settings.canaryHoldMs())) {
                if (waiting != null && waiting.version() != version) {
                    timeline.record(waiting.version(), "retire", "superseded by version " + version + " while waiting");
                }
                waiting = new Waiting(version, manifestSha256);
                timeline.record(version, "wait", String.format("behind canary %d until it is decided, at most %.0f s",
                        cur.canary().version,
                        (CanaryHold.dueAt(canarySince, settings.canaryHoldMs()) - System.currentTimeMillis()) / 1000.0));
                return false;
            }
            if (waiting != null && waiting.version() <= version) {
                waiting = null;
            }
            return deployments.deploy(version, manifestSha256, false);
        }
    }

    /**
     * Deploys the waiting version once the canary is decided or its hold is over; called after
     * every decision and on the serving loop's every poll, so the wait ends on time.
     *
     * @return the version deployed, or −1
     */
    long tick() {
        synchronized (deployments.swapLock) {
            Live cur = deployments.live();
            if (waiting == null || (cur.canary() != null
                    && !CanaryHold.mayReplace(deployments.canarySince(), System.currentTimeMillis(), settings.canaryHoldMs()))) {
                return -1;
            }
            Waiting w = waiting;
            waiting = null;
            return deployments.deploy(w.version(), w.manifestSha256(), false) ? w.version() : -1;
        }
    }

    /** The version waiting behind the canary, or −1. */
    long waitingVersion() {
        synchronized (deployments.swapLock) {
            return waiting == null ? -1 : waiting.version();
        }
    }

    /**
     * Carries out the job's decision about a canary (the job judges; the server obeys). A decision
     * about any version but the current canary changes nothing: it was retired or decided already.
     *
     * @return whether the deployment changed
     */
    boolean carryOut(DeploymentDecision d) {
        synchronized (deployments.swapLock) {
            Live cur = deployments.live();
            if (cur.canary() == null || cur.canary().version != d.policyVersion()) {
                if (d.action() == DeploymentDecision.Action.PROMOTE && d.policyVersion() > cur.stable().version
                        && !rolledBackByJob.contains(d.policyVersion())) {
                    // promoted by the job while this server had another canary (it started late, or replaced
                    // that canary before the decision): the job's word wins, so every replica serves one stable version
                    return deployments.promoteOther(d.policyVersion(), "job decision: " + d.reason());
                }
                return false;
            }
            String why = "job decision: " + d.reason();
            if (d.action() == DeploymentDecision.Action.ROLLBACK) {
                rolledBackByJob.add(d.policyVersion());
            }
            boolean changed = switch (d.action()) {
                case PROMOTE -> deployments.promote(d.policyVersion(), why);
                case ROLLBACK -> deployments.rollback(why) >= 0;
            };
            tick(); // the slot is free: a version waiting behind this canary goes in now
            return changed;
        }
    }
}
