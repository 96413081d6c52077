package dev.dualign.finetune;

import dev.dualign.service.Backoff;

import dev.dualign.service.ServiceMetrics;

import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.core.event.DeadLetter;
import dev.dualign.core.event.EventJson;
import dev.dualign.core.event.Events;
import dev.dualign.core.event.FineTuneRequest;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.service.LoopKafka;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fine-tuner as a service: reads {@code FineTuneRequest}s from {@code dualign.control} and
 * keeps the most recent scored traffic from {@code dualign.scored} as training data; runs one
 * request at a time; publishes the new version and then its {@code CheckpointEvent}. When several
 * requests wait, only the newest runs and the rest are skipped as superseded, as is a request whose
 * base version is older than a version this service already published. A request that cannot run
 * (bad λ, diverged training) goes to {@code dualign.dlq} with the reason; nothing is published and
 * serving is unaffected. Request offsets are committed once handled, so a restart resumes after them;
 * a request published but not committed before a crash is announced again, not trained twice. A
 * request waiting for traffic is tried again only when more traffic has come.
 *
 * <p>Several fine-tuners may run against one cluster; one is active, the others stand by. The
 * active one holds a {@link KafkaLease} on {@code dualign.control}; a standby takes over when it
 * closes (at once) or dies (after the lease's session timeout) and resumes from the committed
 * request offsets, announcing instead of training a request already published.
 */
public final class FineTuneService implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FineTuneService.class);

    private record Pending(FineTuneRequest request, TopicPartition partition, long offset, byte[] raw) {}

    private final FineTuner tuner;
    private final LoopKafka kafka;
    private final Thread thread;
    private final ArrayDeque<ScoredSample> buffer = new ArrayDeque<>();
    /**
     * A failure drill for the cluster check, never for production: with this system property set to
     * {@code true} the process halts (no shutdown hooks, like kill -9) right after a run's version is in
     * the registry, before its checkpoint event is sent and its request committed.
     */
    public static final String FAULT_HALT_AFTER_PUBLISH = "dualign.fault.finetuner-halt-after-publish";

    private final AtomicLong published = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong skipped = new AtomicLong();
    private final AtomicLong attempts = new AtomicLong();
    private final AtomicLong sessionFailures = new AtomicLong();
    private final AtomicLong deadLetters = new AtomicLong();
    private volatile dev.dualign.service.ServiceMetrics metrics;
    private volatile KafkaLease lease;
    private volatile boolean running = true;
    private volatile String status = "idle";
    private long newestPublished = -1;

    public FineTuneService(FineTuner tuner, LoopKafka kafka) {
        this.tuner = tuner;
        this.kafka = kafka;
        this.thread = new Thread(this::run, "dualign-finetuner");
        this.thread.setDaemon(true);
    }

    public FineTuneService start() {
        lease = new KafkaLease(kafka, "finetuner-lease", kafka.control()).start();
        thread.start();
        return this;
    }

    /** Whether this fine-tuner is the active one (it holds the lease); a standby waits for it. */
    public boolean active() {
        KafkaLease l = lease;
        return l != null && l.held();
    }

    /** What it is doing now, for status lines. */
    public String status() {
        KafkaLease l = lease;
        String trouble = l == null || l.held() ? null : l.problem();
        return trouble != null ? "reconnecting after: " + trouble : status;
    }

    public long published() {
        return published.get();
    }

    public long failed() {
        return failed.get();
    }

    public long skipped() {
        return skipped.get();
    }

    /** Its runs, failures, state and run durations on {@code metrics} ({@code /metrics}). */
    public FineTuneService registerMetrics(dev.dualign.service.ServiceMetrics m) {
        String runs = "dualign_finetune_runs_total";
        String help = "Fine-tune requests by outcome";
        m.counter(runs, help, Map.of("outcome", "published"), published::get);
        m.counter(runs, help, Map.of("outcome", "failed"), failed::get);
        m.counter(runs, help, Map.of("outcome", "skipped"), skipped::get);
        m.counter("dualign_finetune_attempts_total", "Training runs started (retries on new traffic included)", Map.of(),
                attempts::get);
        Map<String, String> me = Map.of("component", "finetuner");
        m.counter("dualign_session_failures_total", "Kafka sessions that failed and were started again, by component", me,
                this::sessionFailures);
        m.counter("dualign_dead_letters_total", "Records sent to dualign.dlq, by component", me, deadLetters::get);
        m.gauge("dualign_finetune_state", "1 for the fine-tuner's current state", Map.of("state", "training"),
                () -> status().startsWith("training") ? 1 : 0);
        m.gauge("dualign_finetune_state", "1 for the fine-tuner's current state", Map.of("state", "waiting_for_traffic"),
                () -> status().startsWith("waiting for traffic") ? 1 : 0);
        m.gauge("dualign_finetune_state", "1 for the fine-tuner's current state", Map.of("state", "reconnecting"),
                () -> status().startsWith("reconnecting") ? 1 : 0);
        m.gauge("dualign_finetune_state", "1 for the fine-tuner's current state", Map.of("state", "standby"),
                () -> status().startsWith("standby") ? 1 : 0);
        m.gauge("dualign_healthy", "1 when the component works, 0 while /healthz reports a problem", me,
                () -> status().startsWith("reconnecting") ? 0 : 1);
        metrics = m;
        return this;
    }

    /** Why the fine-tuner is not working (its Kafka session is being started again), or null. */
    public String problem() {
        String s = status();
        return s.startsWith("reconnecting") ? "the fine-tuner is " + s : null;
    }

    /** Training runs started (a request waiting for traffic is tried again only when more traffic came). */
    public long attempts() {
        return attempts.get();
    }

    /** Sessions that failed and were started again. */
    public long sessionFailures() {
        KafkaLease l = lease;
        return sessionFailures.get() + (l == null ? 0 : l.failures());
    }

    /**
     * Sessions until closed: a session that fails (the broker gone, a commit refused, a topic
     * missing) is logged, shown in {@link #status()} and counted, and a new one starts after a
     * backoff (1 s doubling to 30 s). It resumes from the committed request offsets; a request
     * whose version was published before the failure is announced again, not trained again.
     */
    private void run() {
        dev.dualign.service.Backoff backoff = new dev.dualign.service.Backoff();
        while (running) {
            if (!lease.held()) {
                if (!status.startsWith("standby")) {
                    status = "standby: another fine-tuner is active";
                }
                if (!dev.dualign.service.Backoff.sleep(200)) {
                    return;
                }
                continue;
            }
            long started = System.currentTimeMillis();
            long waitMs = 0;
            lease.work().lock(); // a revocation of the lease waits until this session has stopped
            try {
                if (lease.held()) {
                    status = "active";
                    session();
                }
            } catch (org.apache.kafka.common.errors.InterruptException e) {
                return; // closing
            } catch (RuntimeException e) {
                if (!running) {
                    return;
                }
                sessionFailures.incrementAndGet();
                waitMs = backoff.after(System.currentTimeMillis() - started);
                LOG.error("fine-tuner session failed; reconnecting in {} s", waitMs / 1000, e);
                status = "reconnecting after: " + e.getMessage();
            } finally {
                lease.work().unlock();
            }
            if (waitMs > 0 && !dev.dualign.service.Backoff.sleep(waitMs)) {
                return;
            }
        }
    }

    private void session() {
        try (KafkaConsumer<String, byte[]> consumer = kafka.consumer("finetuner");
                KafkaProducer<String, byte[]> producer = kafka.producer(null)) {
            List<TopicPartition> control = partitions(consumer, kafka.control());
            List<TopicPartition> scored = partitions(consumer, kafka.scored());
            List<TopicPartition> all = new ArrayList<>(control);
            all.addAll(scored);
            consumer.assign(all);
            Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(new java.util.HashSet<>(control));
            for (TopicPartition tp : control) {
                OffsetAndMetadata c = committed.get(tp);
                if (c != null) {
                    consumer.seek(tp, c.offset());
                } else {
                    consumer.seekToBeginning(List.of(tp));
                }
            }
            // training data: the most recent scored samples, up to the buffer size
            buffer.clear();
            Map<TopicPartition, Long> ends = consumer.endOffsets(scored);
            Map<TopicPartition, Long> begins = consumer.beginningOffsets(scored);
            for (TopicPartition tp : scored) {
                consumer.seek(tp, Math.max(begins.get(tp), ends.get(tp) - tuner.settings().bufferSize() / scored.size()));
            }
            List<Pending> pending = new ArrayList<>();
            long lastWaitLog = 0;
            long received = 0;
            long receivedAtLastWait = -1; // the data a request last waited on: no new attempt until more came
            long lastAttempt = 0;
            while (running && lease.held()) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    if (r.topic().equals(kafka.scored())) {
                        try {
                            buffer.addLast(Events.parse(ScoredSample.class, r.value()));
                            received++;
                            if (buffer.size() > tuner.settings().bufferSize()) {
                                buffer.removeFirst();
                            }
                        } catch (RuntimeException e) {
                            LOG.debug("ignoring an unreadable scored record at {}:{}", r.partition(), r.offset());
                        }
                    } else {
                        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                        try {
                            pending.add(new Pending(Events.parse(FineTuneRequest.class, r.value()), tp, r.offset(), r.value()));
                            receivedAtLastWait = -1; // a new request is tried at once
                        } catch (RuntimeException e) {
                            deadLetter(producer, r.topic(), r.partition(), r.offset(), r.value(), "invalid fine-tune request: "
                                    + e.getMessage());
                            commit(consumer, tp, r.offset());
                        }
                    }
                }
                if (pending.isEmpty() || receivedAtLastWait >= 0 && !worthAnotherTry(received - receivedAtLastWait, lastAttempt)) {
                    continue; // nothing to do, or still waiting for more traffic than the last attempt had
                }
                // the newest by the job's clock: requests are keyed over several partitions, so poll order is not request order
                pending.sort(java.util.Comparator.comparingLong((Pending x) -> x.request.timestamp()));
                Pending p = pending.get(pending.size() - 1);
                for (Pending old : pending.subList(0, pending.size() - 1)) {
                    skipped.incrementAndGet();
                    LOG.info("fine-tune request {} skipped: superseded by {}", old.request.requestId(), p.request.requestId());
                    commit(consumer, old.partition, old.offset);
                }
                pending = new ArrayList<>(List.of(p));
                if (p.request.baseVersion() < newestPublished) {
                    skipped.incrementAndGet();
                    LOG.info("fine-tune request {} skipped: its base version {} is superseded by version {}",
                            p.request.requestId(), p.request.baseVersion(), newestPublished);
                    commit(consumer, p.partition, p.offset);
                    pending.clear();
                    continue;
                }
                java.util.Optional<CheckpointEvent> done = tuner.published(p.request);
                if (done.isPresent()) {
                    // published before a crash, never committed: announce it again instead of training a second version
                    CheckpointEvent c = done.get();
                    LOG.info("fine-tune request {} was already published as version {}: announcing it again",
                            p.request.requestId(), c.version());
                    send(producer, c);
                    newestPublished = Math.max(newestPublished, c.version());
                    status = "re-announced version " + c.version();
                    commit(consumer, p.partition, p.offset);
                    pending.clear();
                    continue;
                }
                try {
                    status = "training for λ=" + p.request.lambda();
                    attempts.incrementAndGet();
                    lastAttempt = System.currentTimeMillis();
                    int[] lastLogged = {0};
                    CheckpointEvent c = tuner.train(p.request, List.copyOf(buffer), step -> {
                        if (!running || !lease.held()) {
                            throw new java.util.concurrent.CancellationException("the fine-tuner is shutting down or "
                                    + "standing by");
                        }
                        status = "training for λ=" + p.request.lambda() + ", step " + step;
                        if (step - lastLogged[0] >= 25) {
                            lastLogged[0] = step;
                            LOG.info("fine-tune {}: step {}", p.request.requestId(), step);
                        }
                    });
                    if (Boolean.getBoolean(FAULT_HALT_AFTER_PUBLISH)) {
                        // a failure drill: the process dies like kill -9, the version in the registry, nothing announced or committed
                        LOG.error("{} is set: halting after publishing version {} for {}", FAULT_HALT_AFTER_PUBLISH,
                                c.version(), p.request.requestId());
                        Runtime.getRuntime().halt(137);
                    }
                    send(producer, c);
                    newestPublished = Math.max(newestPublished, c.version());
                    published.incrementAndGet();
                    if (metrics != null) {
                        metrics.observe("dualign_finetune_duration_seconds", "Duration of published fine-tune runs",
                                dev.dualign.service.ServiceMetrics.DURATION_BUCKETS, (System.currentTimeMillis() - lastAttempt) / 1000.0);
                    }
                    status = "published version " + c.version();
                    commit(consumer, p.partition, p.offset);
                    pending.clear();
                } catch (FineTuner.NotEnoughData e) {
                    receivedAtLastWait = received;
                    if (System.currentTimeMillis() - lastWaitLog > 10_000) {
                        LOG.info("fine-tune request {} waits for traffic: {}", p.request.requestId(), e.getMessage());
                        lastWaitLog = System.currentTimeMillis();
                    }
                    status = "waiting for traffic (" + e.getMessage() + ")";
                } catch (java.util.concurrent.CancellationException e) {
                    LOG.info("fine-tune {} abandoned (shutting down or standing by); the request stays uncommitted",
                            p.request.requestId());
                    return;
                } catch (org.apache.kafka.common.KafkaException e) {
                    throw e; // the session's trouble, not the request's: a new session retries it
                } catch (RuntimeException e) {
                    if (!running) {
                        LOG.info("fine-tune {} abandoned at shutdown; the request stays uncommitted", p.request.requestId());
                        return;
                    }
                    failed.incrementAndGet();
                    String why = "fine-tune " + p.request.requestId() + " failed, nothing published: " + e.getMessage();
                    LOG.error(why, e);
                    status = "last run failed: " + e.getMessage();
                    deadLetter(producer, p.partition.topic(), p.partition.partition(), p.offset, p.raw, why);
                    commit(consumer, p.partition, p.offset);
                    pending.clear();
                }
            }
        }
    }

    /**
     * After a request found too little traffic: try again once a quarter of the pairs it needs has
     * arrived, or once anything new arrived and 10 s passed. Not on every poll: each try answers the
     * recent prompts with the reference policy first.
     */
    private boolean worthAnotherTry(long newSamples, long lastAttempt) {
        return newSamples >= Math.max(1, tuner.settings().minPairs() / 4)
                || newSamples > 0 && System.currentTimeMillis() - lastAttempt >= 10_000;
    }

    /** Sends a checkpoint event and waits for the broker's acknowledgement. */
    private void send(KafkaProducer<String, byte[]> producer, CheckpointEvent c) {
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

    private static List<TopicPartition> partitions(KafkaConsumer<String, byte[]> c, String topic) {
        List<PartitionInfo> info = c.partitionsFor(topic, Duration.ofSeconds(30));
        if (info == null || info.isEmpty()) {
            throw new IllegalStateException("topic " + topic + " does not exist");
        }
        return info.stream().map(i -> new TopicPartition(topic, i.partition())).toList();
    }

    private static void commit(KafkaConsumer<String, byte[]> c, TopicPartition tp, long offset) {
        Map<TopicPartition, OffsetAndMetadata> m = new HashMap<>();
        m.put(tp, new OffsetAndMetadata(offset + 1));
        c.commitSync(m);
    }

    private void deadLetter(KafkaProducer<String, byte[]> producer, String topic, int partition, long offset, byte[] raw,
            String why) {
        DeadLetter d = DeadLetter.of(topic, partition, offset, raw, why, System.currentTimeMillis());
        deadLetters.incrementAndGet();
        try {
            producer.send(new ProducerRecord<>(kafka.dlq(), d.key(), EventJson.writeBytes(d))).get();
        } catch (Exception e) {
            LOG.error("could not dead-letter {}: {}", why, e.toString());
        }
    }

    @Override
    public void close() {
        running = false;
        try {
            thread.join(120_000); // a run in progress finishes its current step first
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (lease != null) {
            lease.close(); // leaves the group: a standby takes over at once
        }
    }
}
