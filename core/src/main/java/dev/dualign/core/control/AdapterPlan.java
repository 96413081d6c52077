package dev.dualign.core.control;

import dev.dualign.core.event.CheckpointEvent;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * How a gateway swaps outside versions into the user's inference server: which versions it
 * refuses, which LoRA adapters it loads and unloads on each replica, and where requests go. Pure
 * rules, so that each can be tested alone; the gateway holds the state, makes the HTTP calls and
 * asks again after each change. The rules: an adapter name is never reused (no request in flight
 * is answered by other weights under its name); an adapter is loaded on every replica before any
 * request is routed to it; a canary needs room for two adapters ({@code max_loras ≥ 2}); an
 * adapter is unloaded only once it is neither stable nor canary and no request in flight names it.
 */
public final class AdapterPlan {
    private AdapterPlan() {}

    /** How the upstream takes a new version. */
    public enum Loading {
        /** At run time, over its adapter API (vLLM, SGLang). */
        RUNTIME,
        /** Not at all: each version is a model the upstream already serves, by a configured map. */
        STATIC,
        /** The upstream serves one fixed deployment: outside versions are refused. */
        NONE
    }

    /**
     * What the upstream can do.
     *
     * @param loading how it takes a version
     * @param maxLoras most adapters loaded at once on one replica (vLLM's {@code --max-loras})
     * @param replicas how many replicas each adapter is loaded on (≥ 1)
     * @param staticModels version → the upstream model that serves it ({@link Loading#STATIC})
     */
    public record Upstream(Loading loading, int maxLoras, int replicas, Map<Long, String> staticModels) {
        public Upstream {
            Objects.requireNonNull(loading, "loading");
            if (maxLoras < 1 || replicas < 1) {
                throw new IllegalArgumentException("max_loras and replicas must be ≥ 1, got " + maxLoras + " and " + replicas);
            }
            staticModels = Map.copyOf(staticModels);
        }
    }

    /**
     * A version the upstream may serve.
     *
     * @param version its number
     * @param model what a request names as {@code "model"} to reach it
     * @param path where the upstream loads the adapter from, or null when nothing is loaded (a
     *     model the upstream serves already)
     */
    public record Version(long version, String model, String path) {
        public Version {
            Objects.requireNonNull(model, "model");
        }

        /** Whether reaching it needs an adapter loaded first. */
        public boolean loads() {
            return path != null;
        }
    }

    /** A version admitted, or why not: exactly one of the two is non-null. */
    public record Admission(Version version, String refusal) {}

    /**
     * Why this upstream can never carry a canary, or null: checked at start-up, so a gateway that
     * would refuse every version says so before it serves.
     */
    public static String startupProblem(Upstream u, double canaryShare) {
        if (u.loading() == Loading.RUNTIME && canaryShare > 0 && u.maxLoras() < 2) {
            return "a canary needs max_loras ≥ 2 (the stable version's adapter and the canary's are loaded together), got "
                    + u.maxLoras();
        }
        return null;
    }

    /**
     * Why an outside trainer's answer is refused before anything is loaded, or null. It must answer
     * a fine-tune request the job sent: an answer to none, or to a request never made, is not the
     * loop's (a stray or replayed event, another loop's trainer). Its checksum must be the adapter
     * directory's where the gateway can read that directory; where it cannot (the upstream's host
     * only, a hub id) the upstream's own load is the only check.
     *
     * @param requestKnown whether the job sent {@code requestId}; null when requests are not followed
     * @param actualSha256 the {@code AdapterChecksum} of the directory the answer names, or null when unreadable here
     */
    public static String answerRefusal(CheckpointEvent c, Boolean requestKnown, String actualSha256) {
        if (requestKnown != null) {
            if (c.requestId() == null) {
                return "the answer names no fine-tune request (requestId missing): only answers to the job's requests are loaded";
            }
            if (!requestKnown) {
                return "the answer is to request '" + c.requestId() + "', which the job never sent";
            }
        }
        if (actualSha256 != null && !actualSha256.equals(c.sha256())) {
            return "checksum mismatch: the adapter at " + c.external().path() + " has sha256 " + actualSha256
                    + ", the answer names " + c.sha256();
        }
        return null;
    }

    /**
     * Whether the version a checkpoint names may be served, and how requests reach it.
     *
     * @param known every version admitted before, retired ones included (names are never reused)
     */
    public static Admission admit(long version, CheckpointEvent.External ext, Upstream u, double canaryShare,
            Map<Long, Version> known) {
        if (ext == null) {
            return refuse("a built-in version (in the registry): the upstream cannot load it");
        }
        if (u.loading() == Loading.NONE) {
            return refuse("the upstream takes no new versions (adapters: none)");
        }
        String problem = startupProblem(u, canaryShare);
        if (problem != null) {
            return refuse(problem);
        }
        Version v;
        if (u.loading() == Loading.STATIC) {
            String mapped = u.staticModels().get(version);
            if (mapped != null && ext.modelId() != null && !mapped.equals(ext.modelId())) {
                return refuse("the static map serves it as " + mapped + " but the checkpoint names model " + ext.modelId());
            }
            String model = mapped != null ? mapped : ext.modelId();
            if (model == null) {
                return refuse("no mapping: version " + version + " is not in the static map and the checkpoint names no model id");
            }
            v = new Version(version, model, null);
        } else {
            v = ext.adapter() != null ? new Version(version, ext.adapter(), ext.path()) : new Version(version, ext.modelId(), null);
        }
        Version before = known.get(version);
        if (before != null) {
            return before.equals(v) ? new Admission(v, null)
                    : refuse("version " + version + " was announced before as " + before.model() + ", now as " + v.model());
        }
        for (Version other : known.values()) {
            if (other.model().equals(v.model())) {
                return refuse("the name " + v.model() + " was version " + other.version() + "'s: names are never reused, so no "
                        + "request in flight is answered by other weights under its name");
            }
        }
        return new Admission(v, null);
    }

