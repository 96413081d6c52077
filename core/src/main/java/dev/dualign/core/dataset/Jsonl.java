package dev.dualign.core.dataset;

import dev.dualign.core.event.EventJson;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * JSON Lines with their digest: one compact JSON object per line, UTF-8, each line ending in
 * {@code \n}. A file appears whole or not at all (written beside, then moved), so a trainer never
 * reads a half-written one under a request that names its sha256.
 */
final class Jsonl {
    private Jsonl() {}

    /** Writes each object as one line; returns the digest and count of what was written. */
    static DatasetFile write(Path path, Iterable<?> lines, String format) throws IOException {
        Path dir = path.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + path.getFileName(), ".part");
        MessageDigest md = sha256();
        long n = 0;
        try {
            try (OutputStream out = new DigestOutputStream(new BufferedOutputStream(Files.newOutputStream(tmp)), md)) {
                for (Object line : lines) {
                    out.write(EventJson.writeBytes(line));
                    out.write('\n');
                    n++;
                }
            }
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
        return new DatasetFile(path, HexFormat.of().formatHex(md.digest()), n, format);
    }

    /** SHA-256 of the file's bytes, 64 lower-case hex. */
    static String sha256(Path path) throws IOException {
        MessageDigest md = sha256();
        try (InputStream in = Files.newInputStream(path)) {
            byte[] buf = new byte[1 << 16];
            for (int r; (r = in.read(buf)) > 0; ) {
                md.update(buf, 0, r);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
