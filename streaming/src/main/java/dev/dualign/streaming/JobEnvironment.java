package dev.dualign.streaming;

import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.List;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.StateMigrationException;

/**
 * The Flink configuration of the alignment job: RocksDB state, checkpoints retained on cancel,
 * restore from a checkpoint or savepoint, exponential-delay restarts, and the Prometheus
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
        // Flink's own default with checkpointing: backs off to a minute between restarts and forgets
        // past failures after an hour of stability, where a fixed count of attempts, never reset,
        // would stop a long-running job for good after its fifth transient failure
        c.put("restart-strategy.type", "exponential-delay");
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
     * What a job submitted to a Flink cluster adds to the platform's configuration: only what the
     * platform left unset and the job cannot do without. Parallelism ({@code flink run -p}), the
     * restart strategy (Flink's own default with checkpointing: exponential delay) and metric
     * reporters stay the platform's. Added when missing: RocksDB, checkpointing at
     * {@code checkpoint.interval-ms} (the exactly-once sinks commit on checkpoints), retained
     * checkpoints and {@code checkpoint.restore-from}. Not a savepoint directory: Flink's REST
     * handler for {@code flink stop} reads the cluster's, never the job's (see
     * {@link #savepointWarning}). With no checkpoint directory on either side it
     * refuses to start, rather than checkpoint into the client's working directory; and where the
     * platform forbids program configuration it names the keys its administrators must set.
     *
     * @param checkpointDirSet whether the Dualign configuration names {@code checkpoint.dir}
     */
    public static Configuration forCluster(JobSettings s, boolean checkpointDirSet, ReadableConfig platform) {
        Configuration add = new Configuration();
        addIfAbsent(platform, add, "state.backend.type", "rocksdb");
        addIfAbsent(platform, add, "execution.checkpointing.interval", s.checkpointIntervalMs() + " ms");
        addIfAbsent(platform, add, "execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION");
        Optional<String> dir = platform.getOptional(key("execution.checkpointing.dir"));
        if (dir.isEmpty()) {
            if (!checkpointDirSet) {
                throw new dev.dualign.core.config.ConfigException(JobOptions.CHECKPOINT_DIR.key(), "a cluster job needs "
                        + "checkpoint storage every task manager can reach: set execution.checkpointing.dir in the cluster's "
                        + "Flink configuration, or checkpoint.dir here (not the client's working directory)");
            }
            add.setString("execution.checkpointing.dir", s.checkpointDir());
        }
        if (!s.restoreFrom().isBlank()) {
            addIfAbsent(platform, add, "execution.state-recovery.path", s.restoreFrom());
        }
        if (!platform.get(org.apache.flink.configuration.DeploymentOptions.PROGRAM_CONFIG_ENABLED)) {
            List<String> allowed = platform.get(org.apache.flink.configuration.DeploymentOptions.PROGRAM_CONFIG_WILDCARDS);
            List<String> refused = add.keySet().stream().filter(k -> allowed.stream().noneMatch(w -> wildcard(w, k)))
                    .sorted().toList();
            if (!refused.isEmpty()) {
                throw new dev.dualign.core.config.ConfigException("the cluster does not accept configuration from jobs "
                        + "(execution.program-config.enabled: false), and it lacks what this job needs; set in its Flink "
                        + "configuration: " + refused.stream().map(k -> k + ": " + add.get(key(k))).toList(), (Throwable) null);
            }
        }
        return add;
    }

    /**
     * What to tell the user when the cluster has no {@code execution.checkpointing.savepoint-dir}:
     * a plain {@code flink stop} then fails (the REST handler checks the cluster's configuration
     * before the job is asked), so λ can only be saved with {@code flink stop --savepointPath}.
     */
    public static Optional<String> savepointWarning(ReadableConfig platform) {
        return platform.getOptional(key("execution.checkpointing.savepoint-dir")).isPresent() ? Optional.empty()
                : Optional.of("the cluster's Flink configuration sets no execution.checkpointing.savepoint-dir: stop this "
                        + "job with `flink stop --savepointPath DIR`, or set it on the cluster so a plain `flink stop` keeps λ");
    }

    private static ConfigOption<String> key(String k) {
        return ConfigOptions.key(k).stringType().noDefaultValue();
    }

    private static void addIfAbsent(ReadableConfig platform, Configuration add, String k, String value) {
        if (platform.getOptional(key(k)).isEmpty()) {
            add.setString(k, value);
        }
    }

    /** Flink's program-config wildcards: a key, or a prefix ending in {@code *}. */
    private static boolean wildcard(String pattern, String k) {
        return pattern.endsWith("*") ? k.startsWith(pattern.substring(0, pattern.length() - 1)) : pattern.equals(k);
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

    /** The local file path of a checkpoint location (a path or a file: URI), or empty for a remote one. */
    public static Optional<java.nio.file.Path> localPath(String location) {
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
        dev.dualign.core.config.JdkHttpServerProvider.pin(); // the MiniCluster's Prometheus reporter
        Configuration c = configuration(s);
        c.addAll(extra);
        if (webUi) {
            c.setString("rest.port", String.valueOf(s.webPort()));
            return StreamExecutionEnvironment.createLocalEnvironmentWithWebUI(c);
        }
        return StreamExecutionEnvironment.createLocalEnvironment(s.parallelism(), c);
    }
}
