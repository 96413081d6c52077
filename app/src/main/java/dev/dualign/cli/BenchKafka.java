package dev.dualign.cli;

import dev.dualign.connectors.EmbeddedKafka;
import dev.dualign.connectors.KafkaSettings;
import dev.dualign.connectors.TopicAdmin;
import dev.dualign.connectors.flink.DualignKafka;
import dev.dualign.core.event.DeadLetter;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.Topic;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDate;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The Kafka passthrough baseline: responses are pre-loaded into the embedded broker, then a Flink
 * job reads, parses (with dead-lettering) and writes them through an exactly-once sink. Later
 * benchmarks of the full job are reported as a ratio to this one.
 */
@Command(name = "kafka", mixinStandardHelpOptions = true,
        description = "Passthrough throughput: embedded broker → Flink parse → exactly-once sink.")
final class BenchKafka implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--events", defaultValue = "300000", description = "Responses to pass through (default: ${DEFAULT-VALUE}).")
    int events;

    @Option(names = "--parallelism", defaultValue = "2", description = "Flink parallelism (default: ${DEFAULT-VALUE}).")
    int parallelism;

    @Option(names = "--checkpoint-ms", defaultValue = "1000", description = "Checkpoint interval; transactions commit on checkpoints (default: ${DEFAULT-VALUE}).")
    long checkpointMs;

    @Option(names = "--at-least-once", description = "Measure with at-least-once sinks instead of exactly-once.")
    boolean atLeastOnce;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Path tmp = Files.createTempDirectory("dualign-bench-");
        try (EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"))) {
            KafkaSettings in = KafkaSettings.defaults().withBootstrapServers(kafka.bootstrapServers())
                    .withTopicPrefix("bench-in.").withExactlyOnce(!atLeastOnce);
            KafkaSettings outSettings = in.withTopicPrefix("bench-out.");
            TopicAdmin.ensure(in, List.of(Topic.RESPONSES, Topic.DLQ)).requireOk();
            TopicAdmin.ensure(outSettings, List.of(Topic.RESPONSES)).requireOk();

            long t0 = System.nanoTime();
            Properties p = new Properties();
            p.put("bootstrap.servers", kafka.bootstrapServers());
            p.put("linger.ms", "20");
            p.put("batch.size", String.valueOf(256 * 1024));
            p.put("compression.type", "lz4");
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
                for (int i = 0; i < events; i++) {
                    ResponseEvent e = new ResponseEvent("r" + i, "p" + (i % 5000), "How can I sleep better at night?",
                            "Keep a regular bedtime and avoid screens for an hour before sleep.", i % 4, -21.5, -22.0,
                            ResponseEvent.SOURCE_POLICY, 1_764_000_000_000L + i);
                    producer.send(new ProducerRecord<>(in.topic(Topic.RESPONSES), e.key().getBytes(StandardCharsets.UTF_8),
                            e.toJsonBytes()));
                }
            }
            double loadS = (System.nanoTime() - t0) / 1e9;
            out.printf("loaded %,d responses into the broker in %.1f s (%,.0f/s, plain producer)%n", events, loadS, events / loadS);
            out.flush();

            Configuration c = new Configuration();
            c.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
            c.setString("io.tmp.dirs", tmp.toString());
            StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, c);
            env.enableCheckpointing(checkpointMs);
            DualignKafka source = new DualignKafka(in);
            DualignKafka.Parsed<ResponseEvent> parsed = source.read(env, Topic.RESPONSES, ResponseEvent.class, true);
            new DualignKafka(outSettings).write(parsed.events(), Topic.RESPONSES, ResponseEvent.class);
            source.write(parsed.deadLetters(), Topic.DLQ, DeadLetter.class);
            long t1 = System.nanoTime();
            env.execute("bench-kafka-passthrough");
            double jobS = (System.nanoTime() - t1) / 1e9;

            long committed = countCommitted(kafka.bootstrapServers(), outSettings.topic(Topic.RESPONSES));
            out.printf("passthrough (%s, parallelism %d, checkpoint %d ms): %,d events in %.1f s = %,.0f events/s "
                            + "(job start to finish, including start-up and the final commit)%n",
                    atLeastOnce ? "at-least-once" : "exactly-once", parallelism, checkpointMs, events, jobS, events / jobS);
            out.printf("committed in the output topic: %,d%s%n", committed, committed == events ? " (all)" : " — MISMATCH");
            out.printf("  | %s | %s cores | %s | %,d | %.1f s | %,.0f/s |%n", LocalDate.now(),
                    Runtime.getRuntime().availableProcessors(), atLeastOnce ? "at-least-once" : "exactly-once", events,
                    jobS, events / jobS);
            out.flush();
            return committed == events ? 0 : 1;
        } finally {
            try (var files = Files.walk(tmp)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    /** Records visible to a read_committed consumer: its end offsets. */
    static long countCommitted(String servers, String topic) {
        Properties p = new Properties();
        p.put("bootstrap.servers", servers);
        p.put("isolation.level", "read_committed");
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = c.partitionsFor(topic, Duration.ofSeconds(10)).stream()
                    .map(i -> new TopicPartition(topic, i.partition())).toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            long n = 0;
            long idleSince = System.nanoTime();
            while (System.nanoTime() - idleSince < 2_000_000_000L) {
                int got = c.poll(Duration.ofMillis(200)).count();
                if (got > 0) {
                    n += got;
                    idleSince = System.nanoTime();
                }
            }
            return n;
        }
    }
}
