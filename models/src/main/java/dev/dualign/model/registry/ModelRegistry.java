package dev.dualign.model.registry;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * Versioned models on disk: {@code <root>/<name>/<version>/} with a {@code manifest.json} listing
 * every file with its sha256. Publishing writes into a staging directory, fsyncs, and renames it
 * into place, so a reader sees a whole version or none. Loading verifies every checksum and
 * refuses a version with missing, altered, extra or escaping files.
 *
 * <pre>{@code
 * ModelRegistry reg = new ModelRegistry(Path.of(".dualign/registry"));
 * Manifest m = reg.publish("policy", 1L, 0L, Map.of("harmless", 0.7), metrics, info, dir -> lm.save(dir));
 * Path verified = reg.open("policy", 1);
 * }</pre>
 */
public final class ModelRegistry {
    public static final String MANIFEST = "manifest.json";
    private static final String STAGING = ".staging-";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);

    private final Path root;
    private final int keepLast;

    /**
     * Versions kept per model besides the reference by default: the stable, a canary, the one
     * being trained and two to roll back to.
     */
    public static final int DEFAULT_KEEP = 5;

    /** A registry at {@code root} keeping {@link #DEFAULT_KEEP} versions per model. */
    public ModelRegistry(Path root) {
        this(root, DEFAULT_KEEP);
    }

    /**
     * @param root registry directory (created if missing)
     * @param keepLast versions kept per model besides version 0 (the reference), ≥ 1
     */
    public ModelRegistry(Path root, int keepLast) {
        if (keepLast < 1) {
            throw new IllegalArgumentException("registry keep-last must be ≥ 1, got " + keepLast);
        }
        this.root = root.toAbsolutePath().normalize();
        this.keepLast = keepLast;
        try {
            Files.createDirectories(this.root);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create registry " + root, e);
        }
    }

    public Path root() {
        return root;
    }

    /** Writes a version's files into the directory it is given. */
    @FunctionalInterface
    public interface Writer {
        void write(Path dir) throws IOException;
    }

    /**
     * Publishes {@code name} at {@code version} (or the next free one when {@code null}).
     *
     * @throws RegistryException if that version exists already (versions are immutable)
     */
    public synchronized Manifest publish(String name, Long version, Long parent, Map<String, Double> lambda,
            Map<String, Double> metrics, Map<String, String> info, Writer writer) {
        checkName(name);
        Path modelDir = root.resolve(name);
        long v = version != null ? version : latest(name).map(x -> x + 1).orElse(0L);
        if (v < 0) {
            throw new IllegalArgumentException("version must be ≥ 0, got " + v);
        }
        Path target = modelDir.resolve(Long.toString(v));
        if (Files.exists(target)) {
            throw new RegistryException(name + " version " + v + " exists already; versions are immutable");
        }
        Path staging = modelDir.resolve(STAGING + UUID.randomUUID());
        try {
            Files.createDirectories(staging);
            writer.write(staging);
            List<Manifest.FileEntry> files = new ArrayList<>();
            try (Stream<Path> walk = Files.walk(staging)) {
                for (Path f : walk.filter(Files::isRegularFile).sorted().toList()) {
                    String rel = staging.relativize(f).toString().replace('\\', '/');
                    if (rel.equals(MANIFEST)) {
                        throw new RegistryException("a version may not write its own " + MANIFEST);
                    }
                    files.add(new Manifest.FileEntry(rel, sha256(f), Files.size(f)));
                    fsync(f);
                }
            }
            Manifest m = new Manifest(name, v, parent, Instant.now().toString(), new TreeMap<>(lambda),
                    files, new TreeMap<>(metrics), new TreeMap<>(info));
            Path manifest = staging.resolve(MANIFEST);
            Files.write(manifest, JSON.writeValueAsBytes(m));
            fsync(manifest);
            fsyncDir(staging);
            try {
                Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileAlreadyExistsException | java.nio.file.DirectoryNotEmptyException e) {
                throw new RegistryException(name + " version " + v + " was published concurrently", e);
            } catch (AtomicMoveNotSupportedException e) {
                throw new RegistryException("the registry's file system cannot rename atomically: " + root, e);
            }
            fsyncDir(modelDir);
            prune(name);
            return m;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot publish " + name + " version " + v + ": " + e.getMessage(), e);
        } finally {
            deleteQuietly(staging);
        }
    }

    /** Published versions of {@code name}, ascending; staging directories are never listed. */
    public List<Long> versions(String name) {
        checkName(name);
        Path dir = root.resolve(name);
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.matches("\\d{1,18}"))
                    .map(Long::parseLong).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public Optional<Long> latest(String name) {
        List<Long> v = versions(name);
        return v.isEmpty() ? Optional.empty() : Optional.of(v.get(v.size() - 1));
    }

    /** The manifest of a version, read but not verified. */
    public Manifest manifest(String name, long version) {
        Path f = versionDir(name, version).resolve(MANIFEST);
        try {
            return JSON.readValue(f.toFile(), Manifest.class);
        } catch (IOException e) {
            throw new RegistryException(name + " version " + version + ": unreadable or missing " + MANIFEST, e);
        }
    }

    /** sha256 of a version's manifest: what a {@code CheckpointEvent} carries. */
    public String manifestSha256(String name, long version) {
        try {
            return sha256(versionDir(name, version).resolve(MANIFEST));
        } catch (IOException e) {
            throw new RegistryException(name + " version " + version + ": no manifest", e);
        }
    }

    /**
     * Verifies every file of a version and returns its directory.
     *
     * @throws RegistryException naming the first problem found
     */
    public Path open(String name, long version) {
        return open(name, version, null);
    }

    /** As {@link #open(String, long)}, also checking the manifest's own digest when given. */
    public Path open(String name, long version, String expectedManifestSha256) {
        Path dir = versionDir(name, version);
        if (!Files.isDirectory(dir)) {
            throw new RegistryException(name + " version " + version + " does not exist in " + root);
        }
        if (expectedManifestSha256 != null && !expectedManifestSha256.equals(manifestSha256(name, version))) {
            throw new RegistryException(name + " version " + version + ": manifest digest does not match the announced one");
        }
        Manifest m = manifest(name, version);
        if (!name.equals(m.name()) || m.version() != version) {
            throw new RegistryException(name + " version " + version + ": manifest names " + m.name() + " version " + m.version());
        }
        try {
            Path real = dir.toRealPath();
            List<String> listed = new ArrayList<>();
            for (Manifest.FileEntry f : m.files()) {
                String p = f.path();
                if (p == null || p.isEmpty() || p.startsWith("/") || p.contains("\\") || p.contains("\0")
                        || List.of(p.split("/")).contains("..")) {
                    throw new RegistryException(name + " version " + version + ": file path '" + p + "' leaves the version directory");
                }
                Path file = dir.resolve(p).normalize();
                if (!Files.isRegularFile(file)) {
                    throw new RegistryException(name + " version " + version + ": file " + p + " is missing");
                }
                if (!file.toRealPath().startsWith(real)) {
                    throw new RegistryException(name + " version " + version + ": file " + p + " points outside the version directory");
                }
                if (Files.size(file) != f.size() || !sha256(file).equals(f.sha256())) {
                    throw new RegistryException(name + " version " + version + ": file " + p + " was altered (checksum mismatch)");
                }
                listed.add(p);
            }
            try (Stream<Path> walk = Files.walk(dir)) {
                for (Path f : walk.filter(x -> !Files.isDirectory(x)).toList()) {
                    String rel = dir.relativize(f).toString().replace('\\', '/');
                    if (!rel.equals(MANIFEST) && !listed.contains(rel)) {
                        throw new RegistryException(name + " version " + version + ": unexpected file " + rel);
                    }
                }
            }
        } catch (IOException e) {
            throw new RegistryException(name + " version " + version + ": cannot be read: " + e.getMessage(), e);
        }
        return dir;
    }

    private Path versionDir(String name, long version) {
        checkName(name);
        return root.resolve(name).resolve(Long.toString(version));
    }

    /** Where holders (servers) say which versions they need: never pruned while a pin names them. */
    static final String PINS = ".pins";

    /**
     * Records that {@code holder} (e.g. a server instance) needs {@code versions} of {@code name}: its
     * stable, canary and rollback targets. Pruning never deletes a pinned version, so a server that
     * restarts finds what it served. A holder's pin replaces its previous one.
     */
    public void pin(String name, String holder, Collection<Long> versions) {
        checkName(name);
        if (holder == null || !holder.matches("[A-Za-z0-9._-]{1,128}")) {
            throw new IllegalArgumentException("pin holder must be letters, digits, '.', '_' or '-', got '" + holder + "'");
        }
        Path dir = root.resolve(name).resolve(PINS);
        try {
            Files.createDirectories(dir);
            Path tmp = dir.resolve(holder + ".tmp-" + UUID.randomUUID());
            Files.writeString(tmp, String.join("\n", versions.stream().map(String::valueOf).toList()) + "\n");
            Files.move(tmp, dir.resolve(holder), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot pin " + name + " versions " + versions + " for " + holder, e);
        }
    }

    /**
     * A pin not rewritten for this long is a holder's that is gone (a server instance replaced, a
     * name changed): it is removed, so its versions can be pruned. Live servers rewrite theirs daily.
     */
    public static final long PIN_TTL_MS = 7 * 24 * 3600_000L;

    /** Every version of {@code name} some live holder has pinned (pins older than {@link #PIN_TTL_MS} are removed). */
    public java.util.Set<Long> pinned(String name) {
        return pinned(name, System.currentTimeMillis());
    }

    java.util.Set<Long> pinned(String name, long now) {
        checkName(name);
        java.util.Set<Long> out = new java.util.TreeSet<>();
        Path dir = root.resolve(name).resolve(PINS);
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (Stream<Path> s = Files.list(dir)) {
            for (Path f : s.filter(p -> !p.getFileName().toString().contains(".tmp-")).toList()) {
                if (now - Files.getLastModifiedTime(f).toMillis() > PIN_TTL_MS) {
                    Files.deleteIfExists(f); // a gone holder's: its versions may be pruned now
                    continue;
                }
                for (String line : Files.readAllLines(f)) {
                    if (line.strip().matches("\\d{1,18}")) {
                        out.add(Long.parseLong(line.strip()));
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the pins of " + name, e);
        }
        return out;
    }

    private void prune(String name) {
        List<Long> v = new ArrayList<>(versions(name));
        v.remove(Long.valueOf(0)); // the reference policy is never pruned
        java.util.Set<Long> pinned = pinned(name); // nor a version a server serves or may roll back to
        for (int i = 0; i < v.size() - keepLast; i++) {
            if (pinned.contains(v.get(i))) {
                continue;
            }
            Path dir = versionDir(name, v.get(i));
            Path trash = root.resolve(name).resolve(STAGING + "trash-" + UUID.randomUUID());
            try {
                Files.move(dir, trash, StandardCopyOption.ATOMIC_MOVE);
                deleteQuietly(trash);
            } catch (IOException e) {
                // pruning is housekeeping: a failure leaves an extra version, never a broken one
            }
        }
    }

    private static void checkName(String name) {
        if (name == null || !name.matches("[a-z][a-z0-9_-]{0,63}")) {
            throw new IllegalArgumentException("model name must be lower-case letters, digits, '-' or '_', got '" + name + "'");
        }
    }

    /** The sha256 of a file, in hex, as manifests record it. */
    public static String sha256(Path f) throws IOException {
        try (InputStream in = Files.newInputStream(f)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void fsync(Path f) throws IOException {
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
    }

    private static void fsyncDir(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            // not every platform can open a directory; the rename is still atomic
        }
    }

    private static void deleteQuietly(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // best effort
        }
    }
}
