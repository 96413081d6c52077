package dev.dualign.serving;

import dev.dualign.core.control.AdapterPlan;
import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.core.event.DeploymentDecision;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.service.ServiceMetrics;
import dev.dualign.service.WebServer;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;

/** What the gateway's swap tests share: a gateway in front of stand-ins, versions, decisions and requests. */
final class AdapterGateways {
    /** The upstream's own deployment's version ({@code server.upstream.version}). */
    static final long BASE = 1;
    static final HttpClient CLIENT = HttpClient.newHttpClient();

    private AdapterGateways() {}

    static AdapterSettings runtime(String api, double share, int maxLoras, long timeoutMs, URI... replicas) {
        return new AdapterSettings(new AdapterPlan.Upstream(AdapterPlan.Loading.RUNTIME, maxLoras, replicas.length, Map.of()), api,
                List.of(replicas), timeoutMs, share, 1);
    }

    static Gateway gateway(URI chat, AdapterSettings a, List<ResponseEvent> log) throws IOException {
        return new Gateway(new Gateway.Settings("127.0.0.1", 0, chat, null, BASE, 10_000), log::addAll, new ServiceMetrics(),
                () -> null, null, null, WebServer.Limits.api(), WebServer.Access.open(), a);
    }

    /** An outside trainer's answer: version {@code v} as LoRA adapter {@code adapter}. */
    static CheckpointEvent external(long v, String adapter) {
        return new CheckpointEvent(v, "policy/" + v, "a".repeat(64), Map.of("harmless", 0.5), v - 1, Map.of(), 1)
                .answering("ft-" + v, new CheckpointEvent.External(adapter, "/adapters/" + adapter, null));
    }

    static DeploymentDecision decision(long v, DeploymentDecision.Action a) {
        return new DeploymentDecision(v, a, "test", Map.of(), 1);
    }

    static CompletableFuture<HttpResponse<String>> chatAsync(Gateway g) {
        return CLIENT.sendAsync(HttpRequest.newBuilder(URI.create(g.url() + "v1/chat/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString("""
                        {"model":"%s","messages":[{"role":"user","content":"hello"}]}""".formatted(VllmStandIn.BASE_MODEL)))
                .build(), HttpResponse.BodyHandlers.ofString());
    }

    /** One chat completion through the gateway: the model that answered it, as the stand-in says. */
    static String chat(Gateway g) throws Exception {
        HttpResponse<String> r = chatAsync(g).get();
        if (r.statusCode() != 200) {
            throw new AssertionError("HTTP " + r.statusCode() + ": " + r.body());
        }
        return answeredBy(r.body());
    }

    static String answeredBy(String body) throws IOException {
        return VllmStandIn.JSON.readTree(body).path("choices").path(0).path("message").path("content").asText()
                .replaceFirst("^answered by ", "");
    }

    /** The refusals the gateway recorded for {@code version}. */
    static List<String> refusals(Gateway g, long version) {
        return g.timeline().stream().filter(e -> e.version() == version && e.kind().equals("refuse"))
                .map(PolicyServer.VersionEvent::detail).toList();
    }

    static void await(BooleanSupplier done, long ms) throws InterruptedException {
        long until = System.currentTimeMillis() + ms;
        while (!done.getAsBoolean()) {
            if (System.currentTimeMillis() > until) {
                throw new AssertionError("not within " + ms + " ms");
            }
            Thread.sleep(10);
        }
    }
}
