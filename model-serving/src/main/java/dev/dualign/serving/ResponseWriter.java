package dev.dualign.serving;

import dev.dualign.core.event.DeadLetter;
import dev.dualign.core.event.EventJson;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.service.LoopKafka;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Produces the prompt loop's output to Kafka: answers to {@code dualign.responses} and unanswerable
 * prompts to {@code dualign.dlq}, in one transaction with the consumed offsets (exactly once).
 */
final class ResponseWriter {
    private static final Logger LOG = LoggerFactory.getLogger(ServingLoop.class); // logs as ServingLoop did

    private final LoopKafka kafka;
    private final AtomicLong deadLetters = new AtomicLong();

    ResponseWriter(LoopKafka kafka) {
        this.kafka = kafka;
    }

    /** Records sent to {@code dualign.dlq}. */
    long deadLetters() {
        return deadLetters.get();
    }

    ProducerRecord<String, byte[]> response(ResponseEvent r) {
        return new ProducerRecord<>(kafka.responses(), r.key(), EventJson.writeBytes(r));
    }

    ProducerRecord<String, byte[]> deadLetter(ConsumerRecord<String, byte[]> r, String why) {
        DeadLetter d = DeadLetter.of(r.topic(), r.partition(), r.offset(), r.value(), why, System.currentTimeMillis());
        deadLetters.incrementAndGet();
        return new ProducerRecord<>(kafka.dlq(), d.key(), EventJson.writeBytes(d));
    }

    /**
     * Sends {@code out} and commits {@code offsets} in one transaction; whether it was committed. An
     * aborted one seeks {@code consumer} back to the committed offsets, so the prompts are answered
     * again; a fenced producer ends the session with a {@link ProducerFencedException}.
     */
    boolean commit(KafkaProducer<String, byte[]> producer, KafkaConsumer<String, byte[]> consumer,
            List<ProducerRecord<String, byte[]>> out, Map<TopicPartition, OffsetAndMetadata> offsets) {
        try {
            producer.beginTransaction();
            for (ProducerRecord<String, byte[]> r : out) {
                producer.send(r);
            }
            producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
            producer.commitTransaction();
            return true;
        } catch (ProducerFencedException | org.apache.kafka.common.errors.InvalidProducerEpochException e) {
            throw new ProducerFencedException(e.getMessage());
        } catch (org.apache.kafka.common.KafkaException e) {
            // the abort may fail as well: then the session ends and a new one resumes from the committed offsets
            LOG.warn("transaction aborted, the prompts will be answered again: {}", e.toString());
            producer.abortTransaction();
            for (Map.Entry<TopicPartition, OffsetAndMetadata> o : offsets.entrySet()) {
                consumer.seek(o.getKey(), committedOr(consumer, o.getKey()));
            }
            return false;
        }
    }

    private static long committedOr(KafkaConsumer<String, byte[]> c, TopicPartition tp) {
        OffsetAndMetadata m = c.committed(java.util.Set.of(tp)).get(tp);
        return m == null ? 0 : m.offset();
    }
}
