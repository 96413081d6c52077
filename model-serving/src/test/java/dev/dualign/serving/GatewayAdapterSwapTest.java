package dev.dualign.serving;

import static dev.dualign.serving.AdapterGateways.BASE;
import static dev.dualign.serving.AdapterGateways.await;
import static dev.dualign.serving.AdapterGateways.answeredBy;
import static dev.dualign.serving.AdapterGateways.chat;
import static dev.dualign.serving.AdapterGateways.chatAsync;
import static dev.dualign.serving.AdapterGateways.decision;
import static dev.dualign.serving.AdapterGateways.external;
import static dev.dualign.serving.AdapterGateways.gateway;
import static dev.dualign.serving.AdapterGateways.runtime;
import static dev.dualign.serving.VllmStandIn.BASE_MODEL;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dualign.core.control.AdapterPlan;
import dev.dualign.core.control.AdapterPlan.Route;
import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.core.event.DeploymentDecision.Action;
import dev.dualign.core.event.ResponseEvent;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The gateway hot-swaps a trainer's adapter into the user's inference server, here a stand-in for
 * vLLM ({@link VllmStandIn}): loaded over the adapter API on every replica before any request is
 * routed to it, then the canary's share of requests rewritten to {@code "model": <adapter>}, each
 * answer logged under the version that gave it, and a retired adapter unloaded only once the
 * requests naming it are answered.
 */
class GatewayAdapterSwapTest {
    final List<ResponseEvent> log = new CopyOnWriteArrayList<>();

    @Test
    void aNewVersionIsLoadedThenAnswersItsCanaryShareByModelNameAndIsLoggedUnderItsVersion() throws Exception {
        try (VllmStandIn vllm = new VllmStandIn(); Gateway g = gateway(vllm.url(), runtime("vllm", 0.3, 2, 5_000, vllm.url()), log)) {
            assertThat(chat(g)).as("before any version, requests go as they came").isEqualTo(BASE_MODEL);
            assertThat(g.offer(external(5, "policy-v5"))).isTrue();
            assertThat(vllm.calls).containsExactly("load policy-v5 /adapters/policy-v5");
            assertThat(g.route()).isEqualTo(new Route(BASE, null, 5, "policy-v5", 0.3));
            assertThat(g.timeline()).anyMatch(e -> e.version() == 5 && e.kind().equals("canary"));
            log.clear();
            int n = 200;
            int toCanary = 0;
            for (int i = 0; i < n; i++) {
                String by = chat(g);
                assertThat(by).isIn(BASE_MODEL, "policy-v5");
                toCanary += by.equals("policy-v5") ? 1 : 0;
            }
            // Binomial(200, 0.3): mean 60, sd 6.5 requests; ±26 (4 sd) fails by chance about once in 15,000 runs
            assertThat(toCanary).isBetween(60 - 26, 60 + 26);
            await(() -> log.size() == n, 5_000);
            long loggedAsCanary = log.stream().filter(e -> e.policyVersion() == 5).count();
            assertThat(loggedAsCanary).as("each answer logged under the version that gave it").isEqualTo(toCanary);
            assertThat(log).allMatch(e -> e.response().equals("answered by " + (e.policyVersion() == 5 ? "policy-v5" : BASE_MODEL)));
        }
    }

    @Test
    void withTwoReplicasTheAdapterIsLoadedOnBothBeforeAnyRequestIsRoutedToIt() throws Exception {
        try (VllmStandIn a = new VllmStandIn(); VllmStandIn b = new VllmStandIn();
                Gateway g = gateway(a.url(), runtime("vllm", 0.5, 2, 5_000, a.url(), b.url()), log)) {
            AtomicReference<Route> whileLoadingB = new AtomicReference<>();
            b.loadDelayMs = 200;
            b.onLoad = name -> whileLoadingB.set(g.route());
            assertThat(g.offer(external(5, "policy-v5"))).isTrue();
            assertThat(a.adapters).containsExactly("policy-v5");
            assertThat(b.adapters).containsExactly("policy-v5");
            assertThat(whileLoadingB.get().canaryModel()).as("loaded on replica a, still loading on b: not routed yet").isNull();
            assertThat(g.route().canaryModel()).isEqualTo("policy-v5");
            // a version that one replica refuses is refused, and unloaded from the replica that took it
            b.refuseLoads = "LoRA rank 256 is greater than max_lora_rank 64";
            assertThat(g.offer(external(6, "policy-v6"))).isFalse();
            assertThat(a.calls).containsSubsequence("load policy-v6 /adapters/policy-v6", "unload policy-v6");
            assertThat(a.adapters).containsExactly("policy-v5");
            assertThat(AdapterGateways.refusals(g, 6)).singleElement().asString().contains("HTTP 400", "max_lora_rank");
            assertThat(g.route()).as("the canary before it keeps its slot").isEqualTo(new Route(BASE, null, 5, "policy-v5", 0.5));
        }
    }

