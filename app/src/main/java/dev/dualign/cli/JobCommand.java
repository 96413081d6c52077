package dev.dualign.cli;

import dev.dualign.connectors.EmbeddedKafka;
import dev.dualign.connectors.KafkaSettings;
import dev.dualign.connectors.TopicAdmin;
import dev.dualign.core.config.Config;
import dev.dualign.model.Devices;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.ScorerSet;
import dev.dualign.streaming.AlignmentJob;
import dev.dualign.streaming.JobEnvironment;
import dev.dualign.streaming.JobIdentity;
import dev.dualign.streaming.JobSettings;
import dev.dualign.world.bootstrap.Bootstrap;
import dev.dualign.world.bootstrap.ConsoleProgress;
import dev.dualign.world.bootstrap.ModelSize;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Runs the alignment job on a local MiniCluster with the Flink web UI: the embedded broker when
 * no Kafka is configured, {@code bootstrap} first when the registry is empty. Ctrl-C stops the job
 * with a savepoint, and the next start resumes from it, or from a newer retained checkpoint when
 * the last run was killed, so λ survives a restart and nothing is replayed twice.
 */
@Command(name = "job", mixinStandardHelpOptions = true,
        description = {"Run the alignment job on a local Flink cluster with its web UI.",
            "For a Flink 2.2 cluster, build the shaded jar with: bin/dualign job --jar"})
final class JobCommand implements java.util.concurrent.Callable<Integer> {
    static final String JOB_NAME = "dualign-alignment";

    @Spec
    CommandSpec spec;

    @Mixin
    ConfigFile config;

    @Option(names = "--fresh", description = "Ignore the savepoint of the last run and start with empty state.")
    boolean fresh;

    @Option(names = "--jar", description = "Build the shaded job jar for a Flink cluster instead (handled by bin/dualign).")
    boolean jar;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (jar) {
            spec.commandLine().getErr().println("dualign job --jar is handled by bin/dualign (it runs: mvn -Pjob-jar package)");
            return Dualign.EXIT_BAD_INPUT;
        }
        Path home = Path.of(System.getProperty("dualign.home", "."));
        Config c = config.load();
        out.println(ConfigFile.describe(c));
        out.flush();
        JobSettings settings = JobSettings.from(c, home);
        Path lastSavepoint = home.resolve(".dualign/last-savepoint");
        JobSettings run = settings;
        if (settings.restoreFrom().isBlank() && !fresh) {
            java.util.Optional<String> sp = Files.exists(lastSavepoint)
                    ? java.util.Optional.of(Files.readString(lastSavepoint).trim()) : java.util.Optional.empty();
            java.util.Optional<String> from = JobEnvironment.newestRestorePoint(sp, settings.checkpointDir());
            if (from.isPresent()) {
                boolean isSavepoint = from.equals(sp);
                out.println("resuming from the " + (isSavepoint ? "savepoint of the last run: " : "newest retained checkpoint "
                        + "(newer than the last savepoint: the last run did not stop cleanly): ") + from.get() + " (--fresh ignores it)");
                run = settings.withRestoreFrom(from.get());
            }
        }
        // never resume what another job or configuration wrote (a demo's checkpoints, another margin): exit 2 naming both
        JobIdentity identity = JobIdentity.of(JOB_NAME, settings);
        if (!run.restoreFrom().isBlank()) {
            identity.requireSameAs(run.restoreFrom());
        }
        KafkaSettings kafka = KafkaSettings.from(c);
        if (!kafka.useEmbeddedBroker()) {
            TopicAdmin.requireReachable(kafka, KafkaCommand.REACH_TIMEOUT); // exit 5 naming the broker, before anything starts
        }

        ModelRegistry registry = new ModelRegistry(Path.of(settings.registry()));
        if (!Bootstrap.isBootstrapped(registry)) {
            out.println("no models in " + registry.root() + ": bootstrapping the synthetic world first (size small)");
            out.flush();
            Bootstrap.run(new Bootstrap.Options(registry.root(), 1, ModelSize.SMALL, Devices.resolve(settings.device()), false),
                    new ConsoleProgress(System.err, System.console() != null));
        }
        ScorerSet.check(registry, settings.names()); // a constraint without a scorer fails here, by name

        EmbeddedKafka embedded = null;
        if (kafka.useEmbeddedBroker()) {
            embedded = EmbeddedKafka.start(home.resolve(".dualign/kafka"), 9092);
            kafka = kafka.withBootstrapServers(embedded.bootstrapServers());
        }
        TopicAdmin.ensure(kafka).requireOk();

        StreamExecutionEnvironment env = JobEnvironment.local(run, new Configuration(), true);
        AlignmentJob.kafka(env, run, kafka, false);
        JobClient client;
        try {
            client = env.executeAsync(JOB_NAME);
        } catch (Exception e) {
            if (embedded != null) {
                embedded.close();
            }
            return failed(e, run);
        }
        JobID jobId = client.getJobID();
        JobEnvironment.localPath(settings.checkpointDir()).ifPresent(root -> identity.writeTo(root.resolve(jobId.toHexString())));
        out.printf("Flink web UI:     http://127.0.0.1:%d  (job %s)%n", settings.webPort(), client.getJobID());
        out.printf("Kafka bootstrap:  %s  (topics %sresponses, ...)%n", kafka.bootstrapServers(), kafka.topicPrefix());
        if (settings.prometheusPort() > 0) {
            out.printf("Prometheus:       http://127.0.0.1:%d/metrics%n", settings.prometheusPort());
        }
        out.printf("mode %s, constraints %s; Ctrl-C stops with a savepoint%n", settings.control().mode(), settings.constraints());
        out.flush();

        CountDownLatch done = new CountDownLatch(1);
        EmbeddedKafka broker = embedded;
        java.util.concurrent.atomic.AtomicBoolean jobFailed = new java.util.concurrent.atomic.AtomicBoolean();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (jobFailed.get()) { // nothing to save: the job is gone
                if (broker != null) {
                    broker.close();
                }
                done.countDown();
                return;
            }
            try {
                String sp = client.stopWithSavepoint(false, home.resolve(".dualign/savepoints").toUri().toString(),
                        SavepointFormatType.CANONICAL).get(60, TimeUnit.SECONDS);
                Files.createDirectories(lastSavepoint.getParent());
                Files.writeString(lastSavepoint, sp);
                JobIdentity.directoryOf(sp).ifPresent(identity::writeTo);
                System.out.println("\nstopped with savepoint " + sp);
            } catch (Exception e) {
                System.err.println("\ncould not take a savepoint (" + e.getMessage() + "); the last checkpoint is retained under "
                        + settings.checkpointDir());
            } finally {
                if (broker != null) {
                    broker.close();
                }
                done.countDown();
            }
        }, "dualign-job-shutdown"));
        try {
            client.getJobExecutionResult().get();
        } catch (Exception e) {
            if (done.getCount() > 0) {
                jobFailed.set(true);
                return failed(e, run);
            }
        }
        done.await(70, TimeUnit.SECONDS);
        return 0;
    }

    /** A failed job: exit 2 with the way out when the savepoint it resumed from is the cause, else 1. */
    private int failed(Exception e, JobSettings run) {
        java.util.Optional<String> restore = JobEnvironment.explainRestoreFailure(e, run.restoreFrom());
        if (restore.isPresent()) {
            spec.commandLine().getErr().println("dualign job: " + restore.get());
            return Dualign.EXIT_BAD_INPUT;
        }
        spec.commandLine().getErr().println("dualign job: the job failed: " + e.getMessage());
        return 1;
    }
}
