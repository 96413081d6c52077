package dev.dualign.model.serving;

import dev.dualign.core.event.Alert;
import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.core.event.DeadLetter;
import dev.dualign.core.event.DeploymentDecision;
import dev.dualign.core.event.DualUpdate;
import dev.dualign.core.event.EventJson;
import dev.dualign.core.event.Events;
import dev.dualign.core.event.PromptEvent;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.event.VersionEstimate;
import dev.dualign.model.registry.ModelNames;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The policy server's Kafka mode. One thread answers {@code dualign.prompts} into
 * {@code dualign.responses} in transactions that also commit the consumed offsets (exactly once;
 * an unreadable prompt goes to {@code dualign.dlq} in the same transaction). Another follows the
 * loop's outputs: a {@code CheckpointEvent} hot-swaps the new version in (a refused one is
 * reported and changes nothing); the job's {@code DeploymentDecision}s promote or roll back the
 * canary (the server judges nothing itself); and the {@link LoopMonitor} is fed the job's
 * estimates, λ updates and alerts for the dashboard.
 */
public final class ServingLoop implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ServingLoop.class);

    private final PolicyServer server;
    private final LoopKafka kafka;
    private final LoopMonitor monitor;
    private final int maxBatch;
    private final Thread prompts;
    private final Thread events;
    private final AtomicLong answered = new AtomicLong();
    private final AtomicLong deadLetters = new AtomicLong();
    private volatile boolean running = true;
    private final java.util.concurrent.CountDownLatch ready = new java.util.concurrent.CountDownLatch(2);

    public ServingLoop(PolicyServer server, LoopKafka kafka, LoopMonitor monitor, int maxBatch) {
        this.server = server;
        this.kafka = kafka;
        this.monitor = monitor;
        this.maxBatch = maxBatch;
        this.prompts = new Thread(this::answerPrompts, "dualign-server-prompts");
        this.events = new Thread(this::followLoop, "dualign-server-events");
        prompts.setDaemon(true);
        events.setDaemon(true);
        server.addListener(e -> monitor.onVersionEvent(e, server.deployment()));
    }

    /** Starts both threads and waits until they have their partitions. */
    public ServingLoop start() throws InterruptedException {
        prompts.start();
        events.start();
        if (!ready.await(60, java.util.concurrent.TimeUnit.SECONDS)) {
            throw new IllegalStateException("the policy server's Kafka consumers did not start within 60 s");
        }
        return this;
    }

    public long answered() {
        return answered.get();
    }

    public long deadLetters() {
        return deadLetters.get();
    }

    /** A producer for the HTTP API's answers: they enter the loop like Kafka-mode ones. */
    public java.util.function.Consumer<List<ResponseEvent>> httpSink() {
        KafkaProducer<String, byte[]> p = kafka.producer(null);
        httpProducers.add(p);
        return rs -> {
            for (ResponseEvent r : rs) {
                p.send(new ProducerRecord<>(kafka.responses(), r.key(), EventJson.writeBytes(r)));
            }
        };
    }

    private final List<KafkaProducer<String, byte[]>> httpProducers = new java.util.concurrent.CopyOnWriteArrayList<>();

    private void answerPrompts() {
        Map<String, Object> extra = Map.of(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, String.valueOf(maxBatch));
        try (KafkaConsumer<String, byte[]> consumer = kafka.consumer("server", extra);
                KafkaProducer<String, byte[]> producer = kafka.producer(kafka.groupId() + "-server-" + UUID.randomUUID())) {
            producer.initTransactions();
            consumer.subscribe(List.of(kafka.prompts()));
            boolean announced = false;
            while (running) {
                ConsumerRecords<String, byte[]> recs = consumer.poll(Duration.ofMillis(100));
                if (!announced && !consumer.assignment().isEmpty()) {
                    ready.countDown();
                    announced = true;
                }
                if (recs.isEmpty()) {
                    continue;
                }
                List<PolicyServer.Prompt> batch = new ArrayList<>();
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
                            continue;
                        }
                    } catch (RuntimeException e) {
                        why = e.getMessage();
                    }
                    DeadLetter d = DeadLetter.of(r.topic(), r.partition(), r.offset(), r.value(), "unanswerable prompt: " + why,
                            System.currentTimeMillis());
                    out.add(new ProducerRecord<>(kafka.dlq(), d.key(), EventJson.writeBytes(d)));
                    deadLetters.incrementAndGet();
                }
                List<ResponseEvent> responses;
                try {
                    responses = new ArrayList<>(batch.isEmpty() ? List.of() : server.answer(batch));
                    List<PolicyServer.Prompt> forReference = batch.stream().filter(p -> server.sampledForReference(p.id())).toList();
                    if (!forReference.isEmpty()) {
                        responses.addAll(server.referenceSamples(forReference, server.settings().referenceSamples()));
                    }
                } catch (RuntimeException e) {
                    // nothing was written: go back and answer these prompts again after a pause
                    LOG.error("answering {} prompts failed; retrying them in 1 s", batch.size(), e);
                    for (TopicPartition tp : offsets.keySet()) {
                        consumer.seek(tp, firstOffsets.get(tp));
                    }
                    Thread.sleep(1000);
                    continue;
                }
                for (ResponseEvent r : responses) {
                    out.add(new ProducerRecord<>(kafka.responses(), r.key(), EventJson.writeBytes(r)));
                }
                try {
                    producer.beginTransaction();
                    for (ProducerRecord<String, byte[]> r : out) {
                        producer.send(r);
                    }
                    producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
                    producer.commitTransaction();
                    answered.addAndGet(batch.size());
                } catch (ProducerFencedException e) {
                    throw e;
                } catch (RuntimeException e) {
                    LOG.warn("transaction aborted, the prompts will be answered again: {}", e.toString());
                    producer.abortTransaction();
                    for (Map.Entry<TopicPartition, OffsetAndMetadata> o : offsets.entrySet()) {
                        consumer.seek(o.getKey(), committedOr(consumer, o.getKey()));
                    }
                }
            }
        } catch (org.apache.kafka.common.errors.InterruptException | org.apache.kafka.common.errors.WakeupException e) {
            // closing
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            if (running) {
                LOG.error("the policy server's prompt loop stopped", e);
            }
        }
    }

    private static long committedOr(KafkaConsumer<String, byte[]> c, TopicPartition tp) {
        OffsetAndMetadata m = c.committed(java.util.Set.of(tp)).get(tp);
        return m == null ? 0 : m.offset();
    }

    private void followLoop() {
        try (KafkaConsumer<String, byte[]> consumer = kafka.consumer("server-events")) {
            List<TopicPartition> tps = new ArrayList<>();
            for (String t : List.of(kafka.checkpoints(), kafka.decisions(), kafka.dual(), kafka.estimates(), kafka.alerts(),
                    kafka.scored())) {
                List<PartitionInfo> info = consumer.partitionsFor(t, Duration.ofSeconds(30));
                if (info == null || info.isEmpty()) {
                    throw new IllegalStateException("topic " + t + " does not exist");
                }
                info.forEach(i -> tps.add(new TopicPartition(t, i.partition())));
            }
            consumer.assign(tps);
            consumer.seekToEnd(tps); // a restarted server serves its initial version and follows from now
            tps.forEach(consumer::position);
            ready.countDown();
            while (running) {
                ConsumerRecords<String, byte[]> recs = consumer.poll(Duration.ofMillis(200));
                for (ConsumerRecord<String, byte[]> r : recs) {
                    try {
                        handle(r);
                    } catch (RuntimeException e) {
                        LOG.warn("ignoring an unreadable record on {} at {}:{}: {}", r.topic(), r.partition(), r.offset(),
                                e.getMessage());
                    }
                }
                server.tick(); // a version waiting behind the canary deploys when the hold ends
                monitor.onDeployment(server.deployment());
            }
        } catch (org.apache.kafka.common.errors.InterruptException | org.apache.kafka.common.errors.WakeupException e) {
            // closing
        } catch (RuntimeException e) {
            if (running) {
                LOG.error("the policy server's event loop stopped", e);
            }
        }
    }

    private void handle(ConsumerRecord<String, byte[]> r) {
        String t = r.topic();
        if (t.equals(kafka.scored())) {
            monitor.onScored(Events.parse(ScoredSample.class, r.value()));
        } else if (t.equals(kafka.estimates())) {
            monitor.onEstimate(Events.parse(VersionEstimate.class, r.value()));
        } else if (t.equals(kafka.decisions())) {
            DeploymentDecision d = Events.parse(DeploymentDecision.class, r.value());
            monitor.onDecision(d);
            server.carryOut(d);
        } else if (t.equals(kafka.checkpoints())) {
            CheckpointEvent c = Events.parse(CheckpointEvent.class, r.value());
            monitor.onCheckpoint(c);
            if (!c.path().equals(ModelNames.POLICY + "/" + c.version())) {
                LOG.error("checkpoint for version {} names path {}, not {}/{}: refused", c.version(), c.path(), ModelNames.POLICY,
                        c.version());
                return;
            }
            server.offer(c.version(), c.sha256());
        } else if (t.equals(kafka.dual())) {
            DualUpdate u = Events.parse(DualUpdate.class, r.value());
            monitor.onDual(u);
            server.referenceNoLongerNeeded(); // any λ update means λ(0) is set
        } else if (t.equals(kafka.alerts())) {
            monitor.onAlert(Events.parse(Alert.class, r.value()));
        }
    }

    @Override
    public void close() {
        running = false;
        try {
            prompts.join(30_000);
            events.join(30_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        httpProducers.forEach(KafkaProducer::close);
    }
}
