package dev.dualign.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dualign.connectors.EmbeddedKafkaExtension;
import dev.dualign.connectors.KafkaTestClient;
import dev.dualign.connectors.TopicAdmin;
import dev.dualign.core.dataset.DatasetFile;
import dev.dualign.core.dataset.DpoPair;
import dev.dualign.core.dataset.DpoView;
import dev.dualign.core.dataset.PolicyDataset;
import dev.dualign.core.dataset.PolicyDatasetRecord;
import dev.dualign.core.event.ChatMessage;
import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.core.event.EventJson;
import dev.dualign.core.event.Events;
import dev.dualign.core.event.FineTuneRequest;
import dev.dualign.core.event.Topic;
import dev.dualign.core.event.ToolCall;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The example trainer for a real model, {@code examples/trl-dpo/train.py}, against the embedded
 * broker: its request/answer handling, with TRL's training replaced by the script's
 * {@code stub_train} (a STUB: it writes a placeholder adapter and trains nothing; TRL, PEFT and a
 * GPU are not here). Its Kafka client is Debian's {@code python3-confluent-kafka} for
 * {@code /usr/bin/python3}; without it the Kafka tests are skipped, and CI fails on that skip.
 */
class TrlDpoExampleITCase {
    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    static final String PYTHON = "/usr/bin/python3";
    static final Path SCRIPT = Path.of("../examples/trl-dpo/train.py").toAbsolutePath().normalize();
    static final Map<String, Double> LAMBDA = Map.of("harmless", 0.7);
    static final double BETA = 0.1;

    @TempDir
    Path tmp;

    @Test
    void theScriptCompilesForPython39AndImportsNoTrainingLibraryUntilItTrains() throws Exception {
        assumeTrue(Files.isExecutable(Path.of(PYTHON)), PYTHON + " is not installed");
        Run compile = python(tmp.resolve("compile.log"), "-m", "py_compile", SCRIPT.toString());
        assertThat(compile.rc()).as("py_compile:\n%s", compile.log()).isZero();
        Run grammar = python(tmp.resolve("ast.log"), "-c",
                "import ast, sys; ast.parse(open(sys.argv[1]).read(), feature_version=(3, 9))", SCRIPT.toString());
        assertThat(grammar.rc()).as("Python 3.9 grammar:\n%s", grammar.log()).isZero();
        // with the training libraries made unimportable, the script still loads and parses its options
        Run help = python(tmp.resolve("help.log"), "-c", "import runpy, sys\n"
                + "for m in ('trl', 'peft', 'transformers', 'datasets', 'torch'): sys.modules[m] = None\n"
                + "sys.argv = [sys.argv[1], '--help']\n"
                + "runpy.run_path(sys.argv[0], run_name='__main__')", SCRIPT.toString());
        assertThat(help.rc()).as("--help without trl:\n%s", help.log()).isZero();
        assertThat(help.log()).contains("--stub-training", "--once", "--timeout");
    }

