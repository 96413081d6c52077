package dev.dualign.streaming;

import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.StateMigrationException;

/**
 * The Flink configuration of the alignment job: RocksDB state, checkpoints retained on cancel,
 * restore from a checkpoint or savepoint, a bounded restart strategy, and the Prometheus
 * reporter. Flink 2.x has no {@code env.setStateBackend}: everything goes through configuration.
 */
public final class JobEnvironment {
    private JobEnvironment() {}

    public static Configuration configuration(JobSettings s) {
        Map<String, String> c = new HashMap<>();
        c.put("state.backend.type", "rocksdb");
        c.put("execution.checkpointing.dir", s.checkpointDir());
        c.put("execution.checkpointing.interval", s.checkpointIntervalMs() + " ms");
        c.put("execution.checkpointing.mode", "EXACTLY_ONCE");
        c.put("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION");
        c.put("restart-strategy.type", "fixed-delay");
        c.put("restart-strategy.fixed-delay.attempts", "5");
        c.put("restart-strategy.fixed-delay.delay", "2 s");
        c.put("parallelism.default", String.valueOf(s.parallelism()));
        if (!s.restoreFrom().isBlank()) {
            c.put("execution.state-recovery.path", s.restoreFrom());
        }
        if (s.prometheusPort() > 0) {
            c.put("metrics.reporter.prom.factory.class", "org.apache.flink.metrics.prometheus.PrometheusReporterFactory");
            c.put("metrics.reporter.prom.port", String.valueOf(s.prometheusPort()));
        }
        return Configuration.fromMap(c);
    }

    /**
     * Why a job that was resuming from {@code restorePath} failed, when the cause is the saved
     * state itself (a savepoint written by an incompatible version of the job, or not a complete
     * savepoint): Flink reports it only deep in a chain of restart failures, and the user's way
     * out ({@code --fresh}) is ours to name. Empty when the job was not resuming or failed for
     * another reason.
     */
    public static Optional<String> explainRestoreFailure(Throwable failure, String restorePath) {
        if (restorePath == null || restorePath.isBlank() || failure == null) {
            return Optional.empty();
        }
        boolean aboutState = false;
        Throwable root = failure;
        Set<Throwable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Throwable c = failure; c != null && seen.add(c); c = c.getCause()) {
            String m = String.valueOf(c.getMessage());
            if (m.contains("Could not restore") || m.contains("restore keyed state") || m.contains("restore operator state")
                    || m.contains("state class") || m.contains("Failed to rollback to checkpoint/savepoint")
                    || m.contains("Cannot map checkpoint/savepoint state") || m.contains("is not compatible")
                    || m.contains("incompatible") || m.contains("magic number") || m.contains("_metadata")
                    || c instanceof StateMigrationException) {
                aboutState = true;
            }
            root = c;
        }
        if (!aboutState) {
            return Optional.empty();
        }
        return Optional.of("cannot resume from " + restorePath + ": " + root.getClass().getSimpleName() + ": "
                + root.getMessage() + ". The saved state does not fit this version of the job (or is not a complete "
                + "savepoint). Start with --fresh to begin with empty state (λ and the estimates start over), or "
                + "resume with the version of Dualign that wrote it.");
    }

    /**
     * Where a restarted local job should resume: the newer of the last run's savepoint and the
     * newest complete checkpoint retained under {@code checkpointDir} ({@code <job>/chk-<n>/_metadata}).
     * After a clean stop the savepoint is newest; after kill -9 or an out-of-memory kill only
     * checkpoints were written since, and resuming from the older savepoint would replay
     * everything after it to the exactly-once outputs a second time and rewind λ. A checkpoint
     * directory without {@code _metadata} is incomplete and skipped. Only local (file) checkpoint
     * directories are scanned; elsewhere the savepoint is the answer.
     */
    public static Optional<String> newestRestorePoint(Optional<String> savepoint, String checkpointDir) {
        java.nio.file.attribute.FileTime newest = null;
        if (savepoint.isPresent()) {
            java.nio.file.Path meta = localPath(savepoint.get()).map(p -> p.resolve("_metadata")).orElse(null);
            if (meta == null || !java.nio.file.Files.isRegularFile(meta)) {
                return savepoint; // not local, or gone: let the restore say so
            }
            newest = modified(meta);
        }
        Optional<String> best = savepoint;
        java.nio.file.Path root = localPath(checkpointDir).orElse(null);
        if (root == null || !java.nio.file.Files.isDirectory(root)) {
            return best;
        }
        try (var jobs = java.nio.file.Files.newDirectoryStream(root, java.nio.file.Files::isDirectory)) {
            for (java.nio.file.Path job : jobs) {
                try (var chks = java.nio.file.Files.newDirectoryStream(job, "chk-*")) {
                    for (java.nio.file.Path chk : chks) {
                        java.nio.file.Path meta = chk.resolve("_metadata");
                        if (java.nio.file.Files.isRegularFile(meta) && (newest == null || modified(meta).compareTo(newest) > 0)) {
                            newest = modified(meta);
                            best = Optional.of(chk.toUri().toString());
                        }
                    }
                }
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot list the checkpoints under " + root, e);
        }
        return best;
    }

    private static Optional<java.nio.file.Path> localPath(String location) {
        if (location == null || location.isBlank()) {
            return Optional.empty();
        }
        try {
            java.net.URI u = java.net.URI.create(location);
            if (u.getScheme() == null) {
                return Optional.of(java.nio.file.Path.of(location));
            }
            return "file".equals(u.getScheme()) ? Optional.of(java.nio.file.Path.of(u)) : Optional.empty();
        } catch (IllegalArgumentException e) {
            return Optional.of(java.nio.file.Path.of(location));
        }
    }

    private static java.nio.file.attribute.FileTime modified(java.nio.file.Path p) {
        try {
            return java.nio.file.Files.getLastModifiedTime(p);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** A local MiniCluster environment, with the web UI when {@code webUi}. */
    public static StreamExecutionEnvironment local(JobSettings s, Configuration extra, boolean webUi) {
        Configuration c = configuration(s);
        c.addAll(extra);
        if (webUi) {
            c.setString("rest.port", String.valueOf(s.webPort()));
            return StreamExecutionEnvironment.createLocalEnvironmentWithWebUI(c);
        }
        return StreamExecutionEnvironment.createLocalEnvironment(s.parallelism(), c);
    }
}
