package dev.dualign.serving;

import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigException;
import dev.dualign.core.control.AdapterPlan;
import dev.dualign.core.control.AdapterPlan.Loading;
import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How the gateway swaps outside versions into the upstream ({@code server.upstream.adapters} and
 * its keys), read and checked at start-up so a gateway that could never carry a canary fails then,
 * naming the key, and not at its first version.
 *
 * @param upstream what the upstream can do ({@link AdapterPlan.Upstream})
 * @param api whose adapter API it speaks ({@code vllm} or {@code sglang}), or null when it loads nothing
 * @param replicas each replica's base URL, up to and including {@code /v1}, that adapters are loaded on
 * @param timeoutMs most one load or unload call may take before the version is refused
 * @param canaryShare share of requests a new version answers until promoted (0: it takes all at once)
 * @param seed the route hash's seed: the policy server's, so a key routes alike on both
 */
public record AdapterSettings(AdapterPlan.Upstream upstream, String api, List<URI> replicas, long timeoutMs, double canaryShare,
        long seed) {
    public AdapterSettings {
        replicas = List.copyOf(replicas);
        if ((api != null) != (upstream.loading() == Loading.RUNTIME)) {
            throw new IllegalArgumentException("an adapter API exactly when the upstream loads at run time, got " + api);
        }
        if (upstream.replicas() != replicas.size()) {
            throw new IllegalArgumentException(replicas.size() + " replica URLs for " + upstream.replicas() + " replicas");
        }
        if (timeoutMs <= 0) {
            throw new IllegalArgumentException("adapter timeout must be > 0 ms, got " + timeoutMs);
        }
        String problem = AdapterPlan.startupProblem(upstream, canaryShare);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
    }

    /**
     * The adapter keys of {@code c}, or null with {@code server.upstream.adapters: none}.
     *
     * @param upstream {@code server.upstream.url}: the one replica when {@code server.upstream.replicas} is empty
     */
    public static AdapterSettings from(Config c, URI upstream) {
        String kind = c.get(ServingOptions.UPSTREAM_ADAPTERS);
        if (kind.equals("none")) {
            return null;
        }
        Loading loading = kind.equals("static") ? Loading.STATIC : Loading.RUNTIME;
        List<URI> replicas = replicas(c.get(ServingOptions.UPSTREAM_REPLICAS), upstream);
        Map<Long, String> models = staticModels(c.get(ServingOptions.UPSTREAM_STATIC_MODELS));
        if (loading == Loading.STATIC && models.isEmpty()) {
            // allowed (each checkpoint may name its model id), but say where the map goes in the refusals
            org.slf4j.LoggerFactory.getLogger(Gateway.class).warn("{} is static and {} is empty: only checkpoints naming a "
                    + "model id are served", ServingOptions.UPSTREAM_ADAPTERS.key(), ServingOptions.UPSTREAM_STATIC_MODELS.key());
        }
        double share = c.get(ServingOptions.CANARY_FRACTION);
        AdapterPlan.Upstream u = new AdapterPlan.Upstream(loading, c.get(ServingOptions.UPSTREAM_MAX_LORAS), replicas.size(), models);
        String problem = AdapterPlan.startupProblem(u, share);
        if (problem != null) {
            throw new ConfigException(ServingOptions.UPSTREAM_MAX_LORAS.key(), problem + ": start the server with --max-loras 2 "
                    + "or more and set this key to it, or set " + ServingOptions.CANARY_FRACTION.key() + " to 0");
        }
        return new AdapterSettings(u, loading == Loading.RUNTIME ? kind : null, replicas,
                c.get(ServingOptions.UPSTREAM_ADAPTER_TIMEOUT_MS), share, 1);
    }

    /** {@code server.upstream.replicas}: comma-separated base URLs, or {@code upstream} alone when empty. */
    static List<URI> replicas(String list, URI upstream) {
        List<URI> out = new ArrayList<>();
        for (String s : list.split(",")) {
            String t = s.trim();
            if (t.isEmpty()) {
                continue;
            }
            URI u;
            try {
                u = URI.create(t);
            } catch (IllegalArgumentException e) {
                throw new ConfigException(ServingOptions.UPSTREAM_REPLICAS.key(), "not a URL: " + t);
            }
            if (!"http".equals(u.getScheme()) && !"https".equals(u.getScheme())) {
                throw new ConfigException(ServingOptions.UPSTREAM_REPLICAS.key(), "each must be an http or https URL, got " + t);
            }
            if (out.contains(u)) {
                throw new ConfigException(ServingOptions.UPSTREAM_REPLICAS.key(), "lists " + t + " twice");
            }
            out.add(u);
        }
        return out.isEmpty() ? List.of(upstream) : List.copyOf(out);
    }

    /** {@code server.upstream.static-models}: {@code VERSION=MODEL} pairs, comma-separated. */
    static Map<Long, String> staticModels(String list) {
        Map<Long, String> out = new LinkedHashMap<>();
        for (String s : list.split(",")) {
            String t = s.trim();
            if (t.isEmpty()) {
                continue;
            }
            int eq = t.indexOf('=');
            long v;
            try {
                v = eq < 0 ? -1 : Long.parseLong(t.substring(0, eq).trim());
            } catch (NumberFormatException e) {
                v = -1;
            }
            String model = eq < 0 ? "" : t.substring(eq + 1).trim();
            if (v < 0 || model.isEmpty()) {
                throw new ConfigException(ServingOptions.UPSTREAM_STATIC_MODELS.key(), "each entry is VERSION=MODEL with a version "
                        + "≥ 0, got '" + t + "'");
            }
            if (out.put(v, model) != null) {
                throw new ConfigException(ServingOptions.UPSTREAM_STATIC_MODELS.key(), "maps version " + v + " twice");
            }
            if (out.values().stream().filter(model::equals).count() > 1) {
                throw new ConfigException(ServingOptions.UPSTREAM_STATIC_MODELS.key(), "maps two versions to " + model
                        + ": each version needs its own model, or its answers are logged under the wrong one");
            }
        }
        return out;
    }
}
