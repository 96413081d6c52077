package dev.dualign.serving;

import dev.dualign.service.Backoff;

import dev.dualign.service.ServiceMetrics;

import dev.dualign.service.LoopKafka;

import dev.dualign.core.control.DeploymentHistory;
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
 * estimates, λ updates, alerts and the loop's dead letters for the dashboard.
 */
public final class ServingLoop implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ServingLoop.class);

    private final PolicyServer server;
    private final LoopKafka kafka;
    private final LoopMonitor monitor;
    private final int maxBatch;
    private final Thread prompts;
    private final Thread events;
    private final String transactionalId;
    private final AtomicLong answered = new AtomicLong();
    private final AtomicLong deadLetters = new AtomicLong();
    private final AtomicLong sessionFailures = new AtomicLong();
    private volatile boolean running = true;
    /** Why this server is not doing its job right now (null: it is); {@code /healthz} reports it. */
    private volatile String promptProblem;
    private volatile String eventProblem;
    private final java.util.concurrent.CountDownLatch ready = new java.util.concurrent.CountDownLatch(2);
    private volatile boolean readyEvents;
    private volatile boolean readyPrompts;
    /** Where the event session has read to, per partition: a new session after a failure starts there. */
    private final Map<TopicPartition, Long> eventPositions = new java.util.concurrent.ConcurrentHashMap<>();

    /** Attempts at a batch whose generation fails before each prompt is tried alone (and dead-lettered if it fails). */
    static final int BATCH_ATTEMPTS = 3;

    /** With this host's name as the instance id. */
    public ServingLoop(PolicyServer server, LoopKafka kafka, LoopMonitor monitor, int maxBatch) {
        this(server, kafka, monitor, maxBatch, "");
    }

    /**
     * @param instanceId this server's stable name ({@code server.instance-id}; blank: the host name):
     *     its transactional id, so that a restarted instance fences the one that crashed and aborts
     *     its open transaction at once, instead of leaving {@code read_committed} readers of the
     *     responses blocked until the transaction times out. Two live instances must not share it.
     */
    public ServingLoop(PolicyServer server, LoopKafka kafka, LoopMonitor monitor, int maxBatch, String instanceId) {
        this.server = server;
        this.kafka = kafka;
        this.monitor = monitor;
        this.maxBatch = maxBatch;
        this.transactionalId = kafka.groupId() + "-server-" + (instanceId == null || instanceId.isBlank() ? hostName() : instanceId);
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

    /** HTTP answers the broker did not take (after the producer's own retries). */
    public long lostHttpAnswers() {
        return httpSinks.stream().mapToLong(ResponseSink::lost).sum();
    }

    /** Kafka sessions of either thread that failed and were started again. */
    public long sessionFailures() {
        return sessionFailures.get();
    }

    /** Its counters and health on {@code metrics} ({@code /metrics}). */
    public ServingLoop registerMetrics(ServiceMetrics metrics) {
        Map<String, String> server = Map.of("component", "server");
        metrics.counter("dualign_kafka_prompts_answered_total", "Prompts from dualign.prompts answered", Map.of(),
                answered::get);
        metrics.counter("dualign_dead_letters_total", "Records sent to dualign.dlq, by component", server, deadLetters::get);
        metrics.counter("dualign_http_answers_lost_total", "HTTP answers the broker did not take", Map.of(),
                this::lostHttpAnswers);
        metrics.counter("dualign_session_failures_total", "Kafka sessions that failed and were started again, by component",
                server, sessionFailures::get);
        metrics.gauge("dualign_healthy", "1 when the component works, 0 while /healthz reports a problem", server,
                () -> problem() == null ? 1 : 0);
        return this;
    }

    /** The transactional id the prompt loop writes with. */
    public String transactionalId() {
        return transactionalId;
    }

    /** Why the server is not fully working (for {@code /healthz}), or null when it is. */
    public String problem() {
        String p = promptProblem != null ? promptProblem : eventProblem;
        if (p != null) {
            return p;
        }
        return httpSinks.stream().map(ResponseSink::problem).filter(java.util.Objects::nonNull).findFirst().orElse(null);
    }

    static String hostName() {
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.io.IOException e) {
            return "localhost";
        }
    }

    /** A producer for the HTTP API's answers: they enter the loop like Kafka-mode ones. */
    public java.util.function.Consumer<List<ResponseEvent>> httpSink() {
        ResponseSink sink = new ResponseSink(kafka);
        httpSinks.add(sink);
        return sink;
    }

    private final List<ResponseSink> httpSinks = new java.util.concurrent.CopyOnWriteArrayList<>();


    /** Sessions of the prompt loop until closed; a failed one is reported and started again after a backoff. */
    private void answerPrompts() {
        sessions("prompt loop", this::promptSession, p -> promptProblem = p);
    }

    private void followLoop() {
        sessions("event loop", this::eventSession, p -> eventProblem = p);
    }

    /**
     * Runs {@code session} until closed. A session that fails (the broker gone, a commit or abort
     * refused) is logged, reported through {@code problem} ({@code /healthz} answers 503 meanwhile)
     * and started again after 1 s, doubling to 30 s. A fenced prompt loop (another live instance
     * took its transactional id) stops for good and says so: starting again would fence the other.
     */
    private void sessions(String name, Runnable session, java.util.function.Consumer<String> problem) {
        dev.dualign.service.Backoff backoff = new dev.dualign.service.Backoff();
        while (running) {
            long started = System.currentTimeMillis();
            try {
                session.run();
                return;
            } catch (org.apache.kafka.common.errors.InterruptException | org.apache.kafka.common.errors.WakeupException e) {
                return; // closing
            } catch (ProducerFencedException e) {
                problem.accept("the prompt loop stopped: another server instance uses transactional id " + transactionalId
                        + " (set a distinct server.instance-id on each)");
                LOG.error("the policy server's prompt loop was fenced by another instance with transactional id {}; it stops",
                        transactionalId);
                return;
            } catch (RuntimeException e) {
                if (!running) {
                    return;
                }
                sessionFailures.incrementAndGet();
                long waitMs = backoff.after(System.currentTimeMillis() - started);
                problem.accept("the " + name + " is reconnecting after: " + e);
                LOG.error("the policy server's {} failed; starting it again in {} s", name, waitMs / 1000, e);
                if (!dev.dualign.service.Backoff.sleep(waitMs)) {
                    return;
                }
            }
        }
    }

    private void promptSession() {
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
            while (running) {
                ConsumerRecords<String, byte[]> recs = consumer.poll(Duration.ofMillis(100));
                if (!consumer.assignment().isEmpty()) {
                    if (!readyPrompts) {
                        readyPrompts = true;
                        ready.countDown();
                    }
                    promptProblem = null; // polling with partitions: working again
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
                    out.add(deadLetter(r, "unanswerable prompt: " + why));
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
                            out.add(deadLetter(sources.get(k), "generation failed: " + alone));
                        }
                    }
                    failures = 0;
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
                } catch (ProducerFencedException | org.apache.kafka.common.errors.InvalidProducerEpochException e) {
                    throw new ProducerFencedException(e.getMessage());
                } catch (org.apache.kafka.common.KafkaException e) {
                    // the abort may fail as well: then the session ends and a new one resumes from the committed offsets
                    LOG.warn("transaction aborted, the prompts will be answered again: {}", e.toString());
                    producer.abortTransaction();
                    for (Map.Entry<TopicPartition, OffsetAndMetadata> o : offsets.entrySet()) {
                        consumer.seek(o.getKey(), committedOr(consumer, o.getKey()));
                    }
                }
            }
        }
    }

    /** The answers to a batch, and the reference's samples for the prompts drawn for the one-shot solve. */
    private List<ResponseEvent> answer(List<PolicyServer.Prompt> batch) {
        List<ResponseEvent> responses = new ArrayList<>();
        if (!batch.isEmpty()) {
            List<PolicyServer.Ask> asks = batch.stream().map(p -> new PolicyServer.Ask(p, p.id(), server.settings().temperature(), 1.0,
                    server.settings().maxTokens())).toList();
            server.answerAll(asks, null).forEach(a -> responses.addAll(a.events())); // under enforcement, with their candidates
        }
        List<PolicyServer.Prompt> forReference = batch.stream().filter(p -> server.sampledForReference(p.id())).toList();
        if (!forReference.isEmpty()) {
            responses.addAll(server.referenceSamples(forReference, server.settings().referenceSamples()));
        }
        return responses;
    }

    private ProducerRecord<String, byte[]> deadLetter(ConsumerRecord<String, byte[]> r, String why) {
        DeadLetter d = DeadLetter.of(r.topic(), r.partition(), r.offset(), r.value(), why, System.currentTimeMillis());
        deadLetters.incrementAndGet();
        return new ProducerRecord<>(kafka.dlq(), d.key(), EventJson.writeBytes(d));
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new org.apache.kafka.common.errors.InterruptException(e);
        }
    }

    private static long committedOr(KafkaConsumer<String, byte[]> c, TopicPartition tp) {
        OffsetAndMetadata m = c.committed(java.util.Set.of(tp)).get(tp);
        return m == null ? 0 : m.offset();
    }

    /** Whether the deployment history was read (once per server, not per session). */
    private boolean caughtUp;

    private void eventSession() {
        try (KafkaConsumer<String, byte[]> consumer = kafka.consumer("server-events")) {
            List<TopicPartition> tps = new ArrayList<>();
            for (String t : List.of(kafka.checkpoints(), kafka.decisions(), kafka.dual(), kafka.estimates(), kafka.alerts(),
                    kafka.scored(), kafka.dlq())) {
                List<PartitionInfo> info = consumer.partitionsFor(t, Duration.ofSeconds(30));
                if (info == null || info.isEmpty()) {
                    throw new IllegalStateException("topic " + t + " does not exist");
                }
                info.forEach(i -> tps.add(new TopicPartition(t, i.partition())));
            }
            if (!caughtUp) {
                catchUp(consumer, tps);
                caughtUp = true;
            }
            consumer.assign(tps);
            // a started server takes the deployment the history says (catchUp) and follows from there; a
            // session started again after a failure goes on where the last one stopped, so no decision
            // or version is missed
            for (TopicPartition tp : tps) {
                Long at = eventPositions.get(tp);
                if (at != null) {
                    consumer.seek(tp, at);
                } else {
                    consumer.seekToEnd(List.of(tp));
                }
            }
            tps.forEach(consumer::position);
            if (!readyEvents) {
                readyEvents = true;
                ready.countDown();
            }
            while (running) {
                ConsumerRecords<String, byte[]> recs = consumer.poll(Duration.ofMillis(200));
                eventProblem = null;
                for (ConsumerRecord<String, byte[]> r : recs) {
                    try {
                        handle(r);
                    } catch (RuntimeException e) {
                        LOG.warn("ignoring an unreadable record on {} at {}:{}: {}", r.topic(), r.partition(), r.offset(),
                                e.getMessage());
                    }
                    eventPositions.put(new TopicPartition(r.topic(), r.partition()), r.offset() + 1);
                }
                server.tick(); // a version waiting behind the canary deploys when the hold ends
                monitor.onDeployment(server.deployment());
            }
        }
    }

    /**
     * Before following the broadcast topics: reads {@code checkpoints} and {@code decisions} from
     * their beginning to their ends now and deploys what they add up to ({@link DeploymentHistory}),
     * so a replica started after others serves what they serve; records after those ends are then
     * handled live as usual.
     */
    private void catchUp(KafkaConsumer<String, byte[]> consumer, List<TopicPartition> tps) {
        List<TopicPartition> history = tps.stream()
                .filter(tp -> tp.topic().equals(kafka.checkpoints()) || tp.topic().equals(kafka.decisions())).toList();
        consumer.assign(history);
        consumer.seekToBeginning(history);
        Map<TopicPartition, Long> ends = consumer.endOffsets(history);
        DeploymentHistory h = new DeploymentHistory(server.deployment().stable());
        long deadline = System.currentTimeMillis() + 60_000;
        int read = 0;
        while (history.stream().anyMatch(tp -> consumer.position(tp) < ends.get(tp))) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("could not read the deployment history (" + kafka.checkpoints() + ", "
                        + kafka.decisions() + ") within 60 s");
            }
            for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                if (r.offset() >= ends.get(new TopicPartition(r.topic(), r.partition()))) {
                    continue; // after the snapshot: the live loop handles it
                }
                read++;
                try {
                    if (r.topic().equals(kafka.decisions())) {
                        DeploymentDecision d = Events.parse(DeploymentDecision.class, r.value());
                        h.decided(d.policyVersion(), d.action());
                    } else {
                        CheckpointEvent c = Events.parse(CheckpointEvent.class, r.value());
                        if (c.path().equals(ModelNames.POLICY + "/" + c.version())) {
                            h.announced(c.version(), c.sha256());
                        }
                    }
                } catch (RuntimeException e) {
                    LOG.warn("deployment history: ignoring an unreadable record on {} at {}:{}", r.topic(), r.partition(), r.offset());
                }
            }
        }
        history.forEach(tp -> eventPositions.put(tp, ends.get(tp)));
        PolicyServer.Deployment now = server.deployment();
        if (server.settings().canaryFraction() == 0) {
            // no canaries: every announcement was deployed as it came, and decisions change nothing
            h.newest().filter(e -> e.getKey() > now.stable()).ifPresent(e -> {
                LOG.info("deployment history: version {} is the newest announced; serving it", e.getKey());
                server.offer(e.getKey(), e.getValue());
            });
            return;
        }
        if (h.stable() != now.stable()) {
            LOG.info("deployment history ({} records): version {} was promoted; serving it", read, h.stable());
            server.deploy(h.stable(), h.digest(h.stable()), true);
        }
        h.canary().ifPresent(c -> {
            LOG.info("deployment history: version {} is the undecided canary; serving it as this server's canary", c.getKey());
            server.offer(c.getKey(), c.getValue());
        });
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
            server.onLambda(u.lambda()); // enforcement chooses with the newest λ
        } else if (t.equals(kafka.alerts())) {
            monitor.onAlert(Events.parse(Alert.class, r.value()));
        } else if (t.equals(kafka.dlq())) {
            monitor.onDeadLetter(Events.parse(DeadLetter.class, r.value()), System.currentTimeMillis());
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
        httpSinks.forEach(ResponseSink::close);
    }
}
