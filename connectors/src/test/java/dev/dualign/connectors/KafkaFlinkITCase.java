package dev.dualign.connectors;

import dev.dualign.core.event.Topic;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dualign.connectors.flink.DualignKafka;
import dev.dualign.connectors.flink.ParseOrDeadLetter;
import dev.dualign.core.event.DeadLetter;
import dev.dualign.core.event.Event;
import dev.dualign.core.event.EventsRoundTripTest;
import dev.dualign.core.event.Events;
import dev.dualign.core.event.ResponseEvent;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.event.EventJson;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Metric;
import org.apache.flink.runtime.testutils.InMemoryReporter;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Real broker, real MiniCluster, exactly-once sinks, read_committed readers. */
class KafkaFlinkITCase {
    @RegisterExtension
    @Order(1)
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    static final InMemoryReporter REPORTER = InMemoryReporter.createWithRetainedMetrics();

    @RegisterExtension
    @Order(2)
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(2)
            .setConfiguration(REPORTER.addToConfiguration(new Configuration()))
            .build());

    private static StreamExecutionEnvironment env() {
        Configuration c = new Configuration();
        // a failure must fail the test, not be retried silently
        c.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(c);
        env.setParallelism(2);
        env.enableCheckpointing(300);
        return env;
    }

    /** Thirty distinct events of each type: the examples with their timestamps varied. */
    private static List<Event> variants(Event example) throws Exception {
        List<Event> out = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            ObjectNode node = (ObjectNode) EventJson.mapper().readTree(example.toJsonBytes());
            node.put("timestamp", node.path("timestamp").asLong() + i);
            out.add(Events.parse(example.getClass(), EventJson.writeBytes(node)));
        }
        return out;
    }

    @Test
    void everyEventTypeMakesTheRoundTripExactlyOnce() throws Exception {
        KafkaSettings in = KAFKA.settings("rt-in.");
        KafkaSettings out = KAFKA.settings("rt-out.");
        TopicAdmin.ensure(in).requireOk();
        TopicAdmin.ensure(out).requireOk();
        Map<Topic, List<Event>> produced = new java.util.EnumMap<>(Topic.class);
        for (Event example : EventsRoundTripTest.examples()) {
            Topic t = java.util.Arrays.stream(Topic.values()).filter(x -> x.eventType() == example.getClass())
                    .findFirst().orElseThrow();
            List<Event> events = variants(example);
            produced.computeIfAbsent(t, x -> new ArrayList<>()).addAll(events); // a topic may have several examples
            KafkaTestClient.produce(KAFKA.bootstrapServers(), in.topic(t),
                    events.stream().map(e -> e.key().getBytes(StandardCharsets.UTF_8)).toList(),
                    events.stream().map(Event::toJsonBytes).toList());
        }
        assertThat(produced).hasSize(Topic.values().length);

        StreamExecutionEnvironment env = env();
        DualignKafka source = new DualignKafka(in);
        DualignKafka sink = new DualignKafka(out);
        for (Topic t : Topic.values()) {
            passThrough(env, source, sink, t, t.eventType());
        }
        env.execute("round-trip");

        for (Topic t : Topic.values()) {
            List<ConsumerRecord<byte[], byte[]>> got = KafkaTestClient.consume(KAFKA.bootstrapServers(), out.topic(t),
                    produced.get(t).size(), Duration.ofSeconds(30));
            List<Object> events = new ArrayList<>();
            for (ConsumerRecord<byte[], byte[]> r : got) {
                Object e = Events.parse(t.eventType(), r.value());
                events.add(e);
                assertThat(new String(r.key(), StandardCharsets.UTF_8)).isEqualTo(((Event) e).key());
            }
            assertThat(events).as(t.name()).containsExactlyInAnyOrderElementsOf(produced.get(t));
        }
    }

    private static <T extends Event> void passThrough(StreamExecutionEnvironment env, DualignKafka source,
            DualignKafka sink, Topic t, Class<T> type) {
        DualignKafka.Parsed<T> parsed = source.read(env, t, type, true);
        sink.write(parsed.events(), t, type);
    }

    @Test
    void malformedRecordsGoToTheDeadLetterTopicAndNothingIsLost() throws Exception {
        KafkaSettings base = KAFKA.settings("dlq.");
        KafkaSettings s = new KafkaSettings(base.bootstrapServers(), "dlq.", 2, 1, true, "dlq-test", 60000, 4096,
                "dlq-group", Map.of());
        TopicAdmin.ensure(s).requireOk();
        KafkaSettings out = KAFKA.settings("dlq-out.");
        TopicAdmin.ensure(out, List.of(Topic.RESPONSES)).requireOk();

        Random rnd = new Random(3);
        List<byte[]> values = new ArrayList<>();
        List<ResponseEvent> valid = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            ResponseEvent e = new ResponseEvent("r" + i, "p" + (i % 97), "prompt " + i, "response " + i, i % 3,
                    -1.0 - rnd.nextDouble(), -1.5, i % 5 == 0 ? "reference" : "policy", 1_700_000_000_000L + i);
            valid.add(e);
            values.add(e.toJsonBytes());
        }
        List<byte[]> bad = new ArrayList<>();
        String ok = new String(valid.get(0).toJsonBytes(), StandardCharsets.UTF_8);
        for (int i = 0; i < 20; i++) {
            bad.add(("{\"id\":\"bad" + i + "\", broken").getBytes(StandardCharsets.UTF_8)); // bad JSON
            bad.add(ok.replace("\"policyVersion\":0", "\"policyVersion\":\"zero\"").getBytes(StandardCharsets.UTF_8)); // wrong type
            bad.add(ok.replace("\"logprob\":", "\"logprob\":\"NaN\",\"x\":").getBytes(StandardCharsets.UTF_8)); // NaN
            bad.add(("{\"id\":\"big\",\"pad\":\"" + "x".repeat(5000) + "\"}").getBytes(StandardCharsets.UTF_8)); // oversized
            byte[] garbage = new byte[64];
            rnd.nextBytes(garbage);
            garbage[0] = (byte) 0xff;
            bad.add(i % 2 == 0 ? garbage : new byte[0]); // binary garbage, empty
        }
        values.addAll(bad);
        List<byte[]> shuffled = new ArrayList<>(values);
        Collections.shuffle(shuffled, rnd);
        KafkaTestClient.produce(KAFKA.bootstrapServers(), s.topic(Topic.RESPONSES), null, shuffled);

        StreamExecutionEnvironment env = env();
        DualignKafka kafka = new DualignKafka(s);
        DualignKafka.Parsed<ResponseEvent> parsed = kafka.read(env, Topic.RESPONSES, ResponseEvent.class, true);
        new DualignKafka(out).write(parsed.events(), Topic.RESPONSES, ResponseEvent.class);
        kafka.write(parsed.deadLetters(), Topic.DLQ, DeadLetter.class);
        JobExecutionResult result = env.execute("dead-letters"); // restart strategy none: any throw fails here

        List<ConsumerRecord<byte[], byte[]>> good = KafkaTestClient.consume(KAFKA.bootstrapServers(),
                out.topic(Topic.RESPONSES), 1000, Duration.ofSeconds(30));
        assertThat(good.stream().map(r -> Events.parse(ResponseEvent.class, r.value())).toList())
                .containsExactlyInAnyOrderElementsOf(valid);
        List<ConsumerRecord<byte[], byte[]>> dlq = KafkaTestClient.consume(KAFKA.bootstrapServers(), s.topic(Topic.DLQ),
                100, Duration.ofSeconds(30));
        List<DeadLetter> letters = dlq.stream().map(r -> Events.parse(DeadLetter.class, r.value())).toList();
        assertThat(letters).hasSize(100);
        assertThat(letters).allSatisfy(d -> {
            assertThat(d.sourceTopic()).isEqualTo("dlq.responses");
            assertThat(d.offset()).isNotNegative();
            assertThat(d.error()).isNotBlank();
        });
        assertThat(letters.stream().map(DeadLetter::rawBytes).map(java.util.Arrays::toString).toList())
                .containsExactlyInAnyOrderElementsOf(bad.stream().map(java.util.Arrays::toString).toList());
        assertThat(letters).filteredOn(d -> d.error().contains("not valid JSON")).hasSizeGreaterThanOrEqualTo(20);
        assertThat(letters).filteredOn(d -> d.error().contains("policyVersion")).hasSize(20);
        assertThat(letters).filteredOn(d -> d.error().contains("logprob") && d.error().contains("finite")).hasSize(20);
        assertThat(letters).filteredOn(d -> d.error().contains("exceeds kafka.max-record-bytes")).hasSize(20);
        assertThat(letters).filteredOn(d -> d.error().equals("empty record")).hasSize(10);

        long counted = 0;
        for (Map.Entry<String, Metric> m : REPORTER.findMetrics(result.getJobID(), ParseOrDeadLetter.METRIC_DEAD_LETTERS)
                .entrySet()) {
            counted += ((Counter) m.getValue()).getCount();
        }
        assertThat(counted).isEqualTo(100);
    }

    @Test
    void aRecordTooBigForAWholeDeadLetterIsDeadLetteredCutAndTheJobGoesOn() throws Exception {
        // 900 KiB of garbage: base64 makes 1.2 MB, over the sinks' 1 MiB max.request.size. A dead
        // letter carrying it whole failed the DLQ sink, and the job restarted onto it for ever
        KafkaSettings s = KAFKA.settings("big.");
        TopicAdmin.ensure(s).requireOk();
        KafkaSettings out = KAFKA.settings("big-out.");
        TopicAdmin.ensure(out, List.of(Topic.RESPONSES)).requireOk();
        List<ResponseEvent> valid = new ArrayList<>();
        List<byte[]> values = new ArrayList<>();
        byte[] garbage = new byte[900 * 1024];
        new Random(9).nextBytes(garbage);
        for (int i = 0; i < 20; i++) {
            ResponseEvent e = new ResponseEvent("r" + i, "p" + i, "prompt", "response", 1, -1.0, -1.5, "policy", 1L + i);
            valid.add(e);
            values.add(e.toJsonBytes());
            if (i == 9) {
                values.add(garbage);
            }
        }
        KafkaTestClient.produce(KAFKA.bootstrapServers(), s.topic(Topic.RESPONSES), null, values);

        StreamExecutionEnvironment env = env();
        DualignKafka kafka = new DualignKafka(s);
        DualignKafka.Parsed<ResponseEvent> parsed = kafka.read(env, Topic.RESPONSES, ResponseEvent.class, true);
        new DualignKafka(out).write(parsed.events(), Topic.RESPONSES, ResponseEvent.class);
        kafka.write(parsed.deadLetters(), Topic.DLQ, DeadLetter.class);
        env.execute("big-dead-letter"); // restart strategy none: a failing sink fails here

        assertThat(KafkaTestClient.consume(KAFKA.bootstrapServers(), out.topic(Topic.RESPONSES), 20, Duration.ofSeconds(30))
                .stream().map(r -> Events.parse(ResponseEvent.class, r.value())).toList()).containsExactlyInAnyOrderElementsOf(valid);
        List<DeadLetter> letters = KafkaTestClient.consume(KAFKA.bootstrapServers(), s.topic(Topic.DLQ), 1, Duration.ofSeconds(30))
                .stream().map(r -> Events.parse(DeadLetter.class, r.value())).toList();
        assertThat(letters).singleElement().satisfies(d -> {
            assertThat(d.truncated()).isTrue();
            assertThat(d.rawSize()).isEqualTo(garbage.length);
            assertThat(d.rawBytes()).isEqualTo(java.util.Arrays.copyOf(garbage, DeadLetter.MAX_RAW_BYTES));
            assertThat(d.error()).isNotBlank();
        });
    }
}
