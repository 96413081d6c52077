package dev.dualign.serving;

import dev.dualign.core.control.DeploymentHistory;
import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.core.event.DeploymentDecision;
import dev.dualign.core.event.Events;
import dev.dualign.service.LoopKafka;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Brings a swapping gateway's versions from the loop's topics: first what {@code checkpoints} and
 * {@code decisions} add up to so far ({@link DeploymentHistory}, as a starting policy server does),
 * so a restarted gateway serves the same stable version and canary and every name used before
 * stays taken; then each new external version is offered and each of the job's decisions carried
 * out. It reads {@code control} too: an answer is loaded only if it answers a request the job sent.
 * An answer whose request has not been read yet (the topics are read side by side) waits for it
 * for at most {@link #REQUEST_WAIT_MS}, then is offered and refused. An unreadable record is
 * skipped and logged; a broker outage only delays it.
 */
public final class GatewayFollower extends TopicFollower {
    private static final Logger LOG = LoggerFactory.getLogger(GatewayFollower.class);

    private final LoopKafka kafka;
    private final Gateway gateway;
    private final Map<TopicPartition, Long> positions = new ConcurrentHashMap<>();
    private boolean caughtUp;
    /** Most an answer waits for its request to be read before it is offered (and refused). */
    static final long REQUEST_WAIT_MS = 10_000;
    /** Answers whose request was not read yet, and until when they wait. */
    private final Map<CheckpointEvent, Long> parked = new java.util.LinkedHashMap<>();

    public GatewayFollower(LoopKafka kafka, Gateway gateway) {
        super("dualign-gateway-versions", LOG, "versions on " + kafka.checkpoints() + ", " + kafka.decisions() + " and "
                + kafka.control());
        this.kafka = kafka;
        this.gateway = gateway;
        start();
    }

    @Override
    KafkaConsumer<String, byte[]> consumer() {
        return kafka.consumer("gateway-versions-" + java.util.UUID.randomUUID());
    }

    /** A session starts where the last one stopped; the first one first serves what the history adds up to. */
    @Override
    void session(KafkaConsumer<String, byte[]> consumer) {
        List<TopicPartition> parts = new ArrayList<>();
        for (String t : List.of(kafka.checkpoints(), kafka.decisions(), kafka.control())) {
            var info = consumer.partitionsFor(t, Duration.ofSeconds(30));
            if (info == null || info.isEmpty()) {
                throw new IllegalStateException("topic " + t + " does not exist");
            }
            info.forEach(i -> parts.add(new TopicPartition(t, i.partition())));
        }
        consumer.assign(parts);
        if (!caughtUp) {
            catchUp(consumer, parts, kafka);
            caughtUp = true;
        }
        parts.forEach(tp -> consumer.seek(tp, positions.getOrDefault(tp, 0L)));
        connected();
        gateway.checkRequests();
        while (running()) {
            List<ConsumerRecord<String, byte[]>> batch = new ArrayList<>();
            consumer.poll(Duration.ofMillis(500)).forEach(batch::add);
            // requests first: an answer polled beside its request finds it
            batch.sort(java.util.Comparator.comparingInt(r -> r.topic().equals(kafka.control()) ? 0 : 1));
            for (ConsumerRecord<String, byte[]> r : batch) {
                if (r.topic().equals(kafka.control())) {
                    request(gateway, r);
                } else if (r.topic().equals(kafka.checkpoints())) {
                    CheckpointEvent c = parse(r);
                    if (c != null && c.external() != null && !gateway.knowsRequest(c.requestId()) && c.requestId() != null) {
                        LOG.info("version {} answers request {}, not read yet: waiting up to {} s for it", c.version(),
                                c.requestId(), REQUEST_WAIT_MS / 1000);
                        parked.put(c, System.currentTimeMillis() + REQUEST_WAIT_MS);
                    } else if (c != null) {
                        gateway.offer(c);
                    }
                } else {
                    handle(gateway, false, r);
                }
                positions.put(new TopicPartition(r.topic(), r.partition()), r.offset() + 1);
            }
            offerParked(gateway, parked, System.currentTimeMillis());
        }
    }

    /** The parked answers whose request has come, or whose wait is over (then refused for it), offered. */
    static void offerParked(Gateway gateway, Map<CheckpointEvent, Long> parked, long now) {
        for (var it = parked.entrySet().iterator(); it.hasNext(); ) {
            var e = it.next();
            if (gateway.knowsRequest(e.getKey().requestId()) || now >= e.getValue()) {
                it.remove();
                gateway.offer(e.getKey());
            }
        }
    }

    private static CheckpointEvent parse(ConsumerRecord<String, byte[]> r) {
        try {
            return Events.parse(CheckpointEvent.class, r.value());
        } catch (RuntimeException e) {
            LOG.warn("skipping an unreadable record at {}-{}@{}: {}", r.topic(), r.partition(), r.offset(), e.toString());
            return null;
        }
    }

    /** A fine-tune request the job sent: its id is what an answer must name. */
    static void request(Gateway gateway, ConsumerRecord<String, byte[]> r) {
        try {
            gateway.requested(Events.parse(dev.dualign.core.event.FineTuneRequest.class, r.value()).requestId());
        } catch (RuntimeException e) {
            LOG.warn("skipping an unreadable request at {}-{}@{}: {}", r.topic(), r.partition(), r.offset(), e.toString());
        }
    }

    /** Reads both topics from their beginning to their ends now, and serves what they add up to. */
    private void catchUp(KafkaConsumer<String, byte[]> consumer, List<TopicPartition> parts, LoopKafka kafka) {
        consumer.seekToBeginning(parts);
        Map<TopicPartition, Long> ends = consumer.endOffsets(parts);
        List<CheckpointEvent> checkpoints = new ArrayList<>();
        List<DeploymentDecision> decisions = new ArrayList<>();
        long deadline = System.currentTimeMillis() + 60_000;
        while (parts.stream().anyMatch(tp -> consumer.position(tp) < ends.get(tp))) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("could not read the deployment history within 60 s");
            }
            for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                if (r.offset() >= ends.get(tp)) {
                    continue; // after the snapshot: handled live
                }
                try {
                    if (r.topic().equals(kafka.control())) {
                        request(gateway, r);
                    } else if (r.topic().equals(kafka.checkpoints())) {
                        checkpoints.add(Events.parse(CheckpointEvent.class, r.value()));
                    } else {
                        decisions.add(Events.parse(DeploymentDecision.class, r.value()));
                    }
                } catch (RuntimeException e) {
                    LOG.warn("deployment history: ignoring an unreadable record on {} at {}:{}", r.topic(), r.partition(), r.offset());
                }
            }
        }
        positions.putAll(ends);
        restore(gateway, checkpoints, decisions);
    }

    /**
     * What the history adds up to, carried out: every external version it names is remembered (its
     * name stays taken), the promoted one serves as stable, the undecided newest one as the canary.
     */
    static void restore(Gateway g, List<CheckpointEvent> checkpoints, List<DeploymentDecision> decisions) {
        DeploymentHistory h = new DeploymentHistory(g.baseVersion());
        TreeMap<Long, CheckpointEvent> external = new TreeMap<>();
        for (CheckpointEvent c : checkpoints) {
            if (c.external() != null) {
                h.announced(c.version(), c.sha256());
                external.put(c.version(), c);
            }
        }
        decisions.forEach(d -> h.decided(d.policyVersion(), d.action()));
        long canary = h.canary().map(Map.Entry::getKey).orElse(-1L);
        external.values().stream().filter(c -> c.version() != h.stable() && c.version() != canary).forEach(g::remember);
        CheckpointEvent stable = external.get(h.stable());
        if (stable != null) {
            LOG.info("deployment history: version {} was promoted; serving it", h.stable());
            g.deployStable(stable);
        }
        if (canary >= 0) {
            LOG.info("deployment history: version {} is the undecided canary; serving it as the canary", canary);
            g.offer(external.get(canary));
        }
    }

    /** One live record: a checkpoint offered, a decision carried out; an unreadable one skipped. */
    static void handle(Gateway gateway, boolean checkpoint, ConsumerRecord<String, byte[]> r) {
        try {
            if (checkpoint) {
                gateway.offer(Events.parse(CheckpointEvent.class, r.value()));
            } else {
                gateway.carryOut(Events.parse(DeploymentDecision.class, r.value()));
            }
        } catch (RuntimeException e) {
            LOG.warn("skipping an unreadable record at {}-{}@{}: {}", r.topic(), r.partition(), r.offset(), e.toString());
        }
    }
}
