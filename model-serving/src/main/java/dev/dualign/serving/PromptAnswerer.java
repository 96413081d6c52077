package dev.dualign.serving;

import dev.dualign.core.event.Events;
import dev.dualign.core.event.PromptEvent;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.service.LoopKafka;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link ServingLoop}'s prompt session: polls {@code dualign.prompts} in batches and answers them with
 * the {@link PolicyServer} (retrying a failed batch, then prompt by prompt); {@link ResponseWriter} writes the answers.
 */
final class PromptAnswerer {
    private static final Logger LOG = LoggerFactory.getLogger(ServingLoop.class); // logs as ServingLoop did

    /** Attempts at a batch whose generation fails before each prompt is tried alone (and dead-lettered if it fails). */
    static final int BATCH_ATTEMPTS = 3;

    private final PolicyServer server;
    private final LoopKafka kafka;
    private final int maxBatch;
    private final String transactionalId;
    private final BooleanSupplier running;
    private final ServingHealth health;
    private final ResponseWriter writer;
    private final CountDownLatch ready;
    private final AtomicLong answered = new AtomicLong();
    private volatile boolean readyPrompts;

    PromptAnswerer(PolicyServer server, LoopKafka kafka, int maxBatch, String transactionalId, BooleanSupplier running,
            ServingHealth health, ResponseWriter writer, CountDownLatch ready) {
        this.server = server;
        this.kafka = kafka;
        this.maxBatch = maxBatch;
        this.transactionalId = transactionalId;
        this.running = running;
        this.health = health;
        this.writer = writer;
        this.ready = ready;
    }

    long answered() {
        return answered.get();
    }

    /** One session: a consumer and a transactional producer, until closed or failed. */
    void session() {
        Map<String, Object> extra = Map.of(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, String.valueOf(maxBatch));
        try (KafkaConsumer<String, byte[]> consumer = kafka.consumer("server", extra);
                KafkaProducer<String, byte[]> producer = kafka.producer(transactionalId)) {
            producer.initTransactions(); // aborts what a crashed instance with this id left open
            // ready once it has joined the group, with or without partitions: a replica beyond the
            // partition count gets none, stands by in the group, and still serves HTTP and follows decisions
            consumer.subscribe(List.of(kafka.prompts()), new org.apache.kafka.clients.consumer.ConsumerRebalanceListener() {
                @Override
                public void onPartitionsAssigned(java.util.Collection<TopicPartition> parts) {
                    if (!readyPrompts) {
                        readyPrompts = true;
                        ready.countDown();
                    }
                }

                @Override
                public void onPartitionsRevoked(java.util.Collection<TopicPartition> parts) {}
            });
            Map<TopicPartition, Long> failedAt = Map.of(); // where the batch that last failed to generate started
            int failures = 0;
            while (running.getAsBoolean()) {
                ConsumerRecords<String, byte[]> recs = consumer.poll(Duration.ofMillis(100));
                if (!consumer.assignment().isEmpty()) {
                    if (!readyPrompts) {
                        readyPrompts = true;
                        ready.countDown();
                    }
                    health.promptProblem(null); // polling with partitions: working again
                }
                if (recs.isEmpty()) {
                    continue;
                }
                List<PolicyServer.Prompt> batch = new ArrayList<>();
                List<ConsumerRecord<String, byte[]>> sources = new ArrayList<>();
                List<ProducerRecord<String, byte[]>> out = new ArrayList<>();
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                Map<TopicPartition, Long> firstOffsets = new HashMap<>();
                for (ConsumerRecord<String, byte[]> r : recs) {
                    firstOffsets.putIfAbsent(new TopicPartition(r.topic(), r.partition()), r.offset());
                    offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                    String why;
                    try {
                        PromptEvent p = Events.parse(PromptEvent.class, r.value());
                        why = server.problem(p.prompt());
                        if (why == null) {
                            batch.add(new PolicyServer.Prompt(p.id(), p.prompt()));
                            sources.add(r);
                            continue;
                        }
                    } catch (RuntimeException e) {
                        why = e.getMessage();
                    }
                    out.add(writer.deadLetter(r, "unanswerable prompt: " + why));
                }
                List<ResponseEvent> responses;
                try {
                    responses = answer(batch);
                    failures = 0;
                } catch (RuntimeException e) {
                    failures = firstOffsets.equals(failedAt) ? failures + 1 : 1;
                    failedAt = firstOffsets;
                    if (failures < BATCH_ATTEMPTS) {
                        // nothing was written: answer these prompts again after a pause
                        LOG.error("answering {} prompts failed (attempt {} of {}); retrying in 1 s", batch.size(), failures,
                                BATCH_ATTEMPTS, e);
                        for (TopicPartition tp : offsets.keySet()) {
                            consumer.seek(tp, firstOffsets.get(tp));
                        }
                        sleep(1000);
                        continue;
                    }
                    // the same batch failed every time: each prompt alone, and the one that fails alone is dead-lettered
                    LOG.error("answering {} prompts failed {} times; answering them one by one", batch.size(), failures, e);
                    responses = new ArrayList<>();
                    for (int k = 0; k < batch.size(); k++) {
                        try {
                            responses.addAll(answer(List.of(batch.get(k))));
                        } catch (RuntimeException alone) {
                            out.add(writer.deadLetter(sources.get(k), "generation failed: " + alone));
                        }
                    }
                    failures = 0;
                }
                for (ResponseEvent r : responses) {
                    out.add(writer.response(r));
                }
                if (writer.commit(producer, consumer, out, offsets)) {
                    answered.addAndGet(batch.size());
                }
            }
        }
    }

    /** The answers to a batch; the prompts drawn for the one-shot solve are queued for their reference samples. */
    private List<ResponseEvent> answer(List<PolicyServer.Prompt> batch) {
        List<ResponseEvent> responses = new ArrayList<>();
        if (!batch.isEmpty()) {
            List<PolicyServer.Ask> asks = batch.stream().map(p -> new PolicyServer.Ask(p, p.id(), server.settings().temperature(), 1.0,
                    server.settings().maxTokens())).toList();
            server.answerAll(asks, null).forEach(a -> responses.addAll(a.events())); // under enforcement, with their candidates
        }
        // their reference samples are made in the background, within their share, and sent on their own
        batch.stream().filter(p -> server.sampledForReference(p.id())).forEach(server::offerForReference);
        return responses;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new org.apache.kafka.common.errors.InterruptException(e);
        }
    }
}
