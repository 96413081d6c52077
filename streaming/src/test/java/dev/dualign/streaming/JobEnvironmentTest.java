package dev.dualign.streaming;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Optional;
import org.apache.flink.util.FlinkException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JobEnvironmentTest {
    @Test
    void aSavepointFromAnIncompatibleVersionIsExplainedWithTheWayOut() {
        // the chain Flink reported when a savepoint held state of a class this version no longer has
        Exception failure = new RuntimeException("Job execution failed.", new Exception(
                "Exception while creating StreamOperatorStateContext.", new FlinkException(
                        "Could not restore keyed state backend for KeyedProcessOperator_99e9_(1/2) from any of the 1 provided restore options.",
                        new IOException("state class dev.dualign.streaming.ops.EstimatorState not found",
                                new ClassNotFoundException("dev.dualign.streaming.ops.EstimatorState")))));
        assertThat(JobEnvironment.explainRestoreFailure(failure, "file:/sp/savepoint-1")).hasValueSatisfying(m -> assertThat(m)
                .startsWith("cannot resume from file:/sp/savepoint-1: ClassNotFoundException: dev.dualign.streaming.ops.EstimatorState")
                .contains("--fresh"));
    }

    @Test
    void otherFailuresAreLeftAlone() {
        Exception failure = new RuntimeException("Job execution failed.", new IllegalStateException("scorer crashed"));
        assertThat(JobEnvironment.explainRestoreFailure(failure, "file:/sp/savepoint-1")).isEmpty();
        assertThat(JobEnvironment.explainRestoreFailure(failure, "")).isEmpty();
    }

    static Path complete(Path dir, long modifiedMillis) throws IOException {
        Files.createDirectories(dir);
        Path meta = Files.writeString(dir.resolve("_metadata"), "x");
        Files.setLastModifiedTime(meta, FileTime.fromMillis(modifiedMillis));
        return dir;
    }

    @Test
    void aRestartAfterACrashResumesFromTheRetainedCheckpointThatIsNewerThanTheLastSavepoint(@TempDir Path tmp) throws IOException {
        Path sp = complete(tmp.resolve("savepoints/savepoint-1"), 1_000_000);
        Path ckpts = tmp.resolve("checkpoints");
        complete(ckpts.resolve("job-a/chk-7"), 500_000); // the run before the savepoint
        Path newest = complete(ckpts.resolve("job-b/chk-42"), 2_000_000); // the run that was killed
        Files.createDirectories(ckpts.resolve("job-b/chk-43")); // in progress when it died: no _metadata
        Files.createDirectories(ckpts.resolve("job-b/shared"));
        assertThat(JobEnvironment.newestRestorePoint(Optional.of(sp.toUri().toString()), ckpts.toUri().toString()))
                .contains(newest.toUri().toString());
        // without a savepoint at all, and with a plain path for the directory
        assertThat(JobEnvironment.newestRestorePoint(Optional.empty(), ckpts.toString())).contains(newest.toUri().toString());
    }

    @Test
    void afterACleanStopTheSavepointIsNewestAndIsKept(@TempDir Path tmp) throws IOException {
        Path ckpts = tmp.resolve("checkpoints");
        complete(ckpts.resolve("job-a/chk-9"), 1_000_000);
        Path sp = complete(tmp.resolve("savepoints/savepoint-2"), 2_000_000);
        // returned as it was written down (here as a plain path, not a URI)
        assertThat(JobEnvironment.newestRestorePoint(Optional.of(sp.toString()), ckpts.toUri().toString())).contains(sp.toString());
        // a savepoint that is not local (or gone) is returned as it is: the restore reports it
        assertThat(JobEnvironment.newestRestorePoint(Optional.of("s3://bucket/sp-1"), ckpts.toUri().toString()))
                .contains("s3://bucket/sp-1");
        // nothing to resume from
        assertThat(JobEnvironment.newestRestorePoint(Optional.empty(), tmp.resolve("none").toUri().toString())).isEmpty();
    }
}
