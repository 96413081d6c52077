package dev.dualign.connectors;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.Feature;
import org.apache.kafka.server.common.MetadataVersion;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real single-node Kafka broker in KRaft mode (broker and controller in one), started in-process
 * from the Kafka server jars on free loopback ports. The default cluster when no bootstrap servers
 * are configured: the demo and the tests talk to it exactly as to a production cluster.
 *
 * <pre>{@code
 * try (EmbeddedKafka kafka = EmbeddedKafka.start(null)) {
 *     String servers = kafka.bootstrapServers();
 * }
 * }</pre>
 */
public final class EmbeddedKafka implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafka.class);

    private final KafkaRaftServer server;
    private final Path logDir;
    private final boolean temporary;
    private final String bootstrapServers;
    private boolean closed;

    private EmbeddedKafka(KafkaRaftServer server, Path logDir, boolean temporary, String bootstrapServers) {
        this.server = server;
        this.logDir = logDir;
        this.temporary = temporary;
        this.bootstrapServers = bootstrapServers;
    }

    /**
     * Starts a broker and waits until it answers.
     *
     * @param dir log directory to use (kept on close), or {@code null} for a temporary one (deleted on close)
     */
    public static EmbeddedKafka start(Path dir) {
        return start(dir, 0);
    }

    /** As {@link #start(Path)}, on a given client port (0 = any free port). */
    public static EmbeddedKafka start(Path dir, int port) {
        boolean temporary = dir == null;
        try {
            Path logDir = temporary ? Files.createTempDirectory("dualign-kafka-") : Files.createDirectories(dir);
            int brokerPort = port == 0 ? freePort() : port;
            int controllerPort = freePort();
            Properties p = new Properties();
            p.put("process.roles", "broker,controller");
            p.put("node.id", "1");
            p.put("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
            p.put("listeners", "PLAINTEXT://127.0.0.1:" + brokerPort + ",CONTROLLER://127.0.0.1:" + controllerPort);
            p.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + brokerPort);
            p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
            p.put("controller.listener.names", "CONTROLLER");
            p.put("inter.broker.listener.name", "PLAINTEXT");
            p.put("log.dirs", logDir.toString());
            p.put("offsets.topic.replication.factor", "1");
            p.put("offsets.topic.num.partitions", "2");
            p.put("transaction.state.log.replication.factor", "1");
            p.put("transaction.state.log.min.isr", "1");
            p.put("transaction.state.log.num.partitions", "2");
            p.put("share.coordinator.state.topic.replication.factor", "1");
            p.put("share.coordinator.state.topic.min.isr", "1");
            p.put("group.initial.rebalance.delay.ms", "0");
            p.put("auto.create.topics.enable", "false");
            p.put("num.partitions", "1");
            // a development broker accepts records up to 8 MiB, so an oversized record reaches the job's
            // own bound (kafka.max-record-bytes) and is dead-lettered with a reason instead of refused here
            p.put("message.max.bytes", String.valueOf(8 << 20));
            p.put("log.flush.interval.messages", String.valueOf(Long.MAX_VALUE));
            p.put("unclean.leader.election.enable", "false");
            KafkaConfig config = KafkaConfig.fromProps(p, false);

            boolean formatted = Files.exists(logDir.resolve("meta.properties"));
            if (!formatted) {
                new Formatter()
                        .setPrintStream(new PrintStream(PrintStream.nullOutputStream()))
                        .setNodeId(1)
                        .setClusterId(Uuid.randomUuid().toString())
                        .setDirectories(List.of(logDir.toString()))
                        .setMetadataLogDirectory(logDir.toString())
                        .setReleaseVersion(MetadataVersion.LATEST_PRODUCTION)
                        .setSupportedFeatures(Feature.PRODUCTION_FEATURES)
                        .setControllerListenerName("CONTROLLER")
                        .setUnstableFeatureVersionsEnabled(false)
                        .run();
            }
            KafkaRaftServer server = new KafkaRaftServer(config, Time.SYSTEM);
            server.startup();
            String servers = "127.0.0.1:" + brokerPort;
            EmbeddedKafka kafka = new EmbeddedKafka(server, logDir, temporary, servers);
            try {
                kafka.awaitReady();
            } catch (RuntimeException e) {
                kafka.close();
                throw e;
            }
            LOG.info("embedded Kafka broker ready at {} (log dir {})", servers, logDir);
            return kafka;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the embedded Kafka broker", e);
        } catch (Exception e) {
            throw new IllegalStateException("cannot start the embedded Kafka broker: " + e.getMessage(), e);
        }
    }

    private void awaitReady() throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        try (Admin admin = Admin.create(p)) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (true) {
                try {
                    if (!admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).isEmpty()) {
                        return;
                    }
                } catch (Exception e) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("embedded Kafka broker did not answer within 60 s", e);
                    }
                }
                Thread.sleep(50);
            }
        }
    }

    public String bootstrapServers() {
        return bootstrapServers;
    }

    public Path logDir() {
        return logDir;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            server.shutdown();
            server.awaitShutdown();
        } finally {
            if (temporary) {
                deleteRecursively(logDir);
            }
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        }
    }

    private static void deleteRecursively(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException e) {
            LOG.warn("could not delete {}: {}", dir, e.toString());
        }
    }
}
