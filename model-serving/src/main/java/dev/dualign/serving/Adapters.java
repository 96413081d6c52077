package dev.dualign.serving;

import dev.dualign.core.control.AdapterSlots;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Runtime adapters, vLLM's load/unload API on the built-in policy: a policy version of the registry
 * loaded under a name beside the deployment answers the chat completions that name it, so a gateway
 * can canary a version by model name with {@code serve} as its upstream. {@link AdapterSlots}
 * decides what may be loaded; loading is the deployment's own (every file checked against the
 * manifest, then a warm-up), so a broken version is refused and nothing changes. A request holds a
 * {@link Lease} until it is answered: an unload stops new requests at once and the version is
 * closed when the last request in flight ends.
 */
public final class Adapters implements AutoCloseable {
    /** A load or unload refused: the HTTP status, the request field at fault (or null), an error code, and why. */
    static final class Refused extends RuntimeException {
        final int status;
        final String param;
        final String code;

        Refused(int status, String param, String code, String why) {
            super(why);
            this.status = status;
            this.param = param;
            this.code = code;
        }
    }

    /** An adapter a request named was unloaded before its generation could take it. */
    static final class Gone extends RuntimeException {
        Gone(String name) {
            super("the adapter '" + name + "' was unloaded");
        }
    }

    /** A loaded adapter: its name, the {@code lora_path} it came from, the version, and when it was loaded (epoch seconds). */
    record Loaded(String name, String path, ServedPolicy policy, long created) {
        long version() {
            return policy.version;
        }
    }

    /** A request's hold on an adapter: its version stays loaded until the lease is closed (once). */
    public static final class Lease implements AutoCloseable {
        private final Loaded adapter;
        private final AtomicBoolean open = new AtomicBoolean(true);

        private Lease(Loaded adapter) {
            this.adapter = adapter;
        }

        public String name() {
            return adapter.name();
        }

        public long version() {
            return adapter.version();
        }

        ServedPolicy policy() {
            return adapter.policy();
        }

        @Override
        public void close() {
            if (open.compareAndSet(true, false)) {
                adapter.policy().release();
            }
        }
    }

    private final ModelRegistry registry;
    private final VersionLoader loader;
    private final ServerSettings settings;
    private final VersionTimeline timeline;
    /** Guarded by this. */
    private final AdapterSlots slots;
    private final Map<String, Loaded> live = new ConcurrentHashMap<>();

    Adapters(ModelRegistry registry, VersionLoader loader, ServerSettings settings, VersionTimeline timeline) {
        this.registry = registry;
        this.loader = loader;
        this.settings = settings;
        this.timeline = timeline;
        this.slots = new AdapterSlots(settings.model(), settings.maxAdapters());
    }

    /**
     * Loads the version {@code path} names under {@code name}: verified against its manifest (and
     * {@code sha256}, the manifest's digest, when given) and warmed up, as a deployment is.
     *
     * @throws Refused (400) when the name, the path or the version is refused; nothing changes then
     */
    Loaded load(String name, String path, String sha256) {
        if (settings.enforce() != null) {
            throw new Refused(400, null, "adapters_unavailable", "this server enforces at inference (dual.mode: enforce): every answer "
                    + "is chosen among the reference's, so it serves no adapters");
        }
        long version;
        try {
            version = AdapterSlots.version(real(path), Path.of(real(registry.root().toString())), ModelNames.POLICY);
        } catch (IllegalArgumentException e) {
            throw new Refused(400, "lora_path", "invalid_lora_path", e.getMessage());
        }
        synchronized (this) {
            String why = slots.reserve(name);
            if (why != null) {
                throw new Refused(400, "lora_name", "adapter_refused", why);
            }
        }
        boolean done = false;
        try {
            ServedPolicy p;
            try {
                p = loader.load(version, sha256);
            } catch (RuntimeException e) {
                timeline.record(version, "adapter-refuse", "'" + name + "': " + e.getMessage());
                throw new Refused(400, "lora_path", "adapter_refused", "version " + version + " refused: " + e.getMessage());
            }
            Loaded l = new Loaded(name, path, p, System.currentTimeMillis() / 1000);
            synchronized (this) {
                slots.loaded(name);
                live.put(name, l);
            }
            done = true;
            timeline.record(version, "adapter-load", "as '" + name + "'");
            return l;
        } finally {
            if (!done) {
                synchronized (this) {
                    slots.abandon(name);
                }
            }
        }
    }

    /** A path's real form when it is absolute and exists (so a link into the registry is judged by where it leads), else as given. */
    private static String real(String path) {
        try {
            Path p = Path.of(path);
            return p.isAbsolute() && Files.exists(p) ? p.toRealPath().toString() : path;
        } catch (IOException | RuntimeException e) {
            return path;
        }
    }

    /**
     * Unloads {@code name}: no new request is routed to it from now on, and its version is closed
     * when the last request in flight on it ends.
     *
     * @throws Refused (404) when no adapter of that name is loaded
     */
    void unload(String name) {
        Loaded l;
        synchronized (this) {
            if (!slots.unload(name)) {
                throw new Refused(404, "lora_name", "adapter_not_found", "no adapter named '" + name + "' is loaded");
            }
            l = live.remove(name);
        }
        l.policy().release();
        timeline.record(l.version(), "adapter-unload", "'" + name + "': no new requests; closed once those in flight end");
    }

    /** A hold on the adapter {@code name} for one request, or null when none of that name is loaded. */
    Lease lease(String name) {
        Loaded l = live.get(name);
        if (l == null || !l.policy().acquire()) {
            return null; // unloaded meanwhile
        }
        return new Lease(l);
    }

    boolean isLoaded(String name) {
        return live.containsKey(name);
    }

    /** The loaded adapters, in the order they were loaded. */
    List<Loaded> loaded() {
        List<Loaded> out = new ArrayList<>();
        List<String> names;
        synchronized (this) {
            names = slots.loaded();
        }
        for (String n : names) {
            Loaded l = live.get(n);
            if (l != null) {
                out.add(l);
            }
        }
        return out;
    }

    /** Releases every loaded adapter (at the server's close). */
    @Override
    public synchronized void close() {
        for (String n : slots.loaded()) {
            slots.unload(n);
            Loaded l = live.remove(n);
            if (l != null) {
                l.policy().release();
            }
        }
    }
}
