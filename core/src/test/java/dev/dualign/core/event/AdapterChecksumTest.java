package dev.dualign.core.event;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AdapterChecksumTest {
    @TempDir
    Path dir;

    @Test
    void isTheDocumentedDigestAndChangesWithAnyByteOrName() throws Exception {
        Files.writeString(dir.resolve("b.json"), "{}");
        Files.createDirectories(dir.resolve("sub"));
        Files.writeString(dir.resolve("sub/a.bin"), "xyz");
        Files.writeString(dir.resolve("a.txt"), "hello");
        // the definition written out by hand: sorted by relative path (a.txt, b.json, sub/a.bin)
        java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
        for (String[] f : new String[][] {{"a.txt", "hello"}, {"b.json", "{}"}, {"sub/a.bin", "xyz"}}) {
            md.update((f[0] + "\0" + f[1].length() + "\0" + f[1]).getBytes(StandardCharsets.UTF_8));
        }
        String expected = java.util.HexFormat.of().formatHex(md.digest());
        assertThat(AdapterChecksum.of(dir)).isEqualTo(expected);
        Files.writeString(dir.resolve("a.txt"), "hellO");
        assertThat(AdapterChecksum.of(dir)).isNotEqualTo(expected);
        Files.writeString(dir.resolve("a.txt"), "hello");
        Files.move(dir.resolve("b.json"), dir.resolve("c.json"));
        assertThat(AdapterChecksum.of(dir)).isNotEqualTo(expected);
    }

    /** The example trainer's adapter_sha256 (examples/trl-dpo/train.py) gives the same digest. */
    @Test
    void agreesWithThePythonTrainersFunction() throws Exception {
        Path python = Path.of("/usr/bin/python3");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(python), "no /usr/bin/python3 here");
        Files.writeString(dir.resolve("adapter_config.json"), "{\"r\": 8}");
        Files.write(dir.resolve("adapter_model.safetensors"), new byte[] {0, 1, 2, (byte) 255});
        Files.createDirectories(dir.resolve("nested"));
        Files.writeString(dir.resolve("nested/README.md"), "ünï");
        Process p = new ProcessBuilder(python.toString(), "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                + "import importlib.util as u; s = u.spec_from_file_location('t', sys.argv[1] + '/train.py'); m = u.module_from_spec(s); "
                + "s.loader.exec_module(m); print(m.adapter_sha256(sys.argv[2]))",
                Path.of("../examples/trl-dpo").toAbsolutePath().toString(), dir.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertThat(p.waitFor()).as(out).isZero();
        assertThat(out).isEqualTo(AdapterChecksum.of(dir));
    }
}
