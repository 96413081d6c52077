package dev.dualign.serving;

import dev.dualign.service.LoopKafka;

import dev.dualign.core.event.EventJson;
import dev.dualign.core.event.ResponseEvent;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends exchanges answered over HTTP to {@code dualign.responses}. The client already has its
 * answer, so a record Kafka refuses is not retried here: it is counted and reported (health and
 * metrics), never dropped silently.
 */
public final class ResponseSink implements Consumer<List<ResponseEvent>>, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ResponseSink.class);

    private final LoopKafka kafka;
    private final KafkaProducer<String, byte[]> producer;
    private final AtomicLong lost = new AtomicLong();
    private volatile String problem;

    public ResponseSink(LoopKafka kafka) {
        this.kafka = kafka;
        this.producer = kafka.producer(null);
    }

    @Override
    public void accept(List<ResponseEvent> responses) {
        for (ResponseEvent r : responses) {
            producer.send(new ProducerRecord<>(kafka.responses(), r.key(), EventJson.writeBytes(r)), (meta, e) -> {
                if (e == null) {
                    return;
                }
                // answered to the client, but the loop will never see it: say so, loudly and countably
                long n = lost.incrementAndGet();
                problem = n + " HTTP answers could not be written to " + kafka.responses() + " (last: " + e + ")";
                LOG.error("response {} could not be written to {}: {}", r.id(), kafka.responses(), e.toString());
            });
        }
    }

    /** Answers that could not be written. */
    public long lost() {
        return lost.get();
    }

    /** Why answers are missing from Kafka, or null. */
    public String problem() {
        return problem;
    }

    @Override
    public void close() {
        producer.close();
    }
}
