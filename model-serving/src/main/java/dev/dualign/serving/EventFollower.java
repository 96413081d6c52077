package dev.dualign.serving;

import dev.dualign.service.LoopKafka;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link ServingLoop}'s event session: polls the loop's broadcast topics, going on where the last
 * session stopped, and hands each record to the {@link LoopEventHandler}.
 */
final class EventFollower {
    private static final Logger LOG = LoggerFactory.getLogger(ServingLoop.class); // logs as ServingLoop did

    private final PolicyServer server;
    private final LoopKafka kafka;
    private final LoopMonitor monitor;
    private final BooleanSupplier running;
    private final ServingHealth health;
    private final LoopEventHandler handler;
    private final DeploymentCatchUp catchUp;
    private final CountDownLatch ready;
    private volatile boolean readyEvents;
    /** Where the event session has read to, per partition: a new session after a failure starts there. */
    private final Map<TopicPartition, Long> eventPositions = new java.util.concurrent.ConcurrentHashMap<>();
    /** Whether the deployment history was read (once per server, not per session). */
    private boolean caughtUp;

    EventFollower(PolicyServer server, LoopKafka kafka, LoopMonitor monitor, BooleanSupplier running, ServingHealth health,
            CountDownLatch ready) {
        this.server = server;
        this.kafka = kafka;
        this.monitor = monitor;
        this.running = running;
        this.health = health;
        this.ready = ready;
        this.handler = new LoopEventHandler(server, kafka, monitor);
        this.catchUp = new DeploymentCatchUp(server, kafka);
    }

    /** One session: a consumer assigned all the followed partitions, until closed or failed. */
    void session() {
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
                catchUp.catchUp(consumer, tps, eventPositions);
                if (catchUp.restoredLambda != null) {
                    monitor.onDual(catchUp.restoredLambda);
                }
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
            while (running.getAsBoolean()) {
                ConsumerRecords<String, byte[]> recs = consumer.poll(Duration.ofMillis(200));
                health.eventProblem(null);
                for (ConsumerRecord<String, byte[]> r : recs) {
                    try {
                        handler.handle(r);
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
}
