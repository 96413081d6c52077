package dev.dualign.serving;

import dev.dualign.serving.PolicyServer.Deployment;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where a version is swapped in, promoted or rolled back: the deployment (stable, canary, share)
 * is one immutable value behind an atomic reference, replaced in one step under {@link #swapLock}.
 */
final class Deployments {
    /** The server's logger: these lines read as they did when the server logged them itself. */
    private static final Logger LOG = LoggerFactory.getLogger(PolicyServer.class);

    /** The live deployment: the stable version, the canary (or null) and its share. */
    record Live(ServedPolicy stable, ServedPolicy canary, double fraction) {}

    /** Serialises swaps (requests never take it); {@link CanarySlot} holds it around its own steps too. */
    final Object swapLock = new Object();
    private final AtomicReference<Live> live;
    private final Deque<Long> previousStable = new ArrayDeque<>();
    private final ServerSettings settings;
    private final VersionLoader loader;
    private final VersionTimeline timeline;
    /** When the current canary took the slot (server clock), or −1; guarded by swapLock. */
    private long canarySince = -1;

    Deployments(ServedPolicy initial, ServerSettings settings, VersionLoader loader, VersionTimeline timeline) {
        this.live = new AtomicReference<>(new Live(initial, null, 0));
        this.settings = settings;
        this.loader = loader;
        this.timeline = timeline;
    }

    /** The live deployment, as a request reads it once. */
    Live live() {
        return live.get();
    }

    Deployment deployment() {
        Live l = live.get();
        return new Deployment(l.stable.version, l.canary == null ? -1 : l.canary.version, l.fraction);
    }

    /** When the current canary took the slot, or −1; read under swapLock. */
    long canarySince() {
        return canarySince;
    }

    /** The stable versions to roll back to, newest first. */
    List<Long> previousStable() {
        return List.copyOf(previousStable);
    }

    /**
     * Loads {@code version} from the registry, verifies every file (and the manifest digest when
     * given), warms it up and swaps it in: as the canary when a canary share is configured and
     * {@code direct} is false, else as the stable version. A version that fails any check is refused
     * and nothing changes.
     *
     * @return whether the version was swapped in
     */
    boolean deploy(long version, String manifestSha256, boolean direct) {
        synchronized (swapLock) {
            Live cur = live.get();
            if (cur.stable.version == version || (cur.canary != null && cur.canary.version == version)) {
                LOG.info("version {} is already deployed", version);
                return true;
            }
            ServedPolicy next = loader.loadOrRefuse(version, manifestSha256, cur.stable.version);
            if (next == null) {
                return false;
            }
            if (settings.canaryFraction() > 0 && !direct) {
                live.set(new Live(cur.stable, next, settings.canaryFraction()));
                canarySince = System.currentTimeMillis();
                if (cur.canary != null) {
                    timeline.record(cur.canary.version, "retire", "superseded by version " + version + " before a decision");
                    cur.canary.release();
                }
                timeline.record(version, "canary", String.format("%.0f%% of traffic", 100 * settings.canaryFraction()));
            } else {
                live.set(new Live(next, null, 0));
                previousStable.push(cur.stable.version);
                cur.stable.release();
                if (cur.canary != null) {
                    timeline.record(cur.canary.version, "retire", "replaced by a direct deployment");
                    cur.canary.release();
                }
                timeline.record(version, "deploy", "serving all traffic");
            }
            return true;
        }
    }

    /** Makes the canary the stable version; {@code version} must be the canary, or −1 for whichever it is. */
    boolean promote(long version, String reason) {
        synchronized (swapLock) {
            Live cur = live.get();
            if (cur.canary == null || (version >= 0 && cur.canary.version != version)) {
                return false;
            }
            live.set(new Live(cur.canary, null, 0));
            previousStable.push(cur.stable.version);
            cur.stable.release();
            timeline.record(cur.canary.version, "promote", reason);
            return true;
        }
    }

    /**
     * Rolls back: drops the canary when there is one, else returns to the previous stable version.
     *
     * @return the version now serving all traffic, or −1 when there was nothing to roll back to
     */
    long rollback(String reason) {
        synchronized (swapLock) {
            Live cur = live.get();
            if (cur.canary != null) {
                live.set(new Live(cur.stable, null, 0));
                cur.canary.release();
                timeline.record(cur.canary.version, "rollback", reason);
                return cur.stable.version;
            }
            while (!previousStable.isEmpty()) {
                long prev = previousStable.pop();
                try {
                    ServedPolicy p = loader.load(prev, null);
                    live.set(new Live(p, null, 0));
                    cur.stable.release();
                    timeline.record(cur.stable.version, "rollback", reason + "; back to version " + prev);
                    return prev;
                } catch (RuntimeException e) {
                    LOG.warn("cannot roll back to version {}: {}", prev, e.getMessage());
                }
            }
            return -1;
        }
    }

    /**
     * Loads a promoted version that is not the canary and makes it stable; a newer canary stays.
     * Called by {@link CanarySlot#carryOut} under swapLock.
     */
    boolean promoteOther(long version, String reason) {
        Live cur = live.get();
        ServedPolicy next = loader.loadOrRefuse(version, null, cur.stable.version);
        if (next == null) {
            return false;
        }
        boolean keepCanary = cur.canary != null && cur.canary.version > version;
        live.set(new Live(next, keepCanary ? cur.canary : null, keepCanary ? cur.fraction : 0));
        previousStable.push(cur.stable.version);
        cur.stable.release();
        if (cur.canary != null && !keepCanary) {
            timeline.record(cur.canary.version, "retire", "older than version " + version + ", which the job promoted");
            cur.canary.release();
        }
        timeline.record(version, "promote", reason + " (not this server's canary)");
        return true;
    }

    /** Releases the deployed versions (the caller holds swapLock, at close). */
    void releaseAll() {
        Live cur = live.get();
        if (cur.canary != null) {
            cur.canary.release();
        }
        cur.stable.release();
    }
}
