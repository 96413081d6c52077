package dev.dualign.serving;

import dev.dualign.service.ServiceMetrics;

import dev.dualign.service.LoopKafka;

import dev.dualign.core.event.ResponseEvent;
import java.util.List;
import java.util.Map;

/**
 * The policy server's Kafka mode. One thread answers {@code dualign.prompts} into
 * {@code dualign.responses} in transactions that also commit the consumed offsets (exactly once;
 * an unreadable prompt goes to {@code dualign.dlq} in the same transaction). Another follows the
 * loop's outputs: a {@code CheckpointEvent} hot-swaps the new version in (a refused one is
 * reported and changes nothing); the job's {@code DeploymentDecision}s promote or roll back the
 * canary (the server judges nothing itself); and the {@link LoopMonitor} is fed the job's
 * estimates, λ updates, alerts and the loop's dead letters for the dashboard.
 *
 * <p>This class starts, stops and reports on the two threads; the work is done by
 * {@link PromptAnswerer} and {@link ResponseWriter} (prompts), {@link EventFollower},
 * {@link DeploymentCatchUp} and {@link LoopEventHandler} (events), and {@link ServingHealth}
 * (problems and session restarts).
 */
public final class ServingLoop implements AutoCloseable {
    private final Thread prompts;
    private final Thread events;
    private final String transactionalId;
    private final LoopKafka kafka;
    private final ServingHealth health;
    private final ResponseWriter writer;
    private final PromptAnswerer answerer;
    private volatile boolean running = true;
    private final java.util.concurrent.CountDownLatch ready = new java.util.concurrent.CountDownLatch(2);
    private final List<ResponseSink> httpSinks = new java.util.concurrent.CopyOnWriteArrayList<>();

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
        this.kafka = kafka;
        this.transactionalId = kafka.groupId() + "-server-" + (instanceId == null || instanceId.isBlank() ? hostName() : instanceId);
        this.health = new ServingHealth(transactionalId, () -> running);
        server.pinAs(transactionalId.replaceAll("[^A-Za-z0-9._-]", "_")); // what it serves survives the registry's pruning
        this.writer = new ResponseWriter(kafka);
        this.answerer = new PromptAnswerer(server, kafka, maxBatch, transactionalId, () -> running, health, writer, ready);
        EventFollower follower = new EventFollower(server, kafka, monitor, () -> running, health, ready);
        this.prompts = new Thread(() -> health.sessions("prompt loop", answerer::session, health::promptProblem),
                "dualign-server-prompts");
        this.events = new Thread(() -> health.sessions("event loop", follower::session, health::eventProblem),
                "dualign-server-events");
        prompts.setDaemon(true);
        events.setDaemon(true);
        server.addListener(e -> monitor.onVersionEvent(e, server.deployment()));
        this.server = server;
        server.hold(LOADING);
        // reference samples have their own sink: when it falls behind they are dropped, not users' answers
        ResponseSink referenceSink = new ResponseSink(kafka);
        httpSinks.add(referenceSink);
        server.sendReferenceSamplesTo(referenceSink, () -> referenceSink.problem() != null || referenceSink.unwritten() > 0);
    }

    static final String LOADING = "loading the deployment and λ from Kafka";
    private final PolicyServer server;

    /** Starts both threads and waits until they have their partitions. */
    public ServingLoop start() throws InterruptedException {
        prompts.start();
        events.start();
        if (!ready.await(60, java.util.concurrent.TimeUnit.SECONDS)) {
            throw new IllegalStateException("the policy server's Kafka consumers did not start within 60 s");
        }
        server.release(); // the deployment and λ are loaded: users may be answered
        return this;
    }

    public long answered() {
        return answerer.answered();
    }

    public long deadLetters() {
        return writer.deadLetters();
    }

    /** HTTP answers the broker did not take (after the producer's own retries). */
    public long lostHttpAnswers() {
        return httpSinks.stream().mapToLong(ResponseSink::lost).sum();
    }

    /** Kafka sessions of either thread that failed and were started again. */
    public long sessionFailures() {
        return health.sessionFailures();
    }

    /** Its counters and health on {@code metrics} ({@code /metrics}). */
    public ServingLoop registerMetrics(ServiceMetrics metrics) {
        Map<String, String> server = Map.of("component", "server");
        metrics.counter("dualign_kafka_prompts_answered_total", "Prompts from dualign.prompts answered", Map.of(),
                this::answered);
        metrics.counter("dualign_dead_letters_total", "Records sent to dualign.dlq, by component", server, this::deadLetters);
        metrics.counter("dualign_http_answers_lost_total", "HTTP answers the broker did not take", Map.of(),
                this::lostHttpAnswers);
        metrics.counter("dualign_session_failures_total", "Kafka sessions that failed and were started again, by component",
                server, this::sessionFailures);
        metrics.counter("dualign_reference_samples_total", "Reference samples made for the one-shot solve (background, within "
                + "server.reference-share)", Map.of(), this.server::referenceSamplesMade);
        metrics.counter("dualign_reference_samples_dropped_total", "Prompts whose reference samples were not made: queue full, "
                + "sink behind, or sampling stopped", Map.of(), () -> this.server.referenceSampler().dropped());
        metrics.counter("dualign_reference_busy_seconds_total", "Time the reference samples took, their sending included: "
                + "over wall time, the share of server.reference-share they used", Map.of(),
                () -> this.server.referenceSampler().busySeconds());
        metrics.gauge("dualign_reference_sampling", "1 while reference samples are still wanted (no λ(0), target not reached)",
                Map.of(), () -> this.server.referenceSampling() ? 1 : 0);
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
        if (ready.getCount() > 0) {
            return LOADING;
        }
        String p = health.problem();
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
