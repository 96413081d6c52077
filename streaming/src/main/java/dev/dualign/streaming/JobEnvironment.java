package dev.dualign.streaming;

import java.util.HashMap;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

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
