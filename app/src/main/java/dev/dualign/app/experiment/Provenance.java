package dev.dualign.app.experiment;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.event.EventJson;
import dev.dualign.model.registry.ModelRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * Where a result came from, recorded by one run of an experiment and written by
 * {@link Experiments#runAndWrite} as the result's {@code provenance} block: the code (git commit, and
 * whether the tree had uncommitted changes), the models (each name/version with its manifest's sha256,
 * and a digest of the whole registry), every parameter the experiment used (its effective
 * configuration, defaults included) and the seeds. It holds no machine paths: a registry is named by
 * its digest, never by where it lies.
 *
 * <p>An experiment records a parameter by reading it through {@link #param}, so what is written is
 * what was used: {@code int runs = ctx.provenance().param("runsPerCell", ctx.quick() ? 200 : 2000);}.
 */
public final class Provenance {
    /** What is written when the commit or the tree's state cannot be read (no git, not a checkout). */
    public static final String UNKNOWN = "unknown";

    /** The code a result came from: a commit and whether the working tree differed from it (null: unknown). */
    public record Git(String commit, Boolean dirty) {
        static final Git NONE = new Git(UNKNOWN, null);
    }

    /** One model read from a registry: its name, version, the sha256 of its manifest and the registry's digest. */
    public record ModelUse(String name, long version, String manifestSha256, String registry) {}

    private final ObjectNode config = EventJson.mapper().createObjectNode();
    private final Map<String, ModelUse> models = new TreeMap<>();
    private final java.util.LinkedHashSet<String> registryDigests = new java.util.LinkedHashSet<>();

    /** Records a parameter and returns it. A name given twice with different values is a bug in the experiment. */
    public synchronized int param(String name, int value) {
        return put(name, EventJson.mapper().valueToTree(value), value);
    }

    public synchronized long param(String name, long value) {
        return put(name, EventJson.mapper().valueToTree(value), value);
    }

    public synchronized double param(String name, double value) {
        return put(name, EventJson.mapper().valueToTree(value), value);
    }

    public synchronized boolean param(String name, boolean value) {
        return put(name, EventJson.mapper().valueToTree(value), value);
    }

    public synchronized String param(String name, String value) {
        return put(name, EventJson.mapper().valueToTree(value), value);
    }

    public synchronized int[] param(String name, int[] value) {
        return put(name, EventJson.mapper().valueToTree(value), value);
    }

    public synchronized double[] param(String name, double[] value) {
        return put(name, EventJson.mapper().valueToTree(value), value);
    }

    /** Any other value Jackson can write (a record, a list): recorded as its JSON. */
    public synchronized <T> T paramObject(String name, T value) {
        return put(name, EventJson.mapper().valueToTree(value), value);
    }

    private <T> T put(String name, JsonNode json, T value) {
        JsonNode before = config.get(name);
        if (before != null && !before.equals(json)) {
            throw new IllegalStateException("parameter " + name + " recorded twice with different values: " + before
                    + " and " + json);
        }
        config.set(name, json);
        return value;
    }

    /**
     * Records that the experiment read {@code name} version {@code version} from {@code registry}:
     * the manifest's sha256 (what a checkpoint event carries) and the registry's digest.
     */
    public synchronized void model(ModelRegistry registry, String name, long version) {
        String digest = registryDigest(registry);
        registryDigests.add(digest);
        models.put(digest + " " + name + "/" + version, new ModelUse(name, version, registry.manifestSha256(name, version), digest));
    }

    public synchronized List<ModelUse> models() {
        return List.copyOf(models.values());
    }

    /**
     * The registry's content as one sha256: over "name version manifest-sha256" of every published
     * version, in order. Two registries with the same digest hold the same models; where it lies
     * does not enter it.
     */
    public static String registryDigest(ModelRegistry registry) {
        StringBuilder lines = new StringBuilder();
        try (var names = java.nio.file.Files.list(registry.root())) {
            // the folders named as the registry names models; anything else there is not a model
            for (String name : names.filter(java.nio.file.Files::isDirectory).map(p -> p.getFileName().toString())
                    .filter(n -> n.matches("[a-z][a-z0-9_-]{0,63}")).sorted().toList()) {
                for (long v : registry.versions(name)) {
                    lines.append(name).append(' ').append(v).append(' ').append(registry.manifestSha256(name, v)).append('\n');
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot list the registry", e);
        }
        return sha256(lines.toString());
    }

    static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The commit checked out at {@code root} and whether its tree has changes ({@code git status
     * --porcelain} prints anything, untracked files included); {@link Git#NONE} when git is missing,
     * fails, or {@code root} is not in a checkout.
     */
    public static Git git(Path root) {
        return git(root, Map.of());
    }

    /** As {@link #git(Path)} with git's environment amended (tests: {@code GIT_CEILING_DIRECTORIES}). */
    static Git git(Path root, Map<String, String> env) {
        String head = run(root, env, "git", "rev-parse", "--verify", "HEAD");
        if (head == null || !head.strip().matches("[0-9a-f]{40,64}")) {
            return Git.NONE;
        }
        String status = run(root, env, "git", "status", "--porcelain");
        return new Git(head.strip(), status == null ? null : !status.isBlank());
    }

    /** A command's standard output, or null when it cannot start, fails or takes over 30 s. */
    private static String run(Path dir, Map<String, String> env, String... command) {
        try {
            ProcessBuilder b = new ProcessBuilder(command).directory(dir.toFile()).redirectError(ProcessBuilder.Redirect.DISCARD);
            b.environment().putAll(env);
            Process p = b.start();
            p.getOutputStream().close();
            byte[] out;
            try (InputStream in = p.getInputStream()) {
                out = in.readAllBytes();
            }
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return null;
            }
            return p.exitValue() == 0 ? new String(out, StandardCharsets.UTF_8) : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /**
     * The block written into the result.
     *
     * @param git the code, read before the run (the run writes into the tree itself)
     * @param common the parameters every experiment has (name, seeds, quick), first in the config
     */
    synchronized ObjectNode json(Git git, ObjectNode common, List<Integer> seeds) {
        ObjectNode o = EventJson.mapper().createObjectNode();
        o.put("commit", git.commit());
        if (git.dirty() == null) {
            o.put("dirty", UNKNOWN);
        } else {
            o.put("dirty", git.dirty());
        }
        if (registryDigests.isEmpty()) {
            o.putNull("registry"); // no model read: the experiment does not use the registry
        } else if (registryDigests.size() == 1) {
            o.put("registry", registryDigests.iterator().next());
        } else { // one registry per seed: each seed bootstraps its own reference and scorers
            ArrayNode rs = o.putArray("registry");
            registryDigests.forEach(rs::add);
        }
        ArrayNode ms = o.putArray("models");
        for (ModelUse m : models.values()) {
            ms.addObject().put("name", m.name()).put("version", m.version()).put("manifestSha256", m.manifestSha256())
                    .put("registry", m.registry());
        }
        ArrayNode s = o.putArray("seeds");
        seeds.forEach(s::add);
        ObjectNode c = o.putObject("config");
        c.setAll(common);
        c.setAll(config);
        return o;
    }
}
