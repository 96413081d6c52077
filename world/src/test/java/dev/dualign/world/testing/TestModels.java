package dev.dualign.world.testing;

import ai.djl.Device;
import ai.djl.nn.Parameter;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.world.bootstrap.Bootstrap;
import dev.dualign.world.bootstrap.ModelSize;
import dev.dualign.world.bootstrap.Progress;
import java.nio.file.Path;
import java.util.Map;

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

    /**
     * A copy of the tiny registry at {@code root} with policy versions 1..{@code versions} published:
     * the reference with different noise added to its weights, so each version's log-probs differ.
     */
    public static ModelRegistry registryWithVersions(Path root, int versions) throws java.io.IOException {
        copyTree(registry(), root);
        ModelRegistry registry = new ModelRegistry(root, ModelRegistry.DEFAULT_KEEP);
        for (int v = 1; v <= versions; v++) {
            try (PolicyLm lm = PolicyLm.load(registry.open(ModelNames.POLICY, 0), Device.cpu())) {
                ai.djl.engine.Engine.getInstance().setRandomSeed(v);
                for (Parameter p : lm.model().getBlock().getParameters().values()) {
                    ai.djl.ndarray.NDArray w = p.getArray();
                    w.addi(w.getManager().randomNormal(0f, 0.05f, w.getShape(), w.getDataType()));
                }
                registry.publish(ModelNames.POLICY, (long) v, 0L, Map.of("harmless", (double) v), Map.of(), Map.of(), lm::save);
            }
        }
        return registry;
    }

    public static synchronized Path registry() {
        Path dir = Path.of(System.getProperty("java.io.tmpdir"), "test-registry-tiny-7");
        Bootstrap.run(new Bootstrap.Options(dir, 7, ModelSize.TINY, Device.cpu(), false), Progress.NONE);
        return dir;
    }
}
