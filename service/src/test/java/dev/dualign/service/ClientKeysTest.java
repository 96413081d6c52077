package dev.dualign.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClientKeysTest {
    @TempDir
    Path dir;

    @Test
    void aKeyIsFoundByItsHashAndNothingElseIs() throws Exception {
        String[] alice = ClientKeys.newKey("alice", 120);
        String[] bob = ClientKeys.newKey("bob", null);
        assertThat(alice[0]).startsWith(ClientKeys.KEY_PREFIX);
        assertThat(alice[1]).doesNotContain(alice[0]).endsWith(" 120"); // the file never holds the key
        Path f = dir.resolve("keys");
        Files.write(f, List.of("# clients", alice[1], "", bob[1] + "  # no limit"));
        ClientKeys keys = ClientKeys.load(f);
        assertThat(keys.size()).isEqualTo(2);
        assertThat(keys.find("Bearer " + alice[0]).name()).isEqualTo("alice");
        assertThat(keys.find("Bearer " + alice[0]).perMinute()).isEqualTo(120);
        assertThat(keys.find("bearer " + bob[0]).bucket()).isNull();
        assertThat(keys.find(null)).isNull();
        assertThat(keys.find("Bearer ")).isNull();
        assertThat(keys.find(alice[0])).as("no Bearer scheme").isNull();
        assertThat(keys.find("Bearer " + alice[0] + "x")).isNull();
        assertThat(keys.find("Bearer sha256:" + ClientKeys.sha256(alice[0]))).as("the hash is not a key").isNull();
    }

    @Test
    void aMalformedFileIsRefusedNamingTheLine() throws Exception {
        String h = "sha256:" + "a".repeat(64);
        Object[][] cases = {
            {List.of("alice"), "line 1: expected NAME sha256:HEX"},
            {List.of("alice dk-plaintextkey"), "line 1: the key must be given as sha256:"},
            {List.of("alice " + h, "alice sha256:" + "b".repeat(64)), "line 2: client 'alice' is named twice"},
            {List.of("alice " + h, "bob " + h), "line 2: the same key is listed twice"},
            {List.of("# x", "alice " + h + " lots"), "line 2: requests per minute must be an integer"},
            {List.of("alice " + h + " 0"), "line 1: requests per minute must be ≥ 1"},
        };
        for (Object[] c : cases) {
            Path f = dir.resolve("bad");
            @SuppressWarnings("unchecked")
            List<String> lines = (List<String>) c[0];
            Files.write(f, lines);
            assertThatThrownBy(() -> ClientKeys.load(f)).as(lines.toString()).hasMessageContaining((String) c[1]).hasMessageContaining(f.toString());
        }
        assertThatThrownBy(() -> ClientKeys.load(dir.resolve("missing"))).hasMessageContaining("cannot read the client keys file");
    }

    @Test
    void aChangedFileIsReadAgainAndAnInvalidChangeKeepsTheKeysBefore() throws Exception {
        String[] alice = ClientKeys.newKey("alice", null);
        String[] carol = ClientKeys.newKey("carol", null);
        Path f = dir.resolve("keys");
        Files.write(f, List.of(alice[1]));
        AtomicLong now = new AtomicLong();
        ClientKeys keys = ClientKeys.load(f, now::get);
        assertThat(keys.find("Bearer " + alice[0])).isNotNull();
        // rotated: alice out, carol in
        Files.write(f, List.of(carol[1]));
        Files.setLastModifiedTime(f, FileTime.fromMillis(Files.getLastModifiedTime(f).toMillis() + 10_000));
        assertThat(keys.find("Bearer " + alice[0])).as("not looked at again yet").isNotNull();
        now.addAndGet(ClientKeys.RECHECK_NANOS + 1);
        assertThat(keys.find("Bearer " + alice[0])).isNull();
        assertThat(keys.find("Bearer " + carol[0]).name()).isEqualTo("carol");
        // a broken edit is refused: carol stays
        Files.write(f, List.of("carol"));
        Files.setLastModifiedTime(f, FileTime.fromMillis(Files.getLastModifiedTime(f).toMillis() + 20_000));
        now.addAndGet(ClientKeys.RECHECK_NANOS + 1);
        assertThat(keys.find("Bearer " + carol[0])).isNotNull();
    }

    @Test
    void aClientNameIsChecked() {
        assertThatThrownBy(() -> ClientKeys.newKey("a b", null)).hasMessageContaining("client name");
    }
}
