package dev.dualign.serving;

import dev.dualign.core.control.AdapterPlan;
import dev.dualign.core.control.AdapterPlan.Admission;
import dev.dualign.core.control.AdapterPlan.Load;
import dev.dualign.core.control.AdapterPlan.Route;
import dev.dualign.core.control.AdapterPlan.Step;
import dev.dualign.core.control.AdapterPlan.Target;
import dev.dualign.core.control.AdapterPlan.Unload;
import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.core.event.DeploymentDecision;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway's side of a hot swap into the user's inference server: it holds what is loaded where,
 * what is in flight and the deployment, asks {@link AdapterPlan} what to do, and does it over the
 * upstream's adapter API. Requests never wait for a swap: each reads the published route once and
 * counts itself in flight on the adapter it names, so that adapter stays loaded until it is answered.
 * A refused version is recorded in the {@link VersionTimeline} (kind {@code refuse}), as the policy
 * server records its own.
 */
final class AdapterSwap implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Gateway.class);

    /**
     * Where one request goes: the version that answers it and the model it names ({@code null}: as
     * the request named it). Closing it says the request is answered.
     */
    record Slot(long version, String model, Runnable release) implements AutoCloseable {
        @Override
        public void close() {
            release.run();
        }
    }

    private final AdapterSettings settings;
    private final AdapterClient client;
    private final VersionTimeline timeline;
    private final long base;

    private final Object lock = new Object();
    /** Every version admitted, retired and refused ones too (their names stay taken). Guarded by lock. */
    private final Map<Long, AdapterPlan.Version> known = new HashMap<>();
    private final Set<Long> refused = new HashSet<>();
    /** Told of each version admitted and not refused by its load, or null. */
    private volatile java.util.function.Consumer<CheckpointEvent> admitted;
    /** Whether the job sent a request id; null while answers are not checked against requests. */
    private volatile java.util.function.Predicate<String> requests;
    /** Per replica, the adapters loaded there. Guarded by lock. */
    private final List<Set<String>> loaded = new ArrayList<>();
    private final Deque<Long> previousStable = new ArrayDeque<>();
    private Target target;

    private final Map<String, AtomicInteger> inFlight = new ConcurrentHashMap<>();
    private volatile Route route;
    private final ExecutorService reconciler = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "dualign-gateway-adapters");
        t.setDaemon(true);
        return t;
    });
    private final AtomicBoolean reconcilePending = new AtomicBoolean();

    /**
     * @param base the upstream's own version ({@code server.upstream.version}): stable at start, its requests go as they came
     * @param apiKey the upstream's bearer token, or null
     */
    AdapterSwap(AdapterSettings settings, long base, String apiKey, VersionTimeline timeline) {
        this.settings = settings;
        this.base = base;
        this.timeline = timeline;
        this.client = settings.api() == null ? null : new AdapterClient(settings.api(), settings.replicas(), apiKey, settings.timeoutMs());
        for (int r = 0; r < settings.upstream().replicas(); r++) {
            loaded.add(new HashSet<>());
        }
        this.target = new Target(base, -1, settings.canaryShare());
        this.route = new Route(base, null, -1, null, 0);
    }

    /** Where requests go now. */
    Route route() {
        return route;
    }

    /** Per replica, the adapters loaded there now. */
    List<Set<String>> loaded() {
        synchronized (lock) {
            return loaded.stream().map(Set::copyOf).toList();
        }
    }

    /** Requests in flight on adapter {@code model}. */
    int inFlight(String model) {
        AtomicInteger n = inFlight.get(model);
        return n == null ? 0 : n.get();
    }

    /**
     * A request's slot, by its route key ({@link RouteHash}, as the policy server routes): the
     * canary's share goes to the canary. It counts as in flight on its adapter until closed.
     */
    Slot acquire(String routeKey) {
        while (true) {
            Route r = route;
            boolean canary = r.canaryModel() != null && RouteHash.unit(routeKey, RouteHash.CANARY, settings.seed()) < r.share();
            long version = canary ? r.canaryVersion() : r.stableVersion();
            String model = canary ? r.canaryModel() : r.stableModel();
            if (model == null) {
                return new Slot(version, null, () -> {});
            }
            AtomicInteger n = inFlight.computeIfAbsent(model, k -> new AtomicInteger());
            n.incrementAndGet();
            // counted first, then the route read again: a swap publishes its route before it reads
            // the counts, so either it sees this request or this request sees the new route
            Route now = route;
            if (now == r || model.equals(now.stableModel()) || model.equals(now.canaryModel())) {
                AtomicBoolean done = new AtomicBoolean();
                return new Slot(version, model, () -> {
                    if (done.compareAndSet(false, true) && n.decrementAndGet() == 0) {
                        reconcileLater();
                    }
                });
            }
            n.decrementAndGet();
        }
    }

    /**
     * A new version announced on the checkpoint topic: admitted or refused, loaded on every
     * replica, and served as the canary (or to all traffic without a canary share). Returns when
     * the loads are done or refused, each bounded by the adapter timeout.
     *
     * @return whether the version serves now
     */
    boolean offer(CheckpointEvent c) {
        long v = c.version();
        // read before the lock: an adapter can be gigabytes, and decisions must not wait behind it
        String actualSha256 = checksum(c.external());
        synchronized (lock) {
            if (refused.contains(v)) {
                return false;
            }
            if (known.containsKey(v)) { // announced again (a topic read twice): serving, or retired for good
                if (target.stable() != v && target.canary() != v) {
                    LOG.info("version {} was retired before; not deployed again", v);
                }
                return serves(v);
            }
            String wrong = AdapterPlan.answerRefusal(c, requests == null ? null : requests.test(c.requestId()), actualSha256);
            if (wrong != null) {
                refuse(v, wrong);
                return false;
            }
            Admission a = AdapterPlan.admit(v, c.external(), settings.upstream(), settings.canaryShare(), Map.copyOf(known));
            if (a.refusal() != null) {
                refuse(v, a.refusal());
                return false;
            }
            known.put(v, a.version());
            if (settings.canaryShare() > 0 && target.canary() >= 0) {
                // loaded beside the canary first, so a load that fails leaves the canary serving
                target = new Target(target.stable(), target.canary(), settings.canaryShare(), v);
                settle();
                if (refused.contains(v)) {
                    return false;
                }
                // ready, or waiting for room (max_loras): either way it takes the slot, and the
                // old canary is unloaded once its requests are answered
                timeline.record(target.canary(), "retire", "superseded by version " + v + " before a decision");
                target = new Target(target.stable(), v, settings.canaryShare());
            } else if (settings.canaryShare() > 0) {
                target = new Target(target.stable(), v, settings.canaryShare());
            } else {
                previousStable.push(target.stable());
                target = new Target(v, -1, settings.canaryShare());
            }
            settle();
            java.util.function.Consumer<CheckpointEvent> r = admitted;
            if (r != null && !refused.contains(v)) { // loaded (or waiting for room): a version of the loop
                r.accept(c);
            }
            if (serves(v)) {
                timeline.record(v, target.canary() == v ? "canary" : "deploy", target.canary() == v
                        ? String.format("%.0f%% of traffic as model %s", 100 * settings.canaryShare(), a.version().model())
                        : "serving all traffic as model " + a.version().model());
                return true;
            }
            if (!refused.contains(v)) {
                timeline.record(v, "wait", "for room on the upstream: retired adapters are still answering");
            }
            return false;
        }
    }

    /**
     * A version from the deployment history that serves no more (retired, rolled back): admitted
     * without loading, so its name stays taken after a restart.
     */
    void remember(CheckpointEvent c) {
        synchronized (lock) {
            if (known.containsKey(c.version()) || refused.contains(c.version())) {
                return;
            }
            Admission a = AdapterPlan.admit(c.version(), c.external(), settings.upstream(), settings.canaryShare(), Map.copyOf(known));
            if (a.version() != null) {
                known.put(c.version(), a.version());
            } else {
                refused.add(c.version()); // refused when it came; said then
            }
        }
    }

    /**
     * The stable version the deployment history names (a gateway started after a promotion):
     * loaded on every replica and given all traffic but the canary's, or refused.
     *
     * @return whether it serves now
     */
    boolean deployStable(CheckpointEvent c) {
        long v = c.version();
        synchronized (lock) {
            if (refused.contains(v) || target.stable() == v) {
                return serves(v);
            }
            if (!known.containsKey(v)) {
                Admission a = AdapterPlan.admit(v, c.external(), settings.upstream(), settings.canaryShare(), Map.copyOf(known));
                if (a.refusal() != null) {
                    refuse(v, a.refusal());
                    return false;
                }
                known.put(v, a.version());
            }
            previousStable.push(target.stable());
            target = new Target(v, target.canary() == v ? -1 : target.canary(), settings.canaryShare());
            settle();
            if (serves(v)) {
                timeline.record(v, "deploy", "the stable version by the deployment history, as model " + known.get(v).model());
                return true;
            }
            return false;
        }
    }

    /**
     * Carries out the job's decision about the canary: promote makes it the stable version, roll
     * back drops it (or, without a canary, returns to the previous stable version). A decision
     * about any other version changes nothing.
     *
     * @return whether the deployment changed
     */
    boolean carryOut(DeploymentDecision d) {
        long v = d.policyVersion();
        String why = "job decision: " + d.reason();
        synchronized (lock) {
            if (d.action() == DeploymentDecision.Action.PROMOTE) {
                if (target.canary() != v || route.canaryVersion() != v) {
                    return false;
                }
                previousStable.push(target.stable());
                target = new Target(v, -1, settings.canaryShare());
                timeline.record(v, "promote", why);
            } else if (target.canary() == v) {
                target = new Target(target.stable(), -1, settings.canaryShare());
                timeline.record(v, "rollback", why);
            } else if (target.stable() == v && !previousStable.isEmpty()) {
                target = new Target(previousStable.pop(), -1, settings.canaryShare());
                timeline.record(v, "rollback", why + "; back to version " + target.stable());
            } else {
                return false;
            }
            settle();
            return true;
        }
    }

    private boolean serves(long v) {
        Route r = route;
        return r.stableVersion() == v || r.canaryVersion() == v;
    }

    /**
     * Answers are checked against the job's requests from now on ({@code requestId} must be one
     * {@code sent} knows); the gateway's follower turns this on as it reads the control topic.
     */
    void checkRequests(java.util.function.Predicate<String> sent) {
        this.requests = sent;
    }

    /** {@code l} hears of each version admitted from now on, once its load did not refuse it. */
    void onAdmitted(java.util.function.Consumer<CheckpointEvent> l) {
        this.admitted = l;
    }

    /** The checksum of the adapter directory an answer names, where this host can read it; else null. */
    private static String checksum(dev.dualign.core.event.CheckpointEvent.External ext) {
        if (ext == null || ext.path() == null) {
            return null;
        }
        java.nio.file.Path dir;
        try {
            dir = java.nio.file.Path.of(ext.path());
        } catch (java.nio.file.InvalidPathException e) {
            return null; // a hub id or a path of another host
        }
        if (!dir.isAbsolute() || !java.nio.file.Files.isDirectory(dir)) {
            return null;
        }
        try {
            return dev.dualign.core.event.AdapterChecksum.of(dir);
        } catch (java.io.IOException e) {
            LOG.warn("cannot read adapter {} to check its checksum ({}); the upstream's load decides", dir, e.toString());
            return null;
        }
    }

    private void refuse(long v, String why) {
        refused.add(v);
        LOG.error("version {} refused: {}; still serving version {}", v, why, route.stableVersion());
        timeline.record(v, "refuse", why);
    }

    /** Unloads what nothing in flight names any more, when the last request on a retired adapter is answered. */
    private void reconcileLater() {
        if (reconcilePending.compareAndSet(false, true)) {
            try {
                reconciler.execute(() -> {
                    reconcilePending.set(false);
                    synchronized (lock) {
                        settle();
                    }
                });
            } catch (java.util.concurrent.RejectedExecutionException closed) {
                reconcilePending.set(false);
            }
        }
    }

    /**
     * Steps towards the target until the plan is settled, under the lock: a new route is published
     * before the counts are read for unloading; a failed load refuses its version and takes it out
     * of the target; an unload that fails is left for the next time.
     */
    private void settle() {
        boolean unloadFailed = false;
        for (int round = 0; round < 16; round++) {
            Map<String, Integer> counts = new HashMap<>();
            inFlight.forEach((k, n) -> counts.put(k, n.get()));
            Step step = AdapterPlan.plan(settings.upstream(), new AdapterPlan.State(base, Map.copyOf(known),
                    loaded.stream().map(Set::copyOf).toList(), counts), target);
            if (!step.route().equals(route)) {
                if (step.route().canaryModel() != null && !step.route().canaryModel().equals(route.canaryModel())) {
                    LOG.info("version {} takes {}% of requests as model {}", step.route().canaryVersion(),
                            Math.round(100 * step.route().share()), step.route().canaryModel());
                }
                route = step.route();
                continue; // read the counts again, now that no new request can take a retired adapter
            }
            step.waiting().forEach(w -> LOG.info("{}", w));
            if (step.settled() || (unloadFailed && step.load().isEmpty())) {
                return;
            }
            if (!unloadFailed) {
                for (Unload u : step.unload()) {
                    String why = client.unload(u.replica(), u.model());
                    if (why == null) {
                        loaded.get(u.replica()).remove(u.model());
                        LOG.info("adapter {} unloaded from replica {}", u.model(), u.replica());
                    } else {
                        unloadFailed = true;
                        LOG.warn("adapter {} could not be unloaded from replica {} ({}); trying again later", u.model(), u.replica(), why);
                    }
                }
            }
            for (Load l : step.load()) {
                long v = l.version().version();
                if (refused.contains(v)) {
                    continue;
                }
                String why = client.load(l.replica(), l.version().model(), l.version().path());
                if (why == null) {
                    loaded.get(l.replica()).add(l.version().model());
                } else {
                    refuse(v, "adapter " + l.version().model() + " could not be loaded: " + why);
                    dropFromTarget(v);
                }
            }
        }
        LOG.warn("adapter swap not settled after 16 rounds; going on at the next change");
    }

    /** A refused version out of the deployment: no longer incoming, the canary slot emptied, or the stable version before it back. */
    private void dropFromTarget(long v) {
        if (target.incoming() == v) {
            target = new Target(target.stable(), target.canary(), settings.canaryShare());
        } else if (target.canary() == v) {
            target = new Target(target.stable(), -1, settings.canaryShare());
        } else if (target.stable() == v) {
            target = new Target(previousStable.isEmpty() ? base : previousStable.pop(), -1, settings.canaryShare());
        }
    }

    @Override
    public void close() {
        reconciler.shutdownNow();
    }
}
