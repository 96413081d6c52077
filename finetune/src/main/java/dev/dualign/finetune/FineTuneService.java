package dev.dualign.finetune;

import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.finetune.FineTuneInbox.Pending;
import dev.dualign.service.LoopKafka;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fine-tuner as a service: reads {@code FineTuneRequest}s from {@code dualign.control} and
 * trains each on the dataset file it names ({@link DatasetInput}), as an outside trainer would; for a
 * request that names none it falls back on the recent scored traffic it keeps from
 * {@code dualign.scored}. It runs one
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
 *
 * <p>This class runs the sessions and decides what each request gets; {@link FineTuneInbox} reads
 * the requests and the training data, {@link FineTuneRun} trains, {@link CheckpointPublisher}
 * announces, and {@link FineTuneMetrics} counts.
 */
public final class FineTuneService implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FineTuneService.class);

    private final FineTuner tuner;
    private final LoopKafka kafka;
    private final Thread thread;
    /**
     * A failure drill for the cluster check, never for production: with this system property set to
     * {@code true} the process halts (no shutdown hooks, like kill -9) right after a run's version is in
     * the registry, before its checkpoint event is sent and its request committed.
     */
    public static final String FAULT_HALT_AFTER_PUBLISH = "dualign.fault.finetuner-halt-after-publish";
    /**
     * A failure drill for the loop check, never for production: milliseconds a run holds a request it
     * took before training on it (logged), so the check can kill -9 the fine-tuner at that point.
     */
    public static final String FAULT_HOLD_BEFORE_TRAINING_MS = "dualign.fault.finetuner-hold-before-training-ms";

    private final FineTuneMetrics counters = new FineTuneMetrics();
    private final FineTuneRun run;
    private volatile KafkaLease lease;
    private volatile boolean running = true;
    private volatile String status = "idle";
    private long newestPublished = -1;
    /** How a published version is announced: as is, or as an outside adapter ({@link #answeringAsAdapters}). */
    private java.util.function.UnaryOperator<CheckpointEvent> answer = c -> c;

    public FineTuneService(FineTuner tuner, LoopKafka kafka) {
        this.tuner = tuner;
        this.kafka = kafka;
        this.run = new FineTuneRun(tuner, () -> running && lease.held(), s -> status = s);
        this.thread = new Thread(this::run, "dualign-finetuner");
        this.thread.setDaemon(true);
    }

    /**
     * Announces each version as an outside adapter named {@code prefix + version} at its registry
     * directory ({@code finetune.answer: adapter}), for a gateway whose upstream loads adapters.
     */
    public FineTuneService answeringAsAdapters(String prefix) {
        this.answer = c -> tuner.asAdapter(c, prefix);
        return this;
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
        return counters.published.get();
    }

    public long failed() {
        return counters.failed.get();
    }

    public long skipped() {
        return counters.skipped.get();
    }

    /** Its runs, failures, state and run durations on {@code metrics} ({@code /metrics}). */
    public FineTuneService registerMetrics(dev.dualign.service.ServiceMetrics m) {
        counters.register(m, this::status, this::sessionFailures);
        return this;
    }

    /** Why the fine-tuner is not working (its Kafka session is being started again), or null. */
    public String problem() {
        String s = status();
        return s.startsWith("reconnecting") ? "the fine-tuner is " + s : null;
    }

    /** Training runs started (a request waiting for traffic is tried again only when more traffic came). */
    public long attempts() {
        return counters.attempts.get();
    }

    /** Sessions that failed and were started again. */
    public long sessionFailures() {
        KafkaLease l = lease;
        return counters.sessionFailures.get() + (l == null ? 0 : l.failures());
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
                counters.sessionFailures.incrementAndGet();
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
            FineTuneInbox inbox = new FineTuneInbox(kafka, consumer, tuner.settings().bufferSize());
            CheckpointPublisher publisher = new CheckpointPublisher(kafka, producer, counters.deadLetters);
            List<Pending> pending = new ArrayList<>();
            long lastWaitLog = 0;
            long receivedAtLastWait = -1; // the data a request last waited on: no new attempt until more came
            long lastAttempt = 0;
            while (running && lease.held()) {
                if (inbox.poll(pending, (r, why) -> {
                    publisher.deadLetter(r.topic(), r.partition(), r.offset(), r.value(), why);
                    inbox.commit(new TopicPartition(r.topic(), r.partition()), r.offset());
                })) {
                    receivedAtLastWait = -1; // a new request is tried at once
                }
                long received = inbox.received();
                if (pending.isEmpty() || receivedAtLastWait >= 0 && !worthAnotherTry(received - receivedAtLastWait, lastAttempt)) {
                    continue; // nothing to do, or still waiting for more traffic than the last attempt had
                }
                // the newest by the job's clock: requests are keyed over several partitions, so poll order is not request order
                pending.sort(java.util.Comparator.comparingLong((Pending x) -> x.request().timestamp()));
                Pending p = pending.get(pending.size() - 1);
                for (Pending old : pending.subList(0, pending.size() - 1)) {
                    counters.skipped.incrementAndGet();
                    LOG.info("fine-tune request {} skipped: superseded by {}", old.request().requestId(), p.request().requestId());
                    inbox.commit(old.partition(), old.offset());
                }
                pending = new ArrayList<>(List.of(p));
                if (p.request().baseVersion() < newestPublished) {
                    counters.skipped.incrementAndGet();
                    LOG.info("fine-tune request {} skipped: its base version {} is superseded by version {}",
                            p.request().requestId(), p.request().baseVersion(), newestPublished);
                    inbox.commit(p.partition(), p.offset());
                    pending.clear();
                    continue;
                }
                java.util.Optional<CheckpointEvent> done = tuner.published(p.request());
                if (done.isPresent()) {
                    // published before a crash, never committed: announce it again instead of training a second version
                    CheckpointEvent c = done.get();
                    LOG.info("fine-tune request {} was already published as version {}: announcing it again",
                            p.request().requestId(), c.version());
                    publisher.send(answer.apply(c));
                    newestPublished = Math.max(newestPublished, c.version());
                    status = "re-announced version " + c.version();
                    inbox.commit(p.partition(), p.offset());
                    pending.clear();
                    continue;
                }
                try {
                    status = "training for λ=" + p.request().lambda();
                    counters.attempts.incrementAndGet();
                    lastAttempt = System.currentTimeMillis();
                    CheckpointEvent c = run.train(p.request(), trainingData(p.request(), inbox));
                    publisher.send(answer.apply(c));
                    newestPublished = Math.max(newestPublished, c.version());
                    counters.published.incrementAndGet();
                    counters.observeDuration(lastAttempt);
                    status = "published version " + c.version();
                    inbox.commit(p.partition(), p.offset());
                    pending.clear();
                } catch (FineTuner.NotEnoughData e) {
                    if (p.request().dataset() != null) {
                        // more traffic does not change the file: the request fails, and the controller's timeout sends a new one
                        fail(p, new IllegalStateException("its dataset is too small: " + e.getMessage(), e), inbox, publisher);
                        pending.clear();
                        continue;
                    }
                    receivedAtLastWait = received;
                    if (System.currentTimeMillis() - lastWaitLog > 10_000) {
                        LOG.info("fine-tune request {} waits for traffic: {}", p.request().requestId(), e.getMessage());
                        lastWaitLog = System.currentTimeMillis();
                    }
                    status = "waiting for traffic (" + e.getMessage() + ")";
                } catch (java.util.concurrent.CancellationException e) {
                    LOG.info("fine-tune {} abandoned (shutting down or standing by); the request stays uncommitted",
                            p.request().requestId());
                    return;
                } catch (org.apache.kafka.common.KafkaException e) {
                    throw e; // the session's trouble, not the request's: a new session retries it
                } catch (RuntimeException e) {
                    if (!running) {
                        LOG.info("fine-tune {} abandoned at shutdown; the request stays uncommitted", p.request().requestId());
                        return;
                    }
                    fail(p, e, inbox, publisher);
                    pending.clear();
                }
            }
        }
    }

    /** A request that cannot be trained: dead-lettered with the reason and committed; nothing is published. */
    private void fail(Pending p, RuntimeException e, FineTuneInbox inbox, CheckpointPublisher publisher) {
        counters.failed.incrementAndGet();
        String why = "fine-tune " + p.request().requestId() + " failed, nothing published: " + e.getMessage();
        LOG.error(why, e);
        status = "last run failed: " + e.getMessage();
        publisher.deadLetter(p.partition().topic(), p.partition().partition(), p.offset(), p.raw(), why);
        inbox.commit(p.partition(), p.offset());
    }

    /**
     * What a request trains on: the dataset it names (read from its URI, checked against its
     * digest), else, for a request without one (written before the job wrote datasets, or whose
     * file the job could not write), the recent traffic this service read from the scored topic.
     */
    private static List<dev.dualign.core.event.ScoredSample> trainingData(dev.dualign.core.event.FineTuneRequest req,
            FineTuneInbox inbox) {
        if (req.dataset() != null) {
            List<dev.dualign.core.event.ScoredSample> data = DatasetInput.read(req);
            LOG.info("fine-tune {}: {} responses to {} prompts from {}", req.requestId(), data.size(), req.dataset().records(),
                    req.dataset().uri());
            return data;
        }
        LOG.info("fine-tune {}: the request names no dataset; training on the traffic read from the scored topic", req.requestId());
        return inbox.trainingData();
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
