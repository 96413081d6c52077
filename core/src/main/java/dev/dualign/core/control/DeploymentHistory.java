package dev.dualign.core.control;

import dev.dualign.core.event.DeploymentDecision;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * What a policy server that starts after others should serve, from the versions announced on
 * {@code dualign.checkpoints} and the job's {@code DeploymentDecision}s so far: the newest promoted
 * version as stable, and the newest announced version as the canary when it is newer and was
 * neither promoted nor rolled back. Without it a replica started (or restarted) after a promotion would
 * serve its initial version until the next decision, and disagree with the others. The fold reads
 * sets and maxima, not order, because the two topics' records are not ordered against each other.
 * A replica that joins while a version waits behind an undecided canary takes the newer one as its
 * canary at once (the others switch when the hold ends, or when the job decides the older one: a
 * server serves a version the job promotes even when it is not its canary). With
 * {@code server.canary-fraction} 0 every announcement is deployed as it comes: {@link #newest()}.
 */
public final class DeploymentHistory {
    private long stable;
    private final Set<Long> promoted = new HashSet<>();
    private final Set<Long> rolledBack = new HashSet<>();
    private final TreeMap<Long, String> announced = new TreeMap<>();

    /** @param initialStable the version a server serves before any decision ({@code server.initial-version}) */
    public DeploymentHistory(long initialStable) {
        this.stable = initialStable;
    }

    /** A version announced with its manifest digest. */
    public void announced(long version, String manifestSha256) {
        announced.put(version, manifestSha256);
    }

    public void decided(long version, DeploymentDecision.Action action) {
        if (action == DeploymentDecision.Action.PROMOTE) {
            promoted.add(version);
            stable = Math.max(stable, version);
        } else {
            rolledBack.add(version);
        }
    }

    /** The version to serve as stable. */
    public long stable() {
        return stable;
    }

    /** The stable version's digest, when it was announced. */
    public String digest(long version) {
        return announced.get(version);
    }

    /** The newest announced version, if any: a server without canaries deploys every announcement. */
    public Optional<Map.Entry<Long, String>> newest() {
        return announced.isEmpty() ? Optional.empty() : Optional.of(announced.lastEntry());
    }

    /**
     * The version to serve as canary (offered as a fresh announcement), if any: the newest announced
     * one, when it is newer than the stable version and undecided. An older announcement is never
     * the canary again: a newer one superseded it on every live server.
     */
    public Optional<Map.Entry<Long, String>> canary() {
        if (announced.isEmpty()) {
            return Optional.empty();
        }
        Map.Entry<Long, String> newest = announced.lastEntry();
        long v = newest.getKey();
        return v > stable && !promoted.contains(v) && !rolledBack.contains(v) ? Optional.of(newest) : Optional.empty();
    }
}
