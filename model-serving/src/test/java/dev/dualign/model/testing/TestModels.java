package dev.dualign.model.testing;

import ai.djl.Device;
import dev.dualign.model.bootstrap.Bootstrap;
import dev.dualign.model.bootstrap.ModelSize;
import dev.dualign.model.bootstrap.Progress;
import java.nio.file.Path;

/**
 * One tiny bootstrap shared by every test of a module run (under its target/tmp): the first
 * caller trains it, later callers find it and reuse it after verifying its checksums.
 */
public final class TestModels {
    private TestModels() {}

    /** Copies a directory tree (a registry to damage in a test, say). */
    public static void copyTree(Path from, Path to) throws java.io.IOException {
        try (var s = java.nio.file.Files.walk(from)) {
            for (Path p : s.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (java.nio.file.Files.isDirectory(p)) {
                    java.nio.file.Files.createDirectories(target);
                } else {
                    java.nio.file.Files.copy(p, target);
                }
            }
        }
    }

    public static synchronized Path registry() {
        Path dir = Path.of(System.getProperty("java.io.tmpdir"), "test-registry-tiny-7");
        Bootstrap.run(new Bootstrap.Options(dir, 7, ModelSize.TINY, Device.cpu(), false), Progress.NONE);
        return dir;
    }
}
