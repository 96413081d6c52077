package dev.dualign.app;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dualign.connectors.EmbeddedKafka;
import dev.dualign.connectors.KafkaTestClient;
import dev.dualign.core.event.EventJson;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.service.LoopKafka;
import dev.dualign.serving.ResponseSink;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * HTTP answers given while the broker is down for longer than the producer's delivery timeout
 * reach {@code responses} once it is back, each exactly once, and the sink's problem (which keeps
 * {@code /healthz} at 503) clears when they have.
 */
class ResponseSinkITCase {
    @TempDir
    Path dir;

    static List<ResponseEvent> answers(int from, int to) {
        List<ResponseEvent> out = new ArrayList<>();
        for (int i = from; i < to; i++) {
            out.add(new ResponseEvent("a" + i, "p" + i, "hello", "answer " + i, 0, -1.0, -1.0, ResponseEvent.SOURCE_POLICY, i));
        }
        return out;
    }

    @Test
    @org.junit.jupiter.api.Timeout(300) // a sink that blocks a minute per answer would hang here for twenty
    void answersGivenDuringAnOutageLongerThanTheDeliveryTimeoutAreWrittenOnceTheBrokerIsBack() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path logs = dir.resolve("kafka");
        EmbeddedKafka broker = EmbeddedKafka.start(logs, port);
        try {
            try (Admin admin = Admin.create(java.util.Map.of("bootstrap.servers", broker.bootstrapServers()))) {
                admin.createTopics(List.of(new NewTopic("t.responses", 1, (short) 1))).all().get();
            }
            Properties client = new Properties();
            client.put("bootstrap.servers", broker.bootstrapServers());
            // the producer gives a record up after 3 s (120 s by default): the outage below outlasts it
            client.put("delivery.timeout.ms", "3000");
            client.put("request.timeout.ms", "1000");
            LoopKafka kafka = new LoopKafka(client, "g", "t.");
            try (ResponseSink sink = new ResponseSink(kafka)) {
                sink.accept(answers(0, 10));
                assertThat(KafkaTestClient.consume(broker.bootstrapServers(), "t.responses", 10, Duration.ofSeconds(30))).hasSize(10);

                broker.close();
                // the answer log's thread is not held while Kafka is down: at most a second per answer, not a minute
                sink.accept(answers(10, 30));
                Await.until("the sink to hold the 20 refused answers", Duration.ofSeconds(60), () -> sink.unwritten() == 20);
                assertThat(sink.problem()).contains("20 HTTP answers wait to be written to t.responses");
                try (ResponseSink cold = new ResponseSink(kafka)) { // started during the outage: it never learnt the topic
                    cold.accept(answers(30, 40));
                    Await.until("the cold sink to hold its 10 answers", Duration.ofSeconds(60), () -> cold.unwritten() == 10);
                    Thread.sleep(4000); // more than one delivery timeout: the refused answers are sent again and refused again

                    broker = EmbeddedKafka.start(logs, port);
                    Await.until("every refused answer to be written", Duration.ofSeconds(90),
                            () -> sink.problem() == null && cold.problem() == null);
                    assertThat(sink.lost() + cold.lost()).isZero();
                }
                List<String> ids = new ArrayList<>();
                for (ConsumerRecord<byte[], byte[]> r : KafkaTestClient.consume(broker.bootstrapServers(), "t.responses", 40,
                        Duration.ofSeconds(30))) {
                    ids.add(EventJson.mapper().readValue(r.value(), ResponseEvent.class).id());
                }
                assertThat(ids).as("every answer exactly once").containsExactlyInAnyOrderElementsOf(
                        answers(0, 40).stream().map(ResponseEvent::id).toList());
            }
        } finally {
            broker.close();
        }
    }
}
