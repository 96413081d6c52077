package dev.dualign.model.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelRegistryTest {
    @TempDir
    Path root;

    private static ModelRegistry.Writer files(String... nameAndContent) {
        return dir -> {
            for (int i = 0; i < nameAndContent.length; i += 2) {
                Path f = dir.resolve(nameAndContent[i]);
                Files.createDirectories(f.getParent());
                Files.writeString(f, nameAndContent[i + 1]);
            }
        };
    }

    @Test
    void shouldPublishVerifyAndNumberVersions() {
        ModelRegistry reg = new ModelRegistry(root);
        Manifest m0 = reg.publish("policy", null, null, Map.of(), Map.of("ppl", 3.2), Map.of("seed", "1"),
                files("lm.json", "{}", "sub/lm.params", "weights"));
        Manifest m1 = reg.publish("policy", null, 0L, Map.of("harmless", 0.7), Map.of(), Map.of(), files("lm.json", "{}"));
        assertThat(m0.version()).isZero();
        assertThat(m1.version()).isEqualTo(1);
        assertThat(reg.versions("policy")).containsExactly(0L, 1L);
        assertThat(reg.open("policy", 0)).isDirectory();
        assertThat(reg.manifest("policy", 0).files()).extracting(Manifest.FileEntry::path)
                .containsExactly("lm.json", "sub/lm.params");
        assertThat(reg.manifest("policy", 1).lambda()).containsEntry("harmless", 0.7);
        assertThat(reg.manifest("policy", 1).parentVersion()).isZero();
        assertThatThrownBy(() -> reg.publish("policy", 1L, null, Map.of(), Map.of(), Map.of(), files("a", "b")))
                .isInstanceOf(RegistryException.class).hasMessageContaining("immutable");
    }

    @Test
    void shouldRefuseAlteredMissingExtraOrEscapingFiles() throws IOException {
        ModelRegistry reg = new ModelRegistry(root);
        reg.publish("reward", 0L, null, Map.of(), Map.of(), Map.of(), files("a.bin", "aaaa", "b.bin", "bbbb"));
        Path v = root.resolve("reward/0");
        Files.writeString(v.resolve("a.bin"), "aaab");
        assertThatThrownBy(() -> reg.open("reward", 0)).hasMessageContaining("a.bin").hasMessageContaining("altered");
        Files.writeString(v.resolve("a.bin"), "aaaa");
        assertThat(reg.open("reward", 0)).isEqualTo(v);

        Files.delete(v.resolve("b.bin"));
        assertThatThrownBy(() -> reg.open("reward", 0)).hasMessageContaining("b.bin").hasMessageContaining("missing");
        Files.writeString(v.resolve("b.bin"), "bbbb");
        Files.writeString(v.resolve("extra.bin"), "x");
        assertThatThrownBy(() -> reg.open("reward", 0)).hasMessageContaining("unexpected file extra.bin");
        Files.delete(v.resolve("extra.bin"));

        // a manifest that points outside its directory
        Files.writeString(root.resolve("secret"), "s");
        ObjectMapper json = new ObjectMapper();
        ObjectNode manifest = (ObjectNode) json.readTree(v.resolve("manifest.json").toFile());
        ((ObjectNode) manifest.withArray("files").get(0)).put("path", "../../secret");
        json.writeValue(v.resolve("manifest.json").toFile(), manifest);
        assertThatThrownBy(() -> reg.open("reward", 0)).hasMessageContaining("leaves the version directory");

        // a symbolic link that points outside
        reg.publish("humour", 0L, null, Map.of(), Map.of(), Map.of(), files("w", "w"));
        Path w = root.resolve("humour/0/w");
        String digest = reg.manifest("humour", 0).files().get(0).sha256();
        Files.delete(w);
        Files.writeString(root.resolve("outside"), "w");
        Files.createSymbolicLink(w, root.resolve("outside"));
        assertThat(reg.manifest("humour", 0).files().get(0).sha256()).isEqualTo(digest);
        assertThatThrownBy(() -> reg.open("humour", 0)).hasMessageContaining("points outside");
    }

    @Test
    void shouldCheckTheAnnouncedManifestDigest() {
        ModelRegistry reg = new ModelRegistry(root);
        reg.publish("policy", 0L, null, Map.of(), Map.of(), Map.of(), files("a", "1"));
        String sha = reg.manifestSha256("policy", 0);
        assertThat(sha).hasSize(64);
        assertThat(reg.open("policy", 0, sha)).isDirectory();
        assertThatThrownBy(() -> reg.open("policy", 0, "0".repeat(64))).hasMessageContaining("digest");
    }

    @Test
    void aFailedPublishLeavesNothingBehind() {
        ModelRegistry reg = new ModelRegistry(root);
        assertThatThrownBy(() -> reg.publish("policy", null, null, Map.of(), Map.of(), Map.of(), dir -> {
            Files.writeString(dir.resolve("half"), "written");
            throw new IOException("disk full");
        })).hasMessageContaining("disk full");
        assertThat(reg.versions("policy")).isEmpty();
        assertThat(root.resolve("policy").toFile().list()).isEmpty();
    }

    @Test
    void aConcurrentReaderNeverSeesAHalfWrittenVersion() throws Exception {
        ModelRegistry reg = new ModelRegistry(root, 100);
        AtomicBoolean done = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicInteger checked = new AtomicInteger();
        Thread reader = new Thread(() -> {
            while (!done.get()) {
                for (long v : reg.versions("policy")) {
                    try {
                        reg.open("policy", v);
                        checked.incrementAndGet();
                    } catch (Throwable t) {
                        failure.compareAndSet(null, t);
                    }
                }
            }
        });
        reader.start();
        for (int i = 0; i < 40; i++) {
            int n = i;
            reg.publish("policy", null, null, Map.of(), Map.of(), Map.of(), dir -> {
                for (int f = 0; f < 5; f++) {
                    Files.write(dir.resolve("part" + f), new byte[20_000 + n]);
                }
            });
        }
        done.set(true);
        reader.join();
        assertThat(failure.get()).isNull();
        assertThat(checked.get()).isPositive();
        assertThat(reg.versions("policy")).hasSize(40);
    }

    @Test
    void shouldKeepTheReferenceAndTheLastNVersions() {
        ModelRegistry reg = new ModelRegistry(root, 2);
        for (int i = 0; i < 5; i++) {
            reg.publish("policy", null, null, Map.of(), Map.of(), Map.of(), files("a", "" + i));
        }
        assertThat(reg.versions("policy")).containsExactly(0L, 3L, 4L);
        assertThat(root.resolve("policy").toFile().list()).containsExactlyInAnyOrder("0", "3", "4");
    }

    @Test
    void aVersionAServerPinsIsNeverPrunedAndANewPinReplacesTheOld() {
        ModelRegistry reg = new ModelRegistry(root, 2);
        for (int i = 0; i < 3; i++) {
            reg.publish("policy", null, null, Map.of(), Map.of(), Map.of(), files("w", "v" + i));
        }
        reg.pin("policy", "server-a", List.of(1L, 2L)); // stable 1, canary 2
        reg.pin("policy", "server-b", List.of(1L));
        for (int i = 3; i < 8; i++) {
            reg.publish("policy", null, null, Map.of(), Map.of(), Map.of(), files("w", "v" + i));
        }
        assertThat(reg.versions("policy")).containsExactly(0L, 1L, 2L, 6L, 7L);
        assertThat(reg.pinned("policy")).containsExactly(1L, 2L);
        reg.pin("policy", "server-a", List.of(7L)); // a promotes 7: 2 is free again, 1 still b's
        reg.publish("policy", null, null, Map.of(), Map.of(), Map.of(), files("w", "v8"));
        assertThat(reg.versions("policy")).containsExactly(0L, 1L, 7L, 8L);
        assertThatThrownBy(() -> reg.pin("policy", "../x", List.of(1L))).hasMessageContaining("pin holder");
    }

    @Test
    void aPinNotRewrittenForAWeekIsAGoneHoldersAndIsRemoved() throws Exception {
        ModelRegistry reg = new ModelRegistry(root, 2);
        for (int i = 0; i < 3; i++) {
            reg.publish("policy", null, null, Map.of(), Map.of(), Map.of(), files("w", "v" + i));
        }
        reg.pin("policy", "crashed", List.of(1L));
        reg.pin("policy", "live", List.of(2L));
        java.nio.file.Path gone = root.resolve("policy").resolve(ModelRegistry.PINS).resolve("crashed");
        long now = System.currentTimeMillis();
        java.nio.file.Files.setLastModifiedTime(gone, java.nio.file.attribute.FileTime.fromMillis(now - ModelRegistry.PIN_TTL_MS - 60_000));
        assertThat(reg.pinned("policy", now)).containsExactly(2L);
        assertThat(gone).doesNotExist();
        reg.publish("policy", null, null, Map.of(), Map.of(), Map.of(), files("w", "v3"));
        assertThat(reg.versions("policy")).as("1 is no longer pinned, so it is pruned").containsExactly(0L, 2L, 3L);
    }

    @Test
    void shouldRejectBadNames() {
        ModelRegistry reg = new ModelRegistry(root, 2);
        assertThatThrownBy(() -> reg.versions("../etc")).hasMessageContaining("model name");
        assertThat(List.of("policy", "reward-2")).allSatisfy(reg::versions);
    }
}