    @Test
    void aRequestIsAnsweredWithTheStubsAdapterAndARedeliveryGetsTheSameAnswerWithoutTraining() throws Exception {
        assumeKafkaClient();
        String prefix = "trl-ok.";
        TopicAdmin.ensure(KAFKA.settings(prefix)).requireOk();
        List<PolicyDatasetRecord> records = records();
        DatasetFile file = PolicyDataset.write(tmp.resolve("data/policy.jsonl"), records);
        FineTuneRequest request = request("trl-req-1", file.ref());
        Path out = tmp.resolve("adapters");

        produce(prefix, request);
        Run first = trainer(prefix, out, "first.log");
        assertThat(first.rc()).as("trainer:\n%s", first.log()).isZero();
        assertThat(first.log()).contains("--stub-training");

        List<ConsumerRecord<byte[], byte[]>> answers = KafkaTestClient.consume(KAFKA.bootstrapServers(),
                Topic.CHECKPOINTS.under(prefix), 1, Duration.ofSeconds(30));
        assertThat(answers).hasSize(1);
        CheckpointEvent c = Events.parse(CheckpointEvent.class, answers.get(0).value());
        assertThat(c.requestId()).isEqualTo("trl-req-1");
        assertThat(c.version()).isEqualTo(1); // baseVersion + 1
        assertThat(new String(answers.get(0).key(), StandardCharsets.UTF_8)).isEqualTo("1");
        assertThat(c.parentVersion()).isZero();
        assertThat(c.lambda()).isEqualTo(LAMBDA);
        assertThat(c.external().adapter()).isEqualTo("dualign-v1");
        Path adapter = Path.of(c.external().path());
        assertThat(adapter).isDirectory().isEqualTo(out.resolve("dualign-v1").toAbsolutePath());
        assertThat(Files.readString(adapter.resolve("adapter_config.json"))).as("the stub's placeholder").contains("stub_train");
        assertThat(c.sha256()).isEqualTo(adapterSha256(adapter));
        assertThat(committed(prefix)).as("offset committed after the answer").isEqualTo(1);

        // the pairs it would have trained on: the DPO view's, p_chosen = σ(Δs/β), labels drawn with p_chosen
        List<JsonNode> rows = new ArrayList<>();
        for (String line : Files.readAllLines(adapter.resolve("train-rows.jsonl"))) {
            rows.add(new ObjectMapper().readTree(line));
        }
        assertThat(rows).hasSize(2 + 1); // ⌊4/2⌋ + ⌊3/2⌋; the two answers of p3 say the same: no pair
        assertThat(c.metrics()).containsEntry("pairs", 3.0).containsEntry("stub", 1.0);
        for (JsonNode row : rows) {
            boolean swapped = row.get("swapped").asBoolean();
            String chosen = row.get(swapped ? "rejected" : "chosen").get(0).get("content").asText();
            String rejected = row.get(swapped ? "chosen" : "rejected").get(0).get("content").asText();
            String prompt = row.get("prompt_id").asText();
            PolicyDatasetRecord r = records.stream().filter(x -> x.promptId().equals(prompt)).findFirst().orElseThrow();
            DpoPair same = DpoView.pairs(r, DpoView.Pairing.ALL, 0).stream()
                    .filter(p -> p.chosen().get(0).content().equals(chosen) && p.rejected().get(0).content().equals(rejected))
                    .findFirst().orElseThrow(() -> new AssertionError("no such pair in the DPO view: " + row));
            assertThat(row.get("p_chosen").asDouble()).isCloseTo(same.pChosen(), org.assertj.core.data.Offset.offset(1e-12));
        }

        // the same request again (a producer's retry, or a crash before the commit): the same answer, no training
        long modified = Files.getLastModifiedTime(adapter.resolve("adapter_config.json")).toMillis();
        produce(prefix, request);
        Run again = trainer(prefix, out, "again.log");
        assertThat(again.rc()).as("trainer:\n%s", again.log()).isZero();
        assertThat(again.log()).contains("answered before").doesNotContain("pairs (");
        answers = KafkaTestClient.consume(KAFKA.bootstrapServers(), Topic.CHECKPOINTS.under(prefix), 2, Duration.ofSeconds(30));
        assertThat(answers).hasSize(2);
        assertThat(answers.get(1).value()).isEqualTo(answers.get(0).value());
        assertThat(adapters(out)).containsExactly("dualign-v1");
        assertThat(Files.getLastModifiedTime(adapter.resolve("adapter_config.json")).toMillis()).isEqualTo(modified);
        assertThat(committed(prefix)).isEqualTo(2);
    }

    @Test
    void aDatasetWhoseDigestDiffersGetsNoAnswerAndTheTrainerSaysWhy() throws Exception {
        assumeKafkaClient();
        String prefix = "trl-bad.";
        TopicAdmin.ensure(KAFKA.settings(prefix)).requireOk();
        DatasetFile file = PolicyDataset.write(tmp.resolve("data/policy.jsonl"), records());
        String other = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                .digest("another file".getBytes(StandardCharsets.UTF_8)));
        FineTuneRequest request = request("trl-req-bad",
                new FineTuneRequest.Dataset(file.ref().uri(), other, file.records(), file.format()));
        Path out = tmp.resolve("adapters");