    @Test
    void aRetiredAdapterIsUnloadedOnlyOnceTheRequestsNamingItAreAnswered() throws Exception {
        try (VllmStandIn vllm = new VllmStandIn(); Gateway g = gateway(vllm.url(), runtime("vllm", 0.9, 2, 5_000, vllm.url()), log)) {
            assertThat(g.offer(external(5, "policy-v5"))).isTrue();
            vllm.holdModel = "policy-v5";
            vllm.release = new CountDownLatch(1);
            // 8 requests at a share of 0.9: all 8 miss the canary with probability 1e-8
            List<CompletableFuture<HttpResponse<String>>> inFlight = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                inFlight.add(chatAsync(g));
            }
            assertThat(vllm.held.await(10, TimeUnit.SECONDS)).as("a request is being answered by policy-v5").isTrue();
            assertThat(g.carryOut(decision(5, Action.ROLLBACK))).isTrue();
            assertThat(g.route().canaryModel()).isNull();
            assertThat(chat(g)).as("new requests go to the stable version at once").isEqualTo(BASE_MODEL);
            Thread.sleep(300);
            assertThat(vllm.calls).as("still answering: not unloaded").doesNotContain("unload policy-v5");
            assertThat(vllm.adapters).contains("policy-v5");
            vllm.release.countDown();
            for (CompletableFuture<HttpResponse<String>> f : inFlight) {
                HttpResponse<String> r = f.get(10, TimeUnit.SECONDS);
                assertThat(r.statusCode()).as("answered by the weights it was routed to: %s", r.body()).isEqualTo(200);
                assertThat(answeredBy(r.body())).isIn(BASE_MODEL, "policy-v5");
            }
            await(() -> vllm.calls.contains("unload policy-v5"), 5_000);
            assertThat(vllm.adapters).isEmpty();
            assertThat(g.offer(external(5, "policy-v5"))).as("a rolled-back version read again is not deployed again").isFalse();
        }
    }

    @Test
    void aPromotedVersionAnswersEveryRequestByNameAndTheOneItReplacesIsUnloaded() throws Exception {
        try (VllmStandIn vllm = new VllmStandIn(); Gateway g = gateway(vllm.url(), runtime("vllm", 0.5, 2, 5_000, vllm.url()), log)) {
            assertThat(g.offer(external(5, "policy-v5"))).isTrue();
            assertThat(g.carryOut(decision(4, Action.PROMOTE))).as("not the canary: nothing changes").isFalse();
            assertThat(g.carryOut(decision(5, Action.PROMOTE))).isTrue();
            assertThat(g.route()).isEqualTo(new Route(5, "policy-v5", -1, null, 0));
            for (int i = 0; i < 20; i++) {
                assertThat(chat(g)).isEqualTo("policy-v5");
            }
            // the next canary beside the promoted one (max_loras 2), then promoted in its turn
            assertThat(g.offer(external(6, "policy-v6"))).isTrue();
            assertThat(vllm.adapters).containsExactlyInAnyOrder("policy-v5", "policy-v6");
            assertThat(g.carryOut(decision(6, Action.PROMOTE))).isTrue();
            await(() -> vllm.calls.contains("unload policy-v5"), 5_000);
            assertThat(vllm.adapters).containsExactly("policy-v6");
            // rolled back with no canary: the stable version before it serves again, loaded again if it must be
            assertThat(g.carryOut(decision(6, Action.ROLLBACK))).isTrue();
            assertThat(g.route()).isEqualTo(new Route(5, "policy-v5", -1, null, 0));
            assertThat(chat(g)).isEqualTo("policy-v5");
        }
    }

    @Test
    void aNewCanaryIsLoadedBeforeItReplacesTheUndecidedOne() throws Exception {
        try (VllmStandIn vllm = new VllmStandIn(); Gateway g = gateway(vllm.url(), runtime("vllm", 0.5, 2, 5_000, vllm.url()), log)) {
            assertThat(g.offer(external(5, "policy-v5"))).isTrue();
            AtomicReference<Route> whileLoading = new AtomicReference<>();
            vllm.onLoad = name -> whileLoading.set(g.route());
            assertThat(g.offer(external(6, "policy-v6"))).isTrue();
            assertThat(whileLoading.get().canaryModel()).as("the old canary serves while the new one loads").isEqualTo("policy-v5");
            assertThat(g.route().canaryModel()).isEqualTo("policy-v6");
            await(() -> vllm.calls.contains("unload policy-v5"), 5_000);
            assertThat(g.timeline()).anyMatch(e -> e.version() == 5 && e.kind().equals("retire"));
        }
    }

    @Test
    void sglangsAdapterEndpointsAreAtTheRoot() throws Exception {
        try (VllmStandIn sglang = new VllmStandIn(true);
                Gateway g = gateway(sglang.url(), runtime("sglang", 0.5, 2, 5_000, sglang.url()), log)) {
            assertThat(g.offer(external(5, "policy-v5"))).isTrue();
            assertThat(sglang.adapters).containsExactly("policy-v5");
        }
    }

    @Test
    void aStaticUpstreamRoutesEachVersionToItsMappedModelWithoutLoadingAnything() throws Exception {
        try (VllmStandIn vllm = new VllmStandIn()) {
            vllm.adapters.addAll(List.of("llama-v5", "llama-v7")); // deployed by the operator, as a static upstream has them
            AdapterSettings st = new AdapterSettings(new AdapterPlan.Upstream(AdapterPlan.Loading.STATIC, 1, 1,
                    Map.of(5L, "llama-v5")), null, List.of(vllm.url()), 5_000, 0.5, 1);
            try (Gateway g = gateway(vllm.url(), st, log)) {
                assertThat(g.offer(external(5, "policy-v5"))).isTrue();
                assertThat(g.route()).isEqualTo(new Route(BASE, null, 5, "llama-v5", 0.5));
                assertThat(g.offer(external(6, "policy-v6"))).isFalse();
                assertThat(AdapterGateways.refusals(g, 6)).singleElement().asString().contains("no mapping");
                assertThat(vllm.calls).isEmpty();
                CheckpointEvent byId = new CheckpointEvent(7, "policy/7", "a".repeat(64), Map.of(), 6, Map.of(), 1)
                        .answering("ft-7", new CheckpointEvent.External(null, null, "llama-v7"));
                assertThat(g.offer(byId)).as("a checkpoint naming a model the upstream serves").isTrue();
                assertThat(g.route().canaryModel()).isEqualTo("llama-v7");
            }
        }
    }
}
