package dev.dualign.serving;

import static dev.dualign.serving.AdapterGateways.BASE;
import static dev.dualign.serving.AdapterGateways.chat;
import static dev.dualign.serving.AdapterGateways.external;
import static dev.dualign.serving.AdapterGateways.gateway;
import static dev.dualign.serving.AdapterGateways.refusals;
import static dev.dualign.serving.AdapterGateways.runtime;
import static dev.dualign.serving.VllmStandIn.BASE_MODEL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigException;
import dev.dualign.core.control.AdapterPlan.Route;
import dev.dualign.core.event.ResponseEvent;
import java.net.ServerSocket;
import java.net.URI;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * A version the upstream cannot take is refused, with the reason in the gateway's version
 * timeline (kind {@code refuse}, as the policy server records a version it refuses), and the
 * stable version keeps serving: an HTTP 400 from the adapter API, a replica that refuses
 * connections or does not answer (bounded by the adapter timeout, never a hang), an adapter name
 * another version had, and a canary without room for two adapters.
 */
class GatewayAdapterRefusalTest {
    final List<ResponseEvent> log = new CopyOnWriteArrayList<>();

    @Test
    void aLoadTheUpstreamAnswersWith400RefusesTheVersionWithItsReasonAndTheStableKeepsServing() throws Exception {
        try (VllmStandIn vllm = new VllmStandIn(); Gateway g = gateway(vllm.url(), runtime("vllm", 0.5, 2, 5_000, vllm.url()), log)) {
            vllm.refuseLoads = "No adapter found for /adapters/policy-v5";
            assertThat(g.offer(external(5, "policy-v5"))).isFalse();
            assertThat(refusals(g, 5)).singleElement().asString()
                    .contains("policy-v5", "HTTP 400", "No adapter found for /adapters/policy-v5");
            assertThat(g.route()).isEqualTo(new Route(BASE, null, -1, null, 0));
            for (int i = 0; i < 10; i++) {
                assertThat(chat(g)).isEqualTo(BASE_MODEL);
            }
            vllm.refuseLoads = null;
            assertThat(g.offer(external(5, "policy-v5"))).as("refused for good, not tried again").isFalse();
            assertThat(vllm.calls).containsExactly("load policy-v5 /adapters/policy-v5");
        }
    }

    @Test
    void anAnswerToARequestTheJobNeverSentOrWithAChecksumThatIsNotItsAdaptersIsRefusedBeforeAnyLoad(
            @org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path adapter = java.nio.file.Files.createDirectories(dir.resolve("policy-v6"));
        java.nio.file.Files.writeString(adapter.resolve("adapter_config.json"), "{\"r\": 8}");
        String sha = dev.dualign.core.event.AdapterChecksum.of(adapter);
        try (VllmStandIn vllm = new VllmStandIn(); Gateway g = gateway(vllm.url(), runtime("vllm", 0.5, 2, 5_000, vllm.url()), log)) {
            g.checkRequests();
            g.requested("ft-6");
            g.requested("ft-7");
            assertThat(g.offer(external(5, "policy-v5"))).as("ft-5 was never sent").isFalse();
            assertThat(refusals(g, 5)).singleElement().asString().contains("request 'ft-5', which the job never sent");
            var noRequest = new dev.dualign.core.event.CheckpointEvent(8, "policy/8", sha, Map.of("harmless", 0.5), 7, Map.of(), 1)
                    .answering(null, new dev.dualign.core.event.CheckpointEvent.External("policy-v8", adapter.toString(), null));
            assertThat(g.offer(noRequest)).isFalse();
            assertThat(refusals(g, 8)).singleElement().asString().contains("names no fine-tune request");
            var wrongSum = new dev.dualign.core.event.CheckpointEvent(7, "policy/7", "b".repeat(64), Map.of("harmless", 0.5), 6,
                    Map.of(), 1).answering("ft-7", new dev.dualign.core.event.CheckpointEvent.External("policy-v7", adapter.toString(), null));
            assertThat(g.offer(wrongSum)).isFalse();
            assertThat(refusals(g, 7)).singleElement().asString().contains("checksum mismatch", sha, "b".repeat(64));
            assertThat(vllm.calls).as("nothing was loaded for any of them").isEmpty();
            assertThat(chat(g)).isEqualTo(BASE_MODEL);

            var good = new dev.dualign.core.event.CheckpointEvent(6, "policy/6", sha, Map.of("harmless", 0.5), 1, Map.of(), 1)
                    .answering("ft-6", new dev.dualign.core.event.CheckpointEvent.External("policy-v6", adapter.toString(), null));
            assertThat(g.offer(good)).isTrue();
            assertThat(vllm.calls).containsExactly("load policy-v6 " + adapter);
            // the canary's answers are logged under its version and its adapter's name; the stable's under neither
            for (int i = 0; i < 40; i++) {
                chat(g);
            }
            assertThat(log).anySatisfy(e -> {
                assertThat(e.policyVersion()).isEqualTo(6);
                assertThat(e.model()).isEqualTo("policy-v6");
            });
            assertThat(log).allSatisfy(e -> assertThat(e.model()).isEqualTo(e.policyVersion() == 6 ? "policy-v6" : null));
        }
    }

