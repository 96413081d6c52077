package dev.dualign.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dualign.connectors.EmbeddedKafkaExtension;
import dev.dualign.connectors.KafkaTestClient;
import dev.dualign.core.event.PromptEvent;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

class KafkaCommandITCase {
    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    @TempDir
    Path dir;

    private CliRun run(String... args) {
        return CliRun.of(args);
    }

    private Path config(String yaml) throws Exception {
        Path f = dir.resolve("dualign-" + System.nanoTime() + ".yaml");
        Files.writeString(f, yaml);
        return f;
    }

    @Test
    void topicsCreatesThenVerifiesAndReportsAMismatchWithExitFour() throws Exception {
        Path conf = config("kafka:\n  topic-prefix: cli-a.\n  partitions: 2\n");
        CliRun first = run("kafka", "topics", "--config", conf.toString(), "--bootstrap-servers", KAFKA.bootstrapServers());
        assertThat(first.code()).as(first.err()).isZero();
        assertThat(first.out()).contains("created  cli-a.responses").contains("created  cli-a.dlq");
        CliRun second = run("kafka", "topics", "--config", conf.toString(), "--bootstrap-servers", KAFKA.bootstrapServers());
        assertThat(second.out()).contains("ok       cli-a.responses").doesNotContain("created");

        try (Admin admin = Admin.create(Map.of("bootstrap.servers", KAFKA.bootstrapServers()))) {
            admin.createTopics(List.of(new NewTopic("cli-b.scored", 1, (short) 1))).all().get();
        }
        Path wantsFour = config("kafka:\n  topic-prefix: cli-b.\n  partitions: 4\n");
        CliRun mismatch = run("kafka", "topics", "--config", wantsFour.toString(), "--bootstrap-servers", KAFKA.bootstrapServers());
        assertThat(mismatch.code()).isEqualTo(4);
        assertThat(mismatch.out()).contains("MISMATCH cli-b.scored has 1 partition, configured 4");
    }

    @Test
    void badConfigurationFailsNamingTheKey() throws Exception {
        CliRun r = run("kafka", "topics", "--config", config("kafka:\n  partitons: 2\n").toString(),
                "--bootstrap-servers", KAFKA.bootstrapServers());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("kafka.partitons").contains("unknown key");
        CliRun bad = run("kafka", "topics", "--config", config("kafka:\n  delivery: sometimes\n").toString(),
                "--bootstrap-servers", KAFKA.bootstrapServers());
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains("kafka.delivery");
    }

    @Test
    void anUnreachableClusterIsNamedWithExitFiveInsteadOfEndlessRetries() throws Exception {
        Path conf = config("kafka:\n  topic-prefix: cli-u.\n");
        String dead;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            dead = "127.0.0.1:" + s.getLocalPort(); // closed again: nothing listens there
        }
        CliRun tail = run("kafka", "tail", "dual", "--config", conf.toString(), "--bootstrap-servers", dead);
        assertThat(tail.code()).isEqualTo(5);
        assertThat(tail.err()).contains("cannot reach Kafka at " + dead);
        CliRun topics = run("kafka", "topics", "--config", conf.toString(), "--bootstrap-servers", dead);
        assertThat(topics.code()).isEqualTo(5);
        assertThat(topics.err()).contains("cannot reach Kafka at " + dead);
    }

    @Test
    void serveJobAndDemoNameAnUnreachableClusterInOneLineWithExitFive() throws Exception {
        String dead;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            dead = "127.0.0.1:" + s.getLocalPort(); // closed again: nothing listens there
        }
        // a registry that does not exist: the broker is checked before any model is looked at or trained
        Path conf = config("kafka:\n  bootstrap.servers: \"" + dead + "\"\nscoring:\n  registry: \""
                + dir.resolve("no-registry") + "\"\nconstraints:\n  harmless: 0.5\nserver:\n  port: 0\nflink:\n  web-port: 0\n");
        for (String[] args : new String[][] {{"serve", "--config", conf.toString()}, {"job", "--config", conf.toString()},
                {"demo", "--config", conf.toString(), "--duration", "5s"}}) {
            CliRun r = run(args);
            assertThat(r.code()).as(args[0] + ": " + r.err()).isEqualTo(5);
            assertThat(r.err().strip()).as(args[0]).startsWith("dualign " + args[0] + ": cannot reach Kafka at " + dead);
            assertThat(r.err().strip().lines().count()).as(args[0] + ": one line, no stack trace").isEqualTo(1);
            assertThat(dir.resolve("no-registry")).as(args[0] + ": nothing was bootstrapped").doesNotExist();
        }
    }

    @Test
    void jobRefusesToResumeTheCheckpointADemoLeftNamingBoth() throws Exception {
        Path ckpts = dir.resolve("checkpoints");
        Path run = ckpts.resolve("00000000000000000000000000000001");
        Files.createDirectories(run.resolve("chk-3"));
        Files.writeString(run.resolve("chk-3").resolve("_metadata"), "");
        Path conf = config("constraints:\n  harmless: 0.5\ncheckpoint:\n  dir: \"" + ckpts + "\"\nscoring:\n  registry: \""
                + dir.resolve("no-registry") + "\"\n");
        dev.dualign.streaming.JobIdentity.of("dualign-demo", dev.dualign.streaming.JobSettings.from(
                dev.dualign.app.DualignOptions.load(conf), dir)).writeTo(run);
        CliRun r = run("job", "--config", conf.toString());
        assertThat(r.code()).as(r.err()).isEqualTo(2);
        assertThat(r.err()).contains("checkpoint.restore-from").contains("dualign-demo").contains("dualign-alignment")
                .contains("--fresh");
        assertThat(dir.resolve("no-registry")).as("refused before anything started").doesNotExist();
    }

    @Test
    void tailPrintsDecodedEventsAndFlagsInvalidRecords() throws Exception {
        Path conf = config("kafka:\n  topic-prefix: cli-t.\n");
        assertThat(run("kafka", "topics", "--config", conf.toString(), "--bootstrap-servers", KAFKA.bootstrapServers()).code())
                .isZero();
        PromptEvent p = new PromptEvent("p1", "hello", null, 5L);
        KafkaTestClient.produce(KAFKA.bootstrapServers(), "cli-t.prompts", null,
                List.of(p.toJsonBytes(), "garbage".getBytes(StandardCharsets.UTF_8)));
        CliRun r = run("kafka", "tail", "prompts", "--config", conf.toString(), "--bootstrap-servers", KAFKA.bootstrapServers(),
                "--from-beginning", "--max", "2", "--idle-timeout", "20");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains(p.toJson()).contains("# invalid record at cli-t.prompts/");
        CliRun unknown = run("kafka", "tail", "nope", "--config", conf.toString(), "--bootstrap-servers", KAFKA.bootstrapServers());
        assertThat(unknown.code()).isEqualTo(2);
        assertThat(unknown.err()).contains("unknown topic 'nope'");
    }
}
