package dev.dualign.cli;

import dev.dualign.connectors.EmbeddedKafka;
import dev.dualign.connectors.KafkaSettings;
import dev.dualign.connectors.TopicAdmin;
import dev.dualign.core.config.ConfigException;
import dev.dualign.core.event.Events;
import dev.dualign.core.event.InvalidEventException;
import dev.dualign.core.event.Topic;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** The tools a user needs to look inside the loop: a broker, the topics, and what flows through them. */
@Command(name = "kafka", mixinStandardHelpOptions = true,
        description = "Run an embedded Kafka broker, create/verify the Dualign topics, or tail a topic.",
        subcommands = {KafkaCommand.Up.class, KafkaCommand.Topics.class, KafkaCommand.Tail.class})
final class KafkaCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** How long topics and tail wait for a first answer from the cluster. */
    static final java.time.Duration REACH_TIMEOUT = java.time.Duration.ofSeconds(10);

    /** Options shared by the commands that talk to a cluster. */
    static class ClusterOptions {
        @Mixin
        ConfigFile config;

        @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT", description = "Kafka cluster (overrides kafka.bootstrap.servers).")
        String bootstrapServers;

        KafkaSettings settings() {
            KafkaSettings s = KafkaSettings.from(config.load());
            if (bootstrapServers != null && !bootstrapServers.isBlank()) {
                s = s.withBootstrapServers(bootstrapServers.trim());
            }
            if (s.useEmbeddedBroker()) {
                throw new ConfigException("kafka.bootstrap.servers", "no cluster configured: start one with "
                        + "'dualign kafka up' and pass --bootstrap-servers 127.0.0.1:9092");
            }
            return s;
        }
    }

    @Command(name = "up", mixinStandardHelpOptions = true,
            description = "Start the embedded single-node KRaft broker in the foreground, create the topics, print its address. Ctrl-C stops it.")
    static final class Up implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--port", defaultValue = "9092", description = "Client port on 127.0.0.1; 0 picks a free one (default: ${DEFAULT-VALUE}).")
        int port;

        @Option(names = "--dir", paramLabel = "DIR", description = "Log directory to keep data in (default: a temporary one, deleted on exit).")
        Path dir;

        @Mixin
        ConfigFile config;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            KafkaSettings settings = KafkaSettings.from(config.load());
            EmbeddedKafka kafka = EmbeddedKafka.start(dir, port);
            CountDownLatch stopped = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                kafka.close();
                stopped.countDown();
            }, "dualign-kafka-shutdown"));
            TopicAdmin.Report report = TopicAdmin.ensure(settings.withBootstrapServers(kafka.bootstrapServers()));
            out.println("Kafka broker running at " + kafka.bootstrapServers() + " (log dir " + kafka.logDir() + ")");
            out.println("topics: " + String.join(", ", report.created().isEmpty() ? report.verified() : report.created()));
            out.println("Ctrl-C stops it.");
            out.flush();
            stopped.await();
            return 0;
        }
    }

    @Command(name = "topics", mixinStandardHelpOptions = true,
            description = "Create missing Dualign topics and verify existing ones against the configuration.",
            exitCodeListHeading = "%nExit codes:%n",
            exitCodeList = {"0:all topics as configured", "2:bad configuration", "4:a topic does not match the configuration",
                "5:Kafka unreachable"})
    static final class Topics implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @picocli.CommandLine.Mixin
        ClusterOptions cluster = new ClusterOptions();

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            PrintWriter err = spec.commandLine().getErr();
            KafkaSettings s;
            try {
                s = cluster.settings();
            } catch (ConfigException e) {
                err.println("dualign kafka topics: " + e.getMessage());
                return Dualign.EXIT_BAD_INPUT;
            }
            TopicAdmin.Report r;
            try {
                TopicAdmin.requireReachable(s, REACH_TIMEOUT);
                r = TopicAdmin.ensure(s);
            } catch (IllegalStateException e) {
                err.println("dualign kafka topics: " + e.getMessage());
                return Dualign.EXIT_UNREACHABLE;
            }
            r.created().forEach(t -> out.println("created  " + t));
            r.verified().forEach(t -> out.println("ok       " + t));
            r.problems().forEach(p -> out.println("MISMATCH " + p));
            out.flush();
            return r.ok() ? 0 : Dualign.EXIT_MISMATCH;
        }
    }

    @Command(name = "tail", mixinStandardHelpOptions = true,
            description = "Print the events of a topic as JSON lines (committed records only); invalid records are shown with the reason.")
    static final class Tail implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(paramLabel = "TOPIC", description = "Full topic name (dualign.responses) or short name (responses).")
        String topic;

        @picocli.CommandLine.Mixin
        ClusterOptions cluster = new ClusterOptions();

        @Option(names = "--from-beginning", description = "Start at the earliest record instead of the end.")
        boolean fromBeginning;

        @Option(names = "--max", paramLabel = "N", description = "Stop after N records.")
        Long max;

        @Option(names = "--idle-timeout", paramLabel = "SECONDS", description = "Stop after this long without a record.")
        Long idleTimeout;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            PrintWriter err = spec.commandLine().getErr();
            KafkaSettings s;
            Topic t;
            try {
                s = cluster.settings();
                t = Topic.byName(topic, s.topicPrefix());
            } catch (ConfigException | IllegalArgumentException e) {
                err.println("dualign kafka tail: " + e.getMessage());
                return Dualign.EXIT_BAD_INPUT;
            }
            try {
                TopicAdmin.requireReachable(s, REACH_TIMEOUT);
            } catch (IllegalStateException e) {
                err.println("dualign kafka tail: " + e.getMessage());
                return Dualign.EXIT_UNREACHABLE;
            }
            Map<String, String> props = Map.of(
                    "group.id", "dualign-tail-" + System.nanoTime(),
                    "auto.offset.reset", fromBeginning ? "earliest" : "latest",
                    "enable.auto.commit", "false",
                    "isolation.level", "read_committed");
            long seen = 0;
            long lastRecord = System.nanoTime();
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(s.clientProperties(props),
                    new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
                c.subscribe(List.of(s.topic(t)));
                while (max == null || seen < max) {
                    for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                        lastRecord = System.nanoTime();
                        try {
                            out.println(new String(Events.parse(t.eventType(), r.value()).toJsonBytes(),
                                    StandardCharsets.UTF_8));
                        } catch (InvalidEventException e) {
                            out.println("# invalid record at " + r.topic() + "/" + r.partition() + "@" + r.offset()
                                    + ": " + e.getMessage());
                        }
                        out.flush();
                        if (max != null && ++seen >= max) {
                            break;
                        }
                    }
                    if (idleTimeout != null && System.nanoTime() - lastRecord > idleTimeout * 1_000_000_000L) {
                        break;
                    }
                }
            }
            return 0;
        }
    }
}
