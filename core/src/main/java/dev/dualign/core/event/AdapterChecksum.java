package dev.dualign.core.event;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * The checksum an outside version's {@code CheckpointEvent.sha256} carries: one digest over a whole
 * adapter directory, which any trainer can compute the same way (examples/trl-dpo's
 * {@code adapter_sha256} is the same function), so whoever can read the directory can tell it is
 * the one the answer names. SHA-256 over the directory's regular files (links not followed) sorted
 * by their '/'-separated path relative to it, compared as strings; for each: the path in UTF-8, a
 * NUL byte, its size in decimal ASCII, a NUL byte, then its bytes.
 */
public final class AdapterChecksum {
    private AdapterChecksum() {}

    /** The directory's checksum (64 lower-case hex). */
    public static String of(Path dir) throws IOException {
        List<String[]> files = new ArrayList<>();
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                if (Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    files.add(new String[] {dir.relativize(p).toString().replace(java.io.File.separatorChar, '/'), p.toString()});
                }
            }
        }
        // Python sorts str by code point; Java's String.compareTo by UTF-16 unit: the same below U+D800 (every file name here)
        files.sort((a, b) -> a[0].compareTo(b[0]));
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
        byte[] buf = new byte[1 << 16];
        for (String[] f : files) {
            Path p = Path.of(f[1]);
            md.update(f[0].getBytes(StandardCharsets.UTF_8));
            md.update((byte) 0);
            md.update(Long.toString(Files.size(p)).getBytes(StandardCharsets.US_ASCII));
            md.update((byte) 0);
            try (InputStream in = Files.newInputStream(p)) {
                for (int r; (r = in.read(buf)) > 0; ) {
                    md.update(buf, 0, r);
                }
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
