package dev.dualign.service;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * The API keys of the clients a server answers, from a file of their SHA-256 hashes (a Kubernetes
 * Secret mounted as a file works), so the server never holds a key in the clear. One line per
 * client: {@code NAME sha256:HEX [REQUESTS_PER_MINUTE]}; {@code #} starts a comment. The file is
 * read again when it changes, at most every few seconds, so keys can be rotated without a restart;
 * a changed file that no longer parses is refused and the keys before it stay.
 */
public final class ClientKeys {
    /** How often, at most, the file's modification time is looked at. */
    static final long RECHECK_NANOS = 5_000_000_000L;
    /** The prefix of every key {@link #newKey} makes, so a leaked one is recognisable. */
    public static final String KEY_PREFIX = "dk-";

    /** One client: its name and its rate limit (null: none). */
    public record Client(String name, Integer perMinute, TokenBucket bucket) {}

    private final Path file;
    private final LongSupplier clock;
    private volatile Map<String, Client> byHash;
    private volatile FileTime loadedAt;
    private volatile long checkedAt;

    private ClientKeys(Path file, LongSupplier clock) {
        this.file = file;
        this.clock = clock;
        reload(true);
    }

    /** Reads {@code file}; a missing, unreadable or malformed one fails with the line and the reason. */
    public static ClientKeys load(Path file) {
        return new ClientKeys(file, System::nanoTime);
    }

    static ClientKeys load(Path file, LongSupplier clock) {
        return new ClientKeys(file, clock);
    }

    public Path file() {
        return file;
    }

    public int size() {
        return byHash.size();
    }

    /**
     * The client whose key {@code authorization} ({@code Bearer KEY}) carries, or null for a missing
     * or unknown key.
     */
    public Client find(String authorization) {
        long now = clock.getAsLong();
        if (now - checkedAt > RECHECK_NANOS) {
            checkedAt = now;
            reload(false);
        }
        if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return null;
        }
        String key = authorization.substring(7).trim();
        return key.isEmpty() ? null : byHash.get(sha256(key));
    }

    private void reload(boolean first) {
        try {
            FileTime t = Files.getLastModifiedTime(file);
            if (!first && t.equals(loadedAt)) {
                return;
            }
            Map<String, Client> parsed = parse(Files.readAllLines(file, StandardCharsets.UTF_8), byHash, clock.getAsLong());
            byHash = parsed;
            loadedAt = t;
        } catch (IOException e) {
            if (first) {
                throw new UncheckedIOException("cannot read the client keys file " + file + ": " + e.getMessage(), e);
            }
            org.slf4j.LoggerFactory.getLogger(ClientKeys.class).error("client keys file {} unreadable, keeping the keys before: {}", file, e.toString());
        } catch (IllegalArgumentException e) {
            if (first) {
                throw new IllegalArgumentException("client keys file " + file + ": " + e.getMessage(), e);
            }
            org.slf4j.LoggerFactory.getLogger(ClientKeys.class).error("client keys file {} changed but is invalid, keeping the keys before: {}",
                    file, e.getMessage());
        }
    }

    /** Parses the lines; a client already known keeps its bucket (a reload does not refill it). */
    static Map<String, Client> parse(List<String> lines, Map<String, Client> before, long now) {
        Map<String, Client> byHash = new HashMap<>();
        Map<String, Integer> names = new LinkedHashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            int hash = line.indexOf('#');
            if (hash >= 0) {
                line = line.substring(0, hash).strip();
            }
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split("\\s+");
            String where = "line " + (i + 1) + ": ";
            if (f.length < 2 || f.length > 3) {
                throw new IllegalArgumentException(where + "expected NAME sha256:HEX [REQUESTS_PER_MINUTE], got " + f.length + " fields");
            }
            if (!f[1].startsWith("sha256:") || !f[1].substring(7).matches("[0-9a-f]{64}")) {
                throw new IllegalArgumentException(where + "the key must be given as sha256: and 64 lower-case hex digits (never the key itself)");
            }
            if (names.put(f[0], i + 1) != null) {
                throw new IllegalArgumentException(where + "client '" + f[0] + "' is named twice");
            }
            Integer rpm = null;
            if (f.length == 3) {
                try {
                    rpm = Integer.parseInt(f[2]);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(where + "requests per minute must be an integer, got " + f[2]);
                }
                if (rpm < 1) {
                    throw new IllegalArgumentException(where + "requests per minute must be ≥ 1 (leave it out for no limit), got " + rpm);
                }
            }
            String h = f[1].substring(7);
            Client old = before == null ? null : before.get(h);
            TokenBucket bucket = rpm == null ? null
                    : old != null && rpm.equals(old.perMinute()) ? old.bucket() : new TokenBucket(rpm, now);
            if (byHash.put(h, new Client(f[0], rpm, bucket)) != null) {
                throw new IllegalArgumentException(where + "the same key is listed twice");
            }
        }
        return Map.copyOf(byHash);
    }

    /** A new random key (shown once to its owner) and the line to add to the file for it. */
    public static String[] newKey(String name, Integer perMinute) {
        if (!name.matches("[A-Za-z0-9._@-]{1,64}")) {
            throw new IllegalArgumentException("a client name is 1–64 letters, digits and . _ @ -, got '" + name + "'");
        }
        byte[] b = new byte[24];
        new SecureRandom().nextBytes(b);
        String key = KEY_PREFIX + HexFormat.of().formatHex(b);
        return new String[] {key, name + " sha256:" + sha256(key) + (perMinute == null ? "" : " " + perMinute)};
    }

    static String sha256(String key) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
