package dev.dualign.core.control;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The rules of runtime adapters, the policy server's side of vLLM's load/unload API: an adapter is
 * a policy version of the registry loaded under a name beside the deployment. A name is used once
 * (unloaded, it is never loaded again, so a request that named it can never meet other weights), at
 * most {@code max} are loaded or loading, and a path must name a version of the server's own
 * registry. The server carries these decisions out; it calls one instance under one lock.
 */
public final class AdapterSlots {
    /** What an adapter name may be: it appears in {@code /v1/models/{name}}, so no slash. */
    public static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:-]{0,127}");
    private static final Pattern VERSION = Pattern.compile("\\d{1,18}");

    private final String baseModel;
    private final int max;
    private final Set<String> loaded = new LinkedHashSet<>();
    private final Set<String> loading = new HashSet<>();
    /** Every name ever loaded, unloaded ones included: never loaded again. */
    private final Set<String> used = new HashSet<>();

    /**
     * @param baseModel the model id the deployment answers under, which no adapter may take
     * @param max most adapters loaded at once ({@code server.max-adapters}; 0: none)
     */
    public AdapterSlots(String baseModel, int max) {
        if (max < 0) {
            throw new IllegalArgumentException("max adapters must be ≥ 0, got " + max);
        }
        this.baseModel = baseModel;
        this.max = max;
    }

    /**
     * Reserves {@code name} for a load about to start (it counts against {@code max} until it is
     * {@link #loaded} or {@link #abandon}ed).
     *
     * @return why the name may not be loaded now, or null when it was reserved
     */
    public String reserve(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            return "lora_name must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit, got '"
                    + name + "'";
        }
        if (name.equals(baseModel)) {
            return "lora_name '" + name + "' is the base model's id";
        }
        if (loaded.contains(name) || loading.contains(name)) {
            return "an adapter named '" + name + "' is already loaded";
        }
        if (used.contains(name)) {
            return "adapter names are never reused: '" + name + "' was loaded before and unloaded; load the version under a new name";
        }
        if (loaded.size() + loading.size() >= max) {
            return max == 0 ? "runtime adapters are off (server.max-adapters is 0)"
                    : "at most " + max + " adapters may be loaded (server.max-adapters); unload one first";
        }
        loading.add(name);
        return null;
    }

    /** The reserved load succeeded: {@code name} is loaded, and used for good. */
    public void loaded(String name) {
        if (!loading.remove(name)) {
            throw new IllegalStateException("adapter '" + name + "' was not reserved");
        }
        loaded.add(name);
        used.add(name);
    }

    /** The reserved load failed: the name was never served, so it may be tried again. */
    public void abandon(String name) {
        loading.remove(name);
    }

    /** Unloads {@code name}; false when it is not loaded (a load still under way is not). */
    public boolean unload(String name) {
        return loaded.remove(name);
    }

    public boolean isLoaded(String name) {
        return loaded.contains(name);
    }

    /** The loaded adapters' names, in the order they were loaded. */
    public List<String> loaded() {
        return new ArrayList<>(loaded);
    }

    public int max() {
        return max;
    }

    /**
     * The policy version a {@code lora_path} names: {@code <model>/<version>} relative to the
     * registry, as a checkpoint event's {@code path} gives it, or that version's directory inside
     * the registry ({@code <root>/<model>/<version>}). Anything else (another directory, a hub id)
     * is not something this server can load.
     *
     * @param registryRoot the registry's root, absolute and normalised (symbolic links resolved
     *     when the caller resolved them in {@code path} too)
     * @param model the model whose versions adapters are ({@code policy})
     * @throws IllegalArgumentException saying what the path must be
     */
    public static long version(String path, Path registryRoot, String model) {
        String expected = "lora_path must name a " + model + " version of this server's registry: " + model
                + "/<version>, or the directory " + registryRoot.resolve(model) + "/<version>; got '" + path + "'";
        if (path == null || path.isBlank() || path.contains("\0") || path.contains("\\")) {
            throw new IllegalArgumentException(expected);
        }
        Path p;
        try {
            p = Path.of(path).normalize();
        } catch (java.nio.file.InvalidPathException e) {
            throw new IllegalArgumentException(expected);
        }
        if (p.isAbsolute()) {
            if (!p.startsWith(registryRoot)) {
                throw new IllegalArgumentException(expected);
            }
            p = registryRoot.relativize(p);
        }
        if (p.getNameCount() != 2 || !p.getName(0).toString().equals(model) || !VERSION.matcher(p.getName(1).toString()).matches()) {
            throw new IllegalArgumentException(expected);
        }
        return Long.parseLong(p.getName(1).toString());
    }
}
