package dev.dualign.finetune;

import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.core.event.DeadLetter;
import dev.dualign.core.event.EventJson;
import dev.dualign.service.LoopKafka;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Announces a fine-tune session's outcomes on Kafka: a published version's {@code CheckpointEvent}
 * on {@code dualign.checkpoints}, a request that cannot run on {@code dualign.dlq}.
 */
final class CheckpointPublisher {
    private static final Logger LOG = LoggerFactory.getLogger(FineTuneService.class); // logs as FineTuneService did

    private final LoopKafka kafka;
    private final KafkaProducer<String, byte[]> producer;
    private final AtomicLong deadLetters;

    CheckpointPublisher(LoopKafka kafka, KafkaProducer<String, byte[]> producer, AtomicLong deadLetters) {
        this.kafka = kafka;
        this.producer = producer;
        this.deadLetters = deadLetters;
    }

    /** Sends a checkpoint event and waits for the broker's acknowledgement. */
    void send(CheckpointEvent c) {
        try {
            producer.send(new ProducerRecord<>(kafka.checkpoints(), c.key(), EventJson.writeBytes(c))).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new org.apache.kafka.common.errors.InterruptException(e);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new org.apache.kafka.common.KafkaException("could not announce version " + c.version() + ": "
                    + e.getCause().getMessage(), e.getCause());
        }
    }

    /** Sends a record that cannot be handled to {@code dualign.dlq} with the reason; a failure is only logged. */
    void deadLetter(String topic, int partition, long offset, byte[] raw, String why) {
        DeadLetter d = DeadLetter.of(topic, partition, offset, raw, why, System.currentTimeMillis());
        deadLetters.incrementAndGet();
        try {
            producer.send(new ProducerRecord<>(kafka.dlq(), d.key(), EventJson.writeBytes(d))).get();
        } catch (Exception e) {
            LOG.error("could not dead-letter {}: {}", why, e.toString());
        }
    }
}