    @Test
    void aReplicaThatRefusesConnectionsRefusesTheVersionWithinTheTimeout() throws Exception {
        int closed;
        try (ServerSocket s = new ServerSocket(0)) {
            closed = s.getLocalPort(); // free once closed: nothing listens there
        }
        URI nowhere = URI.create("http://127.0.0.1:" + closed + "/v1");
        try (VllmStandIn vllm = new VllmStandIn();
                Gateway g = gateway(vllm.url(), runtime("vllm", 0.5, 2, 1_000, vllm.url(), nowhere), log)) {
            boolean served = assertTimeoutPreemptively(Duration.ofSeconds(5), () -> g.offer(external(5, "policy-v5")));
            assertThat(served).isFalse();
            assertThat(refusals(g, 5)).singleElement().asString().contains(nowhere.toString(), "unreachable");
            assertThat(vllm.adapters).as("unloaded from the replica that took it").isEmpty();
            assertThat(chat(g)).isEqualTo(BASE_MODEL);
        }
    }

    @Test
    void aReplicaThatDoesNotAnswerRefusesTheVersionAfterTheAdapterTimeout() throws Exception {
        try (VllmStandIn vllm = new VllmStandIn(); Gateway g = gateway(vllm.url(), runtime("vllm", 0.5, 2, 500, vllm.url()), log)) {
            vllm.loadDelayMs = 10_000;
            long t0 = System.nanoTime();
            boolean served = assertTimeoutPreemptively(Duration.ofSeconds(5), () -> g.offer(external(5, "policy-v5")));
            assertThat(served).isFalse();
            assertThat((System.nanoTime() - t0) / 1e6).as("about the 500 ms timeout, not the 10 s the replica takes").isLessThan(3_000);
            assertThat(refusals(g, 5)).singleElement().asString().contains("did not answer within 500 ms");
            assertThat(g.route().canaryModel()).isNull();
            vllm.loadDelayMs = 0;
            assertThat(chat(g)).isEqualTo(BASE_MODEL);
        }
    }

    @Test
    void anAdapterNameIsNeverReusedByAnotherVersion() throws Exception {
        try (VllmStandIn vllm = new VllmStandIn(); Gateway g = gateway(vllm.url(), runtime("vllm", 0.5, 2, 5_000, vllm.url()), log)) {
            assertThat(g.offer(external(5, "policy-v5"))).isTrue();
            assertThat(g.offer(external(6, "policy-v5"))).isFalse();
            assertThat(refusals(g, 6)).singleElement().asString().contains("policy-v5", "version 5", "never reused");
            assertThat(vllm.calls).containsExactly("load policy-v5 /adapters/policy-v5");
            assertThat(g.route().canaryVersion()).isEqualTo(5);
        }
    }