    private static Admission refuse(String why) {
        return new Admission(null, why);
    }

    /**
     * The deployment to serve.
     *
     * @param stable the version all other traffic goes to (the base: the upstream's own, as requests name it)
     * @param canary the canary, or −1
     * @param share the canary's share of requests
     * @param incoming a version to load beside them without routing to it yet, or −1: a new canary
     *     is loaded before it replaces the current one, so a load that fails leaves the canary serving
     */
    public record Target(long stable, long canary, double share, long incoming) {
        public Target {
            if (!(share >= 0 && share < 1)) {
                throw new IllegalArgumentException("canary share must be in [0, 1), got " + share);
            }
        }

        /** A deployment with nothing incoming. */
        public Target(long stable, long canary, double share) {
            this(stable, canary, share, -1);
        }
    }

    /**
     * What the gateway has now.
     *
     * @param base the upstream's own version: requests to it go as they came
     * @param known every admitted version by number
     * @param loaded per replica, the adapter names loaded there (by this gateway)
     * @param inFlight adapter name → requests sent to it and not yet answered
     */
    public record State(long base, Map<Long, Version> known, List<Set<String>> loaded, Map<String, Integer> inFlight) {}

    /** Load {@code version}'s adapter on replica {@code replica}. */
    public record Load(int replica, Version version) {}

    /** Unload adapter {@code model} from replica {@code replica}. */
    public record Unload(int replica, String model) {}

    /**
     * Where requests go now: the stable slot ({@code stableModel} null: as the request named it) and
     * the canary with its share ({@code canaryModel} null: no canary).
     */
    public record Route(long stableVersion, String stableModel, long canaryVersion, String canaryModel, double share) {}

    /**
     * One step towards the target: unloads first (they free room), then loads (the stable
     * version's, the canary's, the incoming one's), and the route that holds until they are done.
     * Each version routed to is ready on every replica; the incoming one is never routed to.
     *
     * @param waiting why a load waits (no room until retired adapters drain), empty when none
     */
    public record Step(List<Unload> unload, List<Load> load, Route route, List<String> waiting) {
        /** Whether nothing is left to do. */
        public boolean settled() {
            return unload.isEmpty() && load.isEmpty();
        }
    }

    public static Step plan(Upstream u, State s, Target t) {
        if (s.loaded().size() != u.replicas()) {
            throw new IllegalArgumentException("loaded adapters of " + s.loaded().size() + " replicas, expected " + u.replicas());
        }
        long[] wanted = {t.stable(), t.canary(), t.incoming()};
        Set<String> keep = new HashSet<>();
        for (long v : wanted) {
            Version known = s.known().get(v);
            if (known != null) {
                keep.add(known.model());
            }
        }
        Set<String> ours = new HashSet<>();
        s.known().values().forEach(v -> ours.add(v.model()));
        List<Unload> unload = new ArrayList<>();
        List<Load> load = new ArrayList<>();
        List<String> waiting = new ArrayList<>();
        for (int r = 0; r < u.replicas(); r++) {
            Set<String> here = s.loaded().get(r);
            int after = here.size();
            for (String name : here.stream().sorted().toList()) {
                if (ours.contains(name) && !keep.contains(name) && s.inFlight().getOrDefault(name, 0) == 0) {
                    unload.add(new Unload(r, name));
                    after--;
                }
            }
            for (long v : wanted) {
                Version need = s.known().get(v);
                if (need == null || !need.loads() || u.loading() != Loading.RUNTIME || here.contains(need.model())) {
                    continue;
                }
                if (after >= u.maxLoras()) {
                    waiting.add("version " + v + " waits for room on replica " + r + ": " + after + " of max_loras "
                            + u.maxLoras() + " adapters loaded, the retired ones still answering");
                    continue;
                }
                load.add(new Load(r, need));
                after++;
            }
        }
        return new Step(List.copyOf(unload), List.copyOf(load), route(u, s, t), List.copyOf(waiting));
    }

    /** Where requests go: each slot to its version once it is ready on every replica, else the stable slot to the base. */
    static Route route(Upstream u, State s, Target t) {
        Version stable = ready(u, s, t.stable()) ? s.known().get(t.stable()) : null;
        Version canary = t.canary() >= 0 && t.share() > 0 && ready(u, s, t.canary()) ? s.known().get(t.canary()) : null;
        return new Route(stable == null ? s.base() : stable.version(), stable == null ? null : stable.model(),
                canary == null ? -1 : canary.version(), canary == null ? null : canary.model(), canary == null ? 0 : t.share());
    }

    private static boolean ready(Upstream u, State s, long version) {
        Version v = s.known().get(version);
        if (v == null) {
            return false;
        }
        if (!v.loads() || u.loading() != Loading.RUNTIME) {
            return true;
        }
        return s.loaded().stream().allMatch(here -> here.contains(v.model()));
    }
}
