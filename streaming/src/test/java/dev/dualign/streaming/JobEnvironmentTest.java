package dev.dualign.streaming;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Map;
import java.util.Optional;
import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigException;
import org.apache.flink.configuration.Configuration;
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

    static JobSettings settings(Map<String, Object> more) {
        Map<String, Object> m = new java.util.HashMap<>(Map.of("constraints.harmless", 0.5, "flink.parallelism", 3,
                "metrics.prometheus-port", 9249, "checkpoint.interval-ms", 1500));
        m.putAll(more);
        return JobSettings.from(Config.of(m, JobConfig.ALL, JobConfig.PASS_THROUGH), Path.of("/tmp/client-cwd"));
    }

    @Test
    void onAClusterTheJobAddsOnlyWhatThePlatformLacksAndNeverItsParallelismRestartsOrReporters() {
        JobSettings s = settings(Map.of("checkpoint.dir", "s3://bucket/ckpt/"));
        Configuration added = JobEnvironment.forCluster(s, true, new Configuration());
        assertThat(added.toMap()).containsEntry("state.backend.type", "rocksdb")
                .containsEntry("execution.checkpointing.interval", "1500 ms")
                .containsEntry("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
                .containsEntry("execution.checkpointing.dir", "s3://bucket/ckpt/")
                // not the savepoint directory: `flink stop` reads the cluster's (a warning says so)
                .doesNotContainKeys("parallelism.default", "restart-strategy.type", "execution.state-recovery.path",
                        "execution.checkpointing.savepoint-dir");
        assertThat(JobEnvironment.savepointWarning(new Configuration())).hasValueSatisfying(w -> assertThat(w)
                .contains("execution.checkpointing.savepoint-dir").contains("--savepointPath"));
        assertThat(added.toMap().keySet()).noneMatch(k -> k.startsWith("metrics.reporter"));

        // what the platform sets stays the platform's
        Configuration platform = new Configuration();
        platform.setString("state.backend.type", "hashmap");
        platform.setString("execution.checkpointing.interval", "10 s");
        platform.setString("execution.checkpointing.dir", "hdfs:///flink/ckpt");
        Configuration none = JobEnvironment.forCluster(s, true, platform);
        assertThat(none.toMap()).doesNotContainKeys("state.backend.type", "execution.checkpointing.interval",
                "execution.checkpointing.dir");
        platform.setString("execution.checkpointing.savepoint-dir", "hdfs:///flink/savepoints");
        assertThat(JobEnvironment.savepointWarning(platform)).isEmpty();
    }

    @Test
    void locallyTheJobRestartsWithExponentialDelayWhichForgetsOldFailures() {
        // a fixed number of attempts, never reset, stopped a long-running job after its fifth transient failure
        assertThat(JobEnvironment.configuration(settings(Map.of())).toMap()).containsEntry("restart-strategy.type",
                "exponential-delay").doesNotContainKey("restart-strategy.fixed-delay.attempts");
    }

    @Test
    void onAClusterWithoutCheckpointStorageItRefusesToStartInsteadOfUsingTheClientsDirectory() {
        // no checkpoint.dir here and none on the platform: the local default (under the client's working directory) is no good
        assertThatThrownBy(() -> JobEnvironment.forCluster(settings(Map.of()), false, new Configuration()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("checkpoint.dir")
                .hasMessageContaining("execution.checkpointing.dir");
        Configuration platform = new Configuration();
        platform.setString("execution.checkpointing.dir", "s3://shared/ckpt");
        assertThat(JobEnvironment.forCluster(settings(Map.of()), false, platform).toMap())
                .doesNotContainKey("execution.checkpointing.dir");
    }

    @Test
    void aPlatformThatForbidsProgramConfigurationIsToldWhichKeysTheJobNeeds() {
        Configuration platform = new Configuration();
        platform.setString("execution.program-config.enabled", "false");
        platform.setString("execution.checkpointing.dir", "s3://shared/ckpt");
        JobSettings s = settings(Map.of());
        assertThatThrownBy(() -> JobEnvironment.forCluster(s, false, platform)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("execution.program-config.enabled").hasMessageContaining("state.backend.type: rocksdb")
                .hasMessageContaining("execution.checkpointing.interval: 1500 ms");
        // unless it allows those keys, or already sets them
        platform.setString("execution.program-config.wildcards", "execution.checkpointing.*;state.backend.type");
        assertThat(JobEnvironment.forCluster(s, false, platform).toMap()).containsKey("state.backend.type");
    }
}
