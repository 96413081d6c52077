package dev.dualign.streaming;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A run resumes only state its own job and configuration wrote. */
class JobIdentityTest {
    @TempDir
    Path dir;

    static JobSettings settings(Map<String, ?> m) {
        return JobSettings.from(Config.of(m, JobConfig.ALL, JobConfig.PASS_THROUGH), Path.of("/tmp"));
    }

    @Test
    void aCheckpointOfAnotherJobOrMarginIsRefusedNamingBothAndItsOwnIsResumed() throws Exception {
        JobSettings half = settings(Map.of("constraints.harmless", 0.5));
        Path run = dir.resolve("0123abcd");
        Path chk = Files.createDirectories(run.resolve("chk-7"));
        Files.writeString(chk.resolve("_metadata"), "");
        JobIdentity.of("dualign-demo", half).writeTo(run);

        assertThat(JobIdentity.directoryOf(chk.toUri().toString())).contains(run);
        assertThatThrownBy(() -> JobIdentity.of("dualign-alignment", half).requireSameAs(chk.toUri().toString()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("checkpoint.restore-from")
                .hasMessageContaining("dualign-demo").hasMessageContaining("dualign-alignment")
                .hasMessageContaining("job: dualign-demo → dualign-alignment");
        assertThatThrownBy(() -> JobIdentity.of("dualign-demo", settings(Map.of("constraints.harmless", 0.5, "dual.mode", "enforce")))
                .requireSameAs(chk.toString())).hasMessageContaining("dual.mode: iterative → enforce");
        // another margin or constraint is carried over by name; where it runs is not part of it
        JobIdentity.of("dualign-demo", settings(Map.of("constraints.harmless", 0.6, "constraints.humour", 0.1, "flink.web-port", 0)))
                .requireSameAs(chk.toString());
        JobIdentity.of("dualign-alignment", half).requireSameAs(dir.resolve("savepoint-without-identity").toString());
    }
}
