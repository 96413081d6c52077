package dev.dualign.streaming;

import dev.dualign.connectors.KafkaSettings;
import dev.dualign.connectors.TopicAdmin;
import dev.dualign.core.config.Config;
import dev.dualign.streaming.ops.DjlCheck;
import java.nio.file.Path;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * Entry point of the shaded job jar for a Flink 2.2 cluster:
 * {@code flink run -c dev.dualign.streaming.JobMain dualign-job.jar --config /opt/dualign/dualign.yaml}.
 * On a cluster, Kafka must be configured ({@code kafka.bootstrap.servers}) and the model
 * registry ({@code scoring.registry}) must be readable from every task manager, and DJL must be on
 * Flink's class path ({@code streaming/target/flink-lib/} in Flink's {@code lib/}). The cluster's
 * own Flink configuration wins: parallelism, restart strategy and reporters are its to set
 * ({@link JobEnvironment#forCluster}).
 */
public final class JobMain {
    private JobMain() {}

    public static void main(String[] args) throws Exception {
        DjlCheck.require(JobMain.class.getClassLoader());
        Path config = null;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--config") && i + 1 < args.length) {
                config = Path.of(args[++i]);
            }
        }
        Config c = JobConfig.load(config);
        KafkaSettings kafka = KafkaSettings.from(c);
        if (kafka.useEmbeddedBroker()) {
            throw new IllegalArgumentException("configuration key 'kafka.bootstrap.servers': a cluster job needs a Kafka cluster");
        }
        JobSettings settings = JobSettings.from(c, Path.of(System.getProperty("dualign.home", ".")));
        TopicAdmin.ensure(kafka).requireOk();
        for (var ignored : java.util.List.of(JobOptions.PARALLELISM, JobOptions.PROMETHEUS_PORT)) {
            if (c.isSet(ignored)) {
                System.err.println("dualign: '" + ignored.key() + "' is not used on a cluster: set it in the cluster's Flink "
                        + "configuration (or flink run -p)");
            }
        }
        // the platform's Flink configuration first; only what it lacks and the job needs is added
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.configure(JobEnvironment.forCluster(settings, c.isSet(JobOptions.CHECKPOINT_DIR), env.getConfiguration()));
        JobEnvironment.savepointWarning(env.getConfiguration()).ifPresent(w -> System.err.println("dualign: " + w));
        AlignmentJob.kafka(env, settings, kafka, false);
        env.execute("dualign-alignment");
    }
}
