package dev.dualign.app.experiment;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.event.EventJson;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The provenance block: the code's commit and state, read from git or "unknown"; parameters as used. */
class ProvenanceTest {
    @TempDir
    Path tmp;

    @Test
    void outsideACheckoutTheCommitAndTheStateAreUnknownNotAnError() {
        // the build's temp folder lies inside this checkout: stop git from looking above it
        Provenance.Git g = Provenance.git(tmp, Map.of("GIT_CEILING_DIRECTORIES", tmp.getParent().toString()));
        assertThat(g.commit()).isEqualTo("unknown");
        assertThat(g.dirty()).isNull();
        ObjectNode json = new Provenance().json(g, EventJson.mapper().createObjectNode(), List.of(1));
        assertThat(json.path("commit").asText()).isEqualTo("unknown");
        assertThat(json.path("dirty").asText()).isEqualTo("unknown");
        assertThat(json.path("registry").isNull()).isTrue();

        assertThat(Provenance.git(tmp.resolve("no-such-folder")).commit()).as("a folder that is not there").isEqualTo("unknown");
    }

    @Test
    void inACheckoutItIsTheHeadCommitAndDirtyOnceAFileChanges() throws Exception {
        Assumptions.assumeTrue(git(tmp, "init", "-q") != null, "git is not installed");
        Files.writeString(tmp.resolve("a.txt"), "a\n");
        git(tmp, "add", "a.txt");
        assertThat(git(tmp, "-c", "user.email=t@example.org", "-c", "user.name=t", "-c", "commit.gpgsign=false",
                "commit", "-q", "-m", "one")).isNotNull();
        String head = git(tmp, "rev-parse", "HEAD").strip();

        Provenance.Git clean = Provenance.git(tmp);
        assertThat(clean.commit()).isEqualTo(head);
        assertThat(clean.dirty()).isFalse();

        Files.writeString(tmp.resolve("a.txt"), "b\n");
        assertThat(Provenance.git(tmp).dirty()).isTrue();
        Files.writeString(tmp.resolve("a.txt"), "a\n");
        Files.writeString(tmp.resolve("new.txt"), "untracked\n");
        assertThat(Provenance.git(tmp).dirty()).as("an untracked file makes the tree dirty too").isTrue();

        Path sub = Files.createDirectories(tmp.resolve("sub"));
        assertThat(Provenance.git(sub).commit()).as("from a folder inside the checkout").isEqualTo(head);
    }

    @Test
    void aParameterIsReturnedAsGivenAndRecordedInTheConfigAfterTheCommonOnes() {
        Provenance p = new Provenance();
        assertThat(p.param("runs", 200)).isEqualTo(200);
        assertThat(p.param("ks", new int[] {4, 8})).containsExactly(4, 8);
        assertThat(p.param("beta", 0.1)).isEqualTo(0.1);
        assertThat(p.param("runs", 200)).as("the same value twice is fine").isEqualTo(200);
        ObjectNode common = EventJson.mapper().createObjectNode().put("experiment", "x");
        ObjectNode json = p.json(new Provenance.Git("abc", true), common, List.of(5, 7));
        assertThat(json.path("dirty").asBoolean()).isTrue();
        assertThat(json.path("seeds").toString()).isEqualTo("[5,7]");
        assertThat(json.path("config").toString()).isEqualTo("{\"experiment\":\"x\",\"runs\":200,\"ks\":[4,8],\"beta\":0.1}");
    }

    @Test
    void oneParameterWithTwoValuesIsABugThatFailsTheRun() {
        Provenance p = new Provenance();
        p.param("runs", 200);
        assertThatThrownBy(() -> p.param("runs", 2000)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("runs").hasMessageContaining("200").hasMessageContaining("2000");
    }

    private static String git(Path dir, String... args) throws InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("git"));
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            return p.waitFor() == 0 ? out : null;
        } catch (IOException e) {
            return null;
        }
    }
}
