package dev.dualign.serving;

import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.serving.PolicyServer.Deployment;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's pin in the registry: the versions it serves, waits to serve or may roll back to, so
 * the fine-tuner's pruning never deletes what a restarted server needs. Rewritten when that set
 * changes, and daily, well within {@link ModelRegistry#PIN_TTL_MS}.
 */
final class VersionPins implements Runnable {
    /** The server's logger: these lines read as they did when the server logged them itself. */
    private static final Logger LOG = LoggerFactory.getLogger(PolicyServer.class);
    /** How often a live server rewrites its pin. */
    static final long PIN_REFRESH_MS = 24 * 3600_000L;

    private final ModelRegistry registry;
    private final String holder;
    private final Deployments deployments;
    private final CanarySlot canarySlot;
    private final AtomicReference<Set<Long>> written = new AtomicReference<>();
    private final AtomicLong writtenAt = new AtomicLong();

    VersionPins(ModelRegistry registry, String holder, Deployments deployments, CanarySlot canarySlot) {
        this.registry = registry;
        this.holder = holder;
        this.deployments = deployments;
        this.canarySlot = canarySlot;
    }

    /** Writes the pin when what it names changed or it is a day old; a failure is logged, never thrown. */
    @Override
    public void run() {
        // the two newest rollback targets: rollback goes back one at a time, and a deeper one is rarely loaded
        Set<Long> v = new TreeSet<>(deployments.previousStable().stream().limit(2).toList());
        Deployment d = deployments.deployment();
        v.add(d.stable());
        for (long x : new long[] {d.canary(), canarySlot.waitingVersion()}) {
            if (x >= 0) {
                v.add(x);
            }
        }
        long now = System.currentTimeMillis();
        if (v.equals(written.get()) && now - writtenAt.get() < PIN_REFRESH_MS) {
            return; // most events (a refusal, a retire before a canary) change nothing to pin
        }
        try {
            registry.pin(ModelNames.POLICY, holder, v); // rewritten daily too: an older pin is a dead holder's
            written.set(v);
            writtenAt.set(now);
        } catch (RuntimeException e) { // housekeeping: serving goes on, pruning may take a version it needed
            LOG.warn("could not pin versions {} for {}: {}", v, holder, e.toString());
        }
    }
}
