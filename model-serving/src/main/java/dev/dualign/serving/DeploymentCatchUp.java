package dev.dualign.serving;

import dev.dualign.core.control.DeploymentHistory;
import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.core.event.DeploymentDecision;
import dev.dualign.core.event.DualUpdate;
import dev.dualign.core.event.Events;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.service.LoopKafka;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A starting server's catch-up: deploys what {@code checkpoints} and {@code decisions} add up to so
 * far, and takes the newest λ from {@code dual}, so that a restarted server (or a replica started
 * after others) serves what it served before: the same stable version, the same canary, the same λ,
 * and no reference sampling once λ(0) was set. The three topics are compacted, so this state
 * outlives any retention period.
 */
final class DeploymentCatchUp {
    private static final Logger LOG = LoggerFactory.getLogger(ServingLoop.class); // logs as ServingLoop did

    private final PolicyServer server;
    private final LoopKafka kafka;

    /** The newest λ the catch-up found, for the monitor; null when none. */
    DualUpdate restoredLambda;

    DeploymentCatchUp(PolicyServer server, LoopKafka kafka) {
        this.server = server;
        this.kafka = kafka;
    }

    /**
     * Before following the broadcast topics: reads {@code checkpoints} and {@code decisions} from
     * their beginning to their ends now and deploys what they add up to ({@link DeploymentHistory}),
     * so a replica started after others serves what they serve; records after those ends are then
     * handled live as usual (from the ends put in {@code positions}).
     */
    void catchUp(KafkaConsumer<String, byte[]> consumer, List<TopicPartition> tps, Map<TopicPartition, Long> positions) {
        List<TopicPartition> history = tps.stream().filter(tp -> tp.topic().equals(kafka.checkpoints())
                || tp.topic().equals(kafka.decisions()) || tp.topic().equals(kafka.dual())).toList();
        DualUpdate newestLambda = null;
        consumer.assign(history);
        consumer.seekToBeginning(history);
        Map<TopicPartition, Long> ends = consumer.endOffsets(history);
        DeploymentHistory h = new DeploymentHistory(server.deployment().stable());
        long deadline = System.currentTimeMillis() + 60_000;
        int read = 0;
        while (history.stream().anyMatch(tp -> consumer.position(tp) < ends.get(tp))) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("could not read the deployment history (" + kafka.checkpoints() + ", "
                        + kafka.decisions() + ", " + kafka.dual() + ") within 60 s");
            }
            for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                if (r.offset() >= ends.get(new TopicPartition(r.topic(), r.partition()))) {
                    continue; // after the snapshot: the live loop handles it
                }
                read++;
                try {
                    if (r.topic().equals(kafka.dual())) {
                        DualUpdate u = Events.parse(DualUpdate.class, r.value());
                        if (newestLambda == null || u.timestamp() >= newestLambda.timestamp()) {
                            newestLambda = u;
                        }
                    } else if (r.topic().equals(kafka.decisions())) {
                        DeploymentDecision d = Events.parse(DeploymentDecision.class, r.value());
                        h.decided(d.policyVersion(), d.action());
                    } else {
                        CheckpointEvent c = Events.parse(CheckpointEvent.class, r.value());
                        if (c.external() == null && c.path().equals(ModelNames.POLICY + "/" + c.version())) {
                            h.announced(c.version(), c.sha256());
                        }
                    }
                } catch (RuntimeException e) {
                    LOG.warn("deployment history: ignoring an unreadable record on {} at {}:{}", r.topic(), r.partition(), r.offset());
                }
            }
        }
        history.forEach(tp -> positions.put(tp, ends.get(tp)));
        if (newestLambda != null) {
            LOG.info("λ from {}: {} (step {}, {}); reference sampling is not needed", kafka.dual(), newestLambda.lambda(),
                    newestLambda.step(), newestLambda.kind());
            server.referenceNoLongerNeeded();
            server.onLambda(newestLambda.lambda());
            restoredLambda = newestLambda;
        }
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
}
