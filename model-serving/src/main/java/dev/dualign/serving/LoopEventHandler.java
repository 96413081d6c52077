package dev.dualign.serving;

import dev.dualign.core.event.Alert;
import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.core.event.DeadLetter;
import dev.dualign.core.event.DeploymentDecision;
import dev.dualign.core.event.DualUpdate;
import dev.dualign.core.event.Events;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.event.VersionEstimate;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.service.LoopKafka;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the policy server does with each of the loop's events: a checkpoint offers the new version, a
 * decision promotes or rolls back the canary, a λ update reaches enforcement; all of them feed the {@link LoopMonitor}.
 */
final class LoopEventHandler {
    private static final Logger LOG = LoggerFactory.getLogger(ServingLoop.class); // logs as ServingLoop did

    private final PolicyServer server;
    private final LoopKafka kafka;
    private final LoopMonitor monitor;

    LoopEventHandler(PolicyServer server, LoopKafka kafka, LoopMonitor monitor) {
        this.server = server;
        this.kafka = kafka;
        this.monitor = monitor;
    }

    /** Handles one record of the followed topics; an unreadable one throws. */
    void handle(ConsumerRecord<String, byte[]> r) {
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
            if (c.external() != null) { // a version for the user's inference server: a gateway loads it there, not serve
                LOG.info("checkpoint for version {} names the external adapter {}: left to a gateway", c.version(), c.external());
                return;
            }
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
}