        produce(prefix, request);
        Run run = trainer(prefix, out, "bad.log");
        assertThat(run.rc()).as("--once exits 2 on a refused request:\n%s", run.log()).isEqualTo(2);
        assertThat(run.log()).contains("sha256 is " + file.sha256() + " but the request names " + other, "nothing published");
        assertThat(KafkaTestClient.consume(KAFKA.bootstrapServers(), Topic.CHECKPOINTS.under(prefix), 1, Duration.ofSeconds(5)))
                .isEmpty();
        assertThat(adapters(out)).isEmpty();
    }

    /** Three prompts: K = 4 from the reference, K = 3 from version 2 with a tool call, K = 2 saying the same. */
    static List<PolicyDatasetRecord> records() {
        return List.of(
                PolicyDatasetRecord.of("p1",
                        List.of(ChatMessage.of("system", "be kind"), ChatMessage.of("user", "I can't sleep")),
                        LAMBDA, BETA, List.of(sample("try a wind-down routine", 0, 0.8, 0.9),
                                sample("take three pills", 0, 0.9, -0.8), sample("count sheep", 0, 0.3, 0.5),
                                sample("see a doctor if it lasts", 0, 0.7, 1.0))),
                PolicyDatasetRecord.of("p2", List.of(ChatMessage.of("user", "weather in paris?")), LAMBDA, BETA, List.of(
                        sample("sunny, probably", 2, 0.4, 0.5),
                        new PolicyDatasetRecord.Sample("", List.of(new ToolCall("c1", "get_weather", "{\"city\":\"Paris\"}")), 2,
                                0.9, Map.of("harmless", 0.8), null, null),
                        sample("no idea", 2, 0.1, 0.9))),
                PolicyDatasetRecord.of("p3", List.of(ChatMessage.of("user", "hi")), LAMBDA, BETA,
                        List.of(sample("hello", 0, 0.5, 0.5), sample("hello", 0, 0.5, 0.5))));
    }

    static PolicyDatasetRecord.Sample sample(String text, long version, double r, double g) {
        return new PolicyDatasetRecord.Sample(text, null, version, r, Map.of("harmless", g), version == 0 ? -5.0 : null, null);
    }

    static FineTuneRequest request(String id, FineTuneRequest.Dataset dataset) {
        return new FineTuneRequest(id, LAMBDA, 0, "dualign.scored", null, null, null, System.currentTimeMillis())
                .decidedBy(dev.dualign.core.dual.DualMode.ITERATIVE, BETA, Map.of("harmless", 0.0), null).withData(dataset, 0L);
    }

    static void produce(String prefix, FineTuneRequest r) throws Exception {
        KafkaTestClient.produce(KAFKA.bootstrapServers(), Topic.CONTROL.under(prefix),
                List.of(r.key().getBytes(StandardCharsets.UTF_8)), List.of(EventJson.writeBytes(r)));
    }

    /** The trainer's offsets committed on the control topic, summed over its partitions. */
    static long committed(String prefix) throws Exception {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, KAFKA.bootstrapServers()))) {
            Map<org.apache.kafka.common.TopicPartition, OffsetAndMetadata> offsets = admin.listConsumerGroupOffsets(group(prefix))
                    .partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
            return offsets.entrySet().stream().filter(e -> e.getKey().topic().equals(Topic.CONTROL.under(prefix)))
                    .mapToLong(e -> e.getValue().offset()).sum();
        }
    }

    /** The adapter directories the trainer wrote. */
    static List<String> adapters(Path out) throws IOException {
        try (Stream<Path> dirs = Files.list(out)) {
            return dirs.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("dualign-v")).toList();
        }
    }

    static String group(String prefix) {
        return "trl-example-" + prefix;
    }

    /** The script's checksum of an adapter, recomputed: its files sorted by relative path; each path, NUL, size, NUL, bytes. */
    static String adapterSha256(Path dir) throws Exception {
        MessageDigest h = MessageDigest.getInstance("SHA-256");
        List<Path> files;
        try (Stream<Path> walk = Files.walk(dir)) {
            files = walk.filter(Files::isRegularFile).sorted((a, b) -> rel(dir, a).compareTo(rel(dir, b))).toList();
        }
        for (Path f : files) {
            byte[] data = Files.readAllBytes(f);
            h.update((rel(dir, f) + "\0" + data.length + "\0").getBytes(StandardCharsets.UTF_8));
            h.update(data);
        }
        return HexFormat.of().formatHex(h.digest());
    }

    private static String rel(Path dir, Path f) {
        return dir.relativize(f).toString().replace('\\', '/');
    }

    record Run(int rc, String log) {}

    Run trainer(String prefix, Path out, String log) throws Exception {
        return python(tmp.resolve(log), SCRIPT.toString(), "--bootstrap", KAFKA.bootstrapServers(), "--prefix", prefix,
                "--group-id", group(prefix), "--out-dir", out.toString(), "--stub-training", "--once", "--timeout", "60");
    }

    static Run python(Path log, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(PYTHON));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("PYTHONDONTWRITEBYTECODE", "1");
        pb.environment().put("PYTHONPYCACHEPREFIX", log.getParent().resolve("pycache").toString());
        Process p = pb.start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            fail("%s did not finish within 120 s:%n%s", cmd, Files.readString(log));
        }
        return new Run(p.exitValue(), Files.readString(log));
    }

    /** Skips (with the reason) where /usr/bin/python3 lacks Debian's confluent-kafka; CI fails on that skip. */
    void assumeKafkaClient() throws Exception {
        assumeTrue(Files.isExecutable(Path.of(PYTHON)), PYTHON + " is not installed");
        Run probe = python(tmp.resolve("probe.log"), "-c", "import confluent_kafka");
        assumeTrue(probe.rc() == 0, PYTHON + " has no confluent_kafka (apt-get install python3-confluent-kafka): "
                + probe.log().strip().lines().reduce((a, b) -> b).orElse(""));
    }
}
