package dev.dualign.serving;

import static dev.dualign.serving.AdapterGateways.chat;
import static dev.dualign.serving.AdapterGateways.decision;
import static dev.dualign.serving.AdapterGateways.external;
import static dev.dualign.serving.AdapterGateways.gateway;
import static dev.dualign.serving.AdapterGateways.refusals;
import static dev.dualign.serving.AdapterGateways.runtime;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dualign.core.control.AdapterPlan.Route;
import dev.dualign.core.event.DeploymentDecision.Action;
import dev.dualign.core.event.ResponseEvent;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

/**
 * What the gateway makes of the loop's topics, without a broker: the deployment history restored
 * (the promoted version stable, the undecided newest one the canary, every name used before still
 * taken), then live records offered and carried out, an unreadable one skipped.
 */
class GatewayFollowerTest {
    final List<ResponseEvent> log = new CopyOnWriteArrayList<>();

    @Test
    void aGatewayStartedLateServesWhatTheHistoryAddsUpToAndKeepsItsNamesTaken() throws Exception {
        try (VllmStandIn vllm = new VllmStandIn(); Gateway g = gateway(vllm.url(), runtime("vllm", 0.5, 2, 5_000, vllm.url()), log)) {
            GatewayFollower.restore(g, List.of(external(5, "policy-v5"), external(6, "policy-v6"), external(7, "policy-v7")),
                    List.of(decision(5, Action.PROMOTE), decision(6, Action.ROLLBACK)));
            assertThat(g.route()).isEqualTo(new Route(5, "policy-v5", 7, "policy-v7", 0.5));
            assertThat(vllm.adapters).containsExactlyInAnyOrder("policy-v5", "policy-v7");
            assertThat(g.offer(external(8, "policy-v6"))).as("rolled back before this gateway started: its name is still taken")
                    .isFalse();
            assertThat(refusals(g, 8)).singleElement().asString().contains("never reused");
        }
    }

    @Test
    void liveRecordsAreOfferedAndCarriedOutAndAnUnreadableOneIsSkipped() throws Exception {
        try (VllmStandIn vllm = new VllmStandIn(); Gateway g = gateway(vllm.url(), runtime("vllm", 0.5, 2, 5_000, vllm.url()), log)) {
            GatewayFollower.handle(g, true, new ConsumerRecord<>("dualign.checkpoints", 0, 0, "x",
                    "not json".getBytes(StandardCharsets.UTF_8)));
            GatewayFollower.handle(g, true, new ConsumerRecord<>("dualign.checkpoints", 0, 1, "5", external(5, "policy-v5").toJsonBytes()));
            assertThat(g.route().canaryModel()).isEqualTo("policy-v5");
            GatewayFollower.handle(g, false, new ConsumerRecord<>("dualign.decisions", 0, 0, "5",
                    decision(5, Action.PROMOTE).toJsonBytes()));
            assertThat(g.route()).isEqualTo(new Route(5, "policy-v5", -1, null, 0));
            assertThat(chat(g)).isEqualTo("policy-v5");
        }
    }
}