    static Config config(Map<String, Object> keys) {
        Map<String, Object> m = new HashMap<>(keys);
        return Config.of(m, ServingOptions.ALL, List.of());
    }

    @Test
    void aCanaryWithoutRoomForTwoAdaptersIsRefusedAtStartUpNamingTheKey() {
        URI up = URI.create("http://vllm:8000/v1");
        assertThatThrownBy(() -> AdapterSettings.from(config(Map.of("server.upstream.adapters", "vllm")), up))
                .isInstanceOf(ConfigException.class).hasMessageContaining("server.upstream.max-loras").hasMessageContaining("--max-loras");
        assertThat(AdapterSettings.from(config(Map.of("server.upstream.adapters", "vllm", "server.upstream.max-loras", 2)), up)
                .upstream().maxLoras()).isEqualTo(2);
        assertThat(AdapterSettings.from(config(Map.of("server.upstream.adapters", "vllm", "server.canary-fraction", 0)), up))
                .as("no canary: one adapter at a time is enough").isNotNull();
        assertThat(AdapterSettings.from(config(Map.of()), up)).as("none by default").isNull();
        assertThatThrownBy(() -> runtime("vllm", 0.5, 1, 5_000, up)).hasMessageContaining("max_loras ≥ 2");
    }

    @Test
    void theAdapterKeysAreCheckedAtStartUpNamingTheKey() {
        URI up = URI.create("http://vllm:8000/v1");
        Map<String, Object> vllm = Map.of("server.upstream.adapters", "vllm", "server.upstream.max-loras", 4);
        assertThatThrownBy(() -> config(Map.of("server.upstream.adapters", "tgi"))).hasMessageContaining("server.upstream.adapters");
        assertThatThrownBy(() -> config(Map.of("server.upstream.max-loras", 0))).hasMessageContaining("server.upstream.max-loras");
        assertThatThrownBy(() -> config(Map.of("server.upstream.adapter-timeout-ms", 0)))
                .hasMessageContaining("server.upstream.adapter-timeout-ms");
        Map<String, Object> badReplica = new HashMap<>(vllm);
        badReplica.put("server.upstream.replicas", "http://a:8000/v1, ftp://b/v1");
        assertThatThrownBy(() -> AdapterSettings.from(config(badReplica), up)).hasMessageContaining("server.upstream.replicas");
        Map<String, Object> twoReplicas = new HashMap<>(vllm);
        twoReplicas.put("server.upstream.replicas", "http://a:8000/v1, http://b:8000/v1");
        assertThat(AdapterSettings.from(config(twoReplicas), up).replicas())
                .containsExactly(URI.create("http://a:8000/v1"), URI.create("http://b:8000/v1"));
        assertThat(AdapterSettings.from(config(vllm), up).replicas()).as("the upstream URL alone by default").containsExactly(up);
        for (String bad : List.of("5", "x=llama", "5=", "5=a,5=b", "5=a,6=a")) {
            assertThatThrownBy(() -> AdapterSettings.from(config(Map.of("server.upstream.adapters", "static",
                    "server.upstream.static-models", bad)), up)).as(bad).hasMessageContaining("server.upstream.static-models");
        }
        assertThat(AdapterSettings.from(config(Map.of("server.upstream.adapters", "static", "server.upstream.static-models",
                "5=llama-v5, 6=llama-v6")), up).upstream().staticModels()).isEqualTo(Map.of(5L, "llama-v5", 6L, "llama-v6"));
    }

    @Test
    void aGatewayWithoutAdaptersRefusesEveryVersionAndServesItsOneDeployment() throws Exception {
        try (VllmStandIn vllm = new VllmStandIn(); Gateway g = gateway(vllm.url(), null, log)) {
            assertThat(g.offer(external(5, "policy-v5"))).isFalse();
            assertThat(refusals(g, 5)).singleElement().asString().contains("server.upstream.adapters: none");
            assertThat(chat(g)).isEqualTo(BASE_MODEL);
            assertThat(vllm.calls).isEmpty();
        }
    }
}
