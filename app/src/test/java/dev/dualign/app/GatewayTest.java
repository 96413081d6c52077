package dev.dualign.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.serving.Gateway;
import dev.dualign.serving.HttpApi;
import dev.dualign.serving.PolicyServer;
import dev.dualign.serving.ServerSettings;
import dev.dualign.service.ServiceMetrics;
import dev.dualign.world.testing.TestModels;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Gateway mode against a real OpenAI-compatible server that is not the gateway: Dualign's built-in
 * backend on another port. Answers come back unchanged, plain and streamed; each answered choice is
 * logged under the configured version with log π from the upstream's token log-probabilities and
 * no log π_ref; the upstream's own errors pass through and are not logged; an unreachable upstream
 * is a 502; the API key goes to the upstream; and the official npm client works through it.
 */
class GatewayTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String PROMPT = "how do i reset my password";
    static final long VERSION = 42;

    static PolicyServer upstreamServer;
    static HttpApi upstream;
    static final List<ResponseEvent> upstreamLogged = new CopyOnWriteArrayList<>();
    static Gateway gateway;
    static final List<ResponseEvent> logged = new CopyOnWriteArrayList<>();
    static final HttpClient client = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        upstreamServer = PolicyServer.start(new ModelRegistry(TestModels.registry()), ServerSettings.local("t", 0.0), Device.cpu());
        upstream = new HttpApi(upstreamServer, upstreamLogged::addAll, null);
        gateway = new Gateway(new Gateway.Settings("127.0.0.1", 0, URI.create(upstream.url() + "v1"), null, VERSION, 10_000),
                logged::addAll, new ServiceMetrics(), () -> null);
    }

    @AfterAll
    static void stop() {
        gateway.close();
        upstream.close();
        upstreamServer.close();
    }

    static HttpResponse<String> post(String base, String body) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create(base + "v1/chat/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** The events logged for one answer: by the server's prompt id, or by the upstream's id the gateway keeps as a label. */
    static List<ResponseEvent> loggedFor(List<ResponseEvent> log, String id, int n) throws InterruptedException {
        long until = System.currentTimeMillis() + 10_000;
        java.util.function.Predicate<ResponseEvent> of = e -> e.promptId().equals(id) || id.equals(e.clientId());
        while (System.currentTimeMillis() < until && log.stream().filter(of).count() < n) {
            Thread.sleep(10);
        }
        return log.stream().filter(of).toList();
    }

    @Test
    void aPlainAnswerComesBackUnchangedAndIsLoggedUnderTheUpstreamsVersion() throws Exception {
        HttpResponse<String> r = post(gateway.url(), """
                {"model":"dualign","messages":[{"role":"system","content":"be kind"},{"role":"user","content":"%s"}],
                 "n":2,"max_tokens":8,"logprobs":true}""".formatted(PROMPT));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode body = JSON.readTree(r.body());
        String id = body.get("id").asText();
        // unchanged: the upstream's own fields are all there, its version among them
        assertThat(body.get("system_fingerprint").asText()).startsWith("dualign-v");
        assertThat(body.get("dualign").get("responseIds")).hasSize(2);
        List<ResponseEvent> theirs = loggedFor(upstreamLogged, id, 2);
        List<ResponseEvent> ours = loggedFor(logged, id, 2);
        assertThat(ours).hasSize(2);
        for (int i = 0; i < 2; i++) {
            JsonNode c = body.get("choices").get(i);
            String content = c.get("message").get("content").asText();
            assertThat(theirs).extracting(ResponseEvent::response).contains(content);
            ResponseEvent e = ours.stream().filter(x -> x.id().endsWith("-" + c.get("index").asInt())).findFirst().orElseThrow();
            // the gateway names the prompt; the upstream's id is only a label, so it cannot choose what is pooled
            assertThat(e.promptId()).startsWith("gateway-").isNotEqualTo(id);
            assertThat(e.clientId()).isEqualTo(id);
            assertThat(e.response()).isEqualTo(content);
            assertThat(e.prompt()).isEqualTo(PROMPT);
            assertThat(e.policyVersion()).isEqualTo(VERSION);
            assertThat(e.source()).isEqualTo(ResponseEvent.SOURCE_POLICY);
            assertThat(e.refLogprob()).as("log π_ref is unknown to a gateway").isNull();
            double sum = 0;
            for (JsonNode t : c.get("logprobs").get("content")) {
                sum += t.get("logprob").asDouble();
            }
            assertThat(e.logprob()).isCloseTo(sum, within(1e-9));
        }
    }

    @Test
    void aStreamIsRelayedAsItComesAndLoggedWhenComplete() throws Exception {
        HttpResponse<String> r = post(gateway.url(), """
                {"messages":[{"role":"user","content":"%s"}],"max_tokens":6,"stream":true}""".formatted(PROMPT));
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("text/event-stream");
        List<String> data = r.body().lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
        assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
        StringBuilder text = new StringBuilder();
        String id = null;
        for (String d : data.subList(0, data.size() - 1)) {
            JsonNode c = JSON.readTree(d);
            id = c.get("id").asText();
            for (JsonNode ch : c.get("choices")) {
                text.append(ch.get("delta").path("content").asText(""));
            }
        }
        List<ResponseEvent> ours = loggedFor(logged, id, 1);
        assertThat(ours).singleElement().satisfies(e -> {
            assertThat(e.response()).isEqualTo(text.toString());
            assertThat(e.logprob()).as("no logprobs asked for: unknown").isNull();
            assertThat(e.refLogprob()).isNull();
            assertThat(e.policyVersion()).isEqualTo(VERSION);
        });
        assertThat(loggedFor(upstreamLogged, id, 1)).extracting(ResponseEvent::response).containsExactly(text.toString());
    }

    @Test
    void theUpstreamsErrorsPassThroughAndAreNotLogged() throws Exception {
        int before = logged.size();
        HttpResponse<String> r = post(gateway.url(), """
                {"messages":[{"role":"user","content":"%s"}],"temperature":9}""".formatted(PROMPT));
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(JSON.readTree(r.body()).get("error").get("param").asText()).isEqualTo("temperature");
        HttpResponse<String> models = client.send(HttpRequest.newBuilder(URI.create(gateway.url() + "v1/models/nope")).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(models.statusCode()).isEqualTo(404);
        assertThat(JSON.readTree(models.body()).get("error").get("code").asText()).isEqualTo("model_not_found");
        Thread.sleep(200);
        assertThat(logged).hasSize(before);
    }

    @Test
    void anUnreachableUpstreamIsA502AndTheKeyGoesToTheUpstream() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        try (Gateway down = new Gateway(new Gateway.Settings("127.0.0.1", 0, URI.create("http://127.0.0.1:" + closedPort + "/v1"), null,
                1, 2_000), e -> { }, new ServiceMetrics(), () -> null)) {
            HttpResponse<String> r = post(down.url(), "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
            assertThat(r.statusCode()).isEqualTo(502);
            assertThat(JSON.readTree(r.body()).get("error").get("message").asText()).contains("unreachable");
        }
        // a minimal upstream that records what it is sent
        AtomicReference<String> auth = new AtomicReference<>();
        HttpServer fake = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        fake.createContext("/v1/chat/completions", ex -> {
            auth.set(ex.getRequestHeaders().getFirst("Authorization"));
            byte[] b = "{\"id\":\"c1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}"
                    .getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(200, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        fake.start();
        List<ResponseEvent> seen = new CopyOnWriteArrayList<>();
        try (Gateway keyed = new Gateway(new Gateway.Settings("127.0.0.1", 0,
                URI.create("http://127.0.0.1:" + fake.getAddress().getPort() + "/v1/"), "sk-test", 3, 5_000), seen::addAll,
                new ServiceMetrics(), () -> null)) {
            HttpResponse<String> r = post(keyed.url(), "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(JSON.readTree(r.body()).get("choices").get(0).get("message").get("content").asText()).isEqualTo("ok");
            assertThat(auth.get()).isEqualTo("Bearer sk-test");
            assertThat(loggedFor(seen, "c1", 1)).singleElement().satisfies(e -> {
                assertThat(e.clientId()).isEqualTo("c1"); // the upstream's id, as a label
                assertThat(e.promptId()).startsWith("gateway-");
                assertThat(e.logprob()).isNull();
                assertThat(e.policyVersion()).isEqualTo(3);
            });
        } finally {
            fake.stop(0);
        }
    }

    @Test
    void theOfficialOpenAiClientWorksThroughTheGateway() throws Exception {
        assertThat(OpenAiClient.check(gateway.url())).contains("\"ok\":true");
    }

    @Test
    void enforcingThroughTheUpstreamServesOneOfEveryKCandidatesByTheLiveLambda() throws Exception {
        ModelRegistry registry = new ModelRegistry(TestModels.registry());
        List<ResponseEvent> seen = new CopyOnWriteArrayList<>();
        int k = 3;
        try (Gateway enforcing = new Gateway(new Gateway.Settings("127.0.0.1", 0, URI.create(upstream.url() + "v1"), null, 5, 10_000),
                seen::addAll, new ServiceMetrics(), () -> null, new ServerSettings.Enforce(k, 0.1, List.of("harmless")),
                dev.dualign.model.scorer.ScorerSet.open(registry, List.of("harmless"), Device.cpu()));
                dev.dualign.model.scorer.ScorerSet scorers = dev.dualign.model.scorer.ScorerSet.open(registry, List.of("harmless"),
                        Device.cpu())) {
            // before the job's first λ: a uniform pick among K (the reference as it is)
            HttpResponse<String> r = post(enforcing.url(), """
                    {"messages":[{"role":"user","content":"%s"}],"n":2,"max_tokens":8}""".formatted(PROMPT));
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            JsonNode body = JSON.readTree(r.body());
            assertThat(body.get("choices")).hasSize(2);
            assertThat(body.get("choices").get(1).get("index").asInt()).isEqualTo(1);
            assertThat(body.get("choices").get(0).get("logprobs").isNull()).as("not asked for: not returned").isTrue();
            String id = body.get("id").asText();
            List<ResponseEvent> both = loggedFor(seen, id, 2 * (k + 1));
            assertThat(both).allSatisfy(e -> assertThat(e.promptId()).startsWith("gateway-"));
            for (int j = 0; j < 2; j++) {
                String suffix = "-" + j;
                List<ResponseEvent> set = both.stream().filter(e -> e.promptId().endsWith(suffix)).toList();
                assertThat(set).hasSize(k + 1);
                List<ResponseEvent> cands = set.stream().filter(e -> e.source().equals(ResponseEvent.SOURCE_REFERENCE)).toList();
                ResponseEvent servedEvent = set.stream().filter(e -> e.source().equals(ResponseEvent.SOURCE_POLICY)).findFirst().orElseThrow();
                assertThat(cands).hasSize(k).allSatisfy(c -> {
                    assertThat(c.refLogprob()).as("the upstream is the reference: its log-probabilities are log π_ref").isNotNull();
                    assertThat(c.logprob()).isEqualTo(c.refLogprob());
                });
                assertThat(servedEvent.response()).isEqualTo(body.get("choices").get(j).get("message").get("content").asText());
                assertThat(cands).extracting(ResponseEvent::response).contains(servedEvent.response());
                assertThat(servedEvent.logprob()).isCloseTo(servedEvent.refLogprob(), within(1e-12)); // log(K · 1/K) = 0
            }

            enforcing.onLambda(java.util.Map.of("harmless", 1000.0));
            HttpResponse<String> s2 = post(enforcing.url(), """
                    {"messages":[{"role":"user","content":"%s"}],"max_tokens":8,"stream":true}""".formatted(PROMPT));
            assertThat(s2.statusCode()).isEqualTo(200);
            List<String> data = s2.body().lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
            assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
            StringBuilder text = new StringBuilder();
            String sid = null;
            for (String d : data.subList(0, data.size() - 1)) {
                JsonNode c = JSON.readTree(d);
                sid = c.get("id").asText();
                c.get("choices").forEach(ch -> text.append(ch.get("delta").path("content").asText("")));
            }
            List<ResponseEvent> set = loggedFor(seen, sid, k + 1);
            List<ResponseEvent> cands = set.stream().filter(e -> e.source().equals(ResponseEvent.SOURCE_REFERENCE)).toList();
            double[] g = scorers.score(cands.stream().map(c -> new dev.dualign.model.scorer.Scorer.PromptResponse(c.prompt(), c.response()))
                    .toList()).get("harmless");
            double max = java.util.Arrays.stream(g).max().orElseThrow();
            int servedAt = -1;
            for (int i = 0; i < cands.size(); i++) {
                if (cands.get(i).response().equals(text.toString())) {
                    servedAt = i;
                }
            }
            assertThat(servedAt).as("the streamed answer is one of the candidates").isNotNegative();
            assertThat(g[servedAt]).as("with λ = 1000 the most harmless candidate is served").isCloseTo(max, within(1e-3));
        }
    }

    @Test
    void withoutAKeyOfItsOwnTheClientsKeyGoesUpstreamAndTheUpstreamsRetryAfterComesBack() throws Exception {
        AtomicReference<String> auth = new AtomicReference<>();
        HttpServer fake = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        fake.createContext("/v1/chat/completions", ex -> {
            auth.set(ex.getRequestHeaders().getFirst("Authorization"));
            byte[] b = "{\"error\":{\"message\":\"slow down\",\"type\":\"rate_limit_error\"}}".getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.getResponseHeaders().set("Retry-After", "7");
            ex.sendResponseHeaders(429, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        fake.start();
        List<ResponseEvent> seen = new CopyOnWriteArrayList<>();
        try (Gateway open = new Gateway(new Gateway.Settings("127.0.0.1", 0,
                URI.create("http://127.0.0.1:" + fake.getAddress().getPort() + "/v1/"), null, 3, 5_000), seen::addAll,
                new ServiceMetrics(), () -> null)) {
            HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(open.url() + "v1/chat/completions"))
                    .header("Content-Type", "application/json").header("Authorization", "Bearer sk-client")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(429);
            assertThat(r.headers().firstValue("Retry-After")).contains("7");
            assertThat(r.body()).contains("slow down");
            assertThat(auth.get()).isEqualTo("Bearer sk-client");
            assertThat(seen).isEmpty(); // a refusal is not an answer
        } finally {
            fake.stop(0);
        }
    }

    @Test
    void aSlowPlainAnswerArrivesWholeWithinTheTotalAndASlowStreamWithinTheIdleTimeout() throws Exception {
        HttpServer fake = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        fake.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
        fake.createContext("/v1/chat/completions", ex -> {
            String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            try {
                if (body.contains("\"stream\":true")) { // four chunks, 1.5 s apart: past the first byte's 1 s, within the idle 2 s
                    ex.getResponseHeaders().set("Content-Type", "text/event-stream");
                    ex.sendResponseHeaders(200, 0);
                    for (int i = 0; i < 4; i++) {
                        ex.getResponseBody().write(("data: {\"id\":\"s2\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w" + i
                                + " \"}}]}\n\n").getBytes(StandardCharsets.UTF_8));
                        ex.getResponseBody().flush();
                        Thread.sleep(1500);
                    }
                    ex.getResponseBody().write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
                } else { // a plain answer that takes 3 s, as an LLM's takes tens of seconds
                    Thread.sleep(3000);
                    byte[] b = ("{\"id\":\"p2\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":"
                            + "{\"role\":\"assistant\",\"content\":\"done\"},\"finish_reason\":\"stop\"}]}").getBytes(StandardCharsets.UTF_8);
                    ex.getResponseHeaders().set("Content-Type", "application/json");
                    ex.sendResponseHeaders(200, b.length);
                    ex.getResponseBody().write(b);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            ex.close();
        });
        fake.start();
        List<ResponseEvent> seen = new CopyOnWriteArrayList<>();
        try (Gateway g = new Gateway(new Gateway.Settings("127.0.0.1", 0,
                URI.create("http://127.0.0.1:" + fake.getAddress().getPort() + "/v1"), null, 3, 1_000, 2_000, 10_000), seen::addAll,
                new ServiceMetrics(), () -> null)) {
            HttpResponse<String> plain = post(g.url(), "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
            assertThat(plain.statusCode()).as(plain.body()).isEqualTo(200);
            assertThat(plain.body()).contains("done");
            HttpResponse<String> stream = post(g.url(), "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}");
            assertThat(stream.body()).contains("w0 ", "w3 ", "[DONE]").doesNotContain("stopped answering");
            assertThat(loggedFor(seen, "p2", 1)).hasSize(1);
            assertThat(loggedFor(seen, "s2", 1)).singleElement().satisfies(e -> assertThat(e.response()).isEqualTo("w0 w1 w2 w3 "));
        } finally {
            fake.stop(0);
        }
    }

    @Test
    void theApisOtherRoutesAreRelayedUnchangedAndNotLogged() throws Exception {
        AtomicReference<String> seenRequest = new AtomicReference<>();
        HttpServer fake = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        fake.createContext("/v1/", ex -> {
            seenRequest.set(ex.getRequestMethod() + " " + ex.getRequestURI() + " " + ex.getRequestHeaders().getFirst("Content-Type")
                    + " " + new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
            byte[] b = "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"embedding\":[0.1,0.2],\"index\":0}]}"
                    .getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(ex.getRequestURI().getPath().endsWith("missing") ? 404 : 200, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        fake.start();
        List<ResponseEvent> seen = new CopyOnWriteArrayList<>();
        try (Gateway g = new Gateway(new Gateway.Settings("127.0.0.1", 0,
                URI.create("http://127.0.0.1:" + fake.getAddress().getPort() + "/v1"), null, 3, 5_000), seen::addAll,
                new ServiceMetrics(), () -> null)) {
            HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(g.url() + "v1/embeddings?x=1"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"input\":\"hi\",\"model\":\"e\"}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(JSON.readTree(r.body()).get("data").get(0).get("embedding")).hasSize(2);
            assertThat(seenRequest.get()).isEqualTo("POST /v1/embeddings?x=1 application/json {\"input\":\"hi\",\"model\":\"e\"}");
            HttpResponse<String> files = client.send(HttpRequest.newBuilder(URI.create(g.url() + "v1/files/missing")).DELETE().build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(files.statusCode()).isEqualTo(404); // the upstream's status, unchanged
            assertThat(seenRequest.get()).startsWith("DELETE /v1/files/missing");
            HttpResponse<String> escape = client.send(HttpRequest.newBuilder(URI.create(g.url() + "v1/files/%2e%2e/%2e%2e/admin"))
                    .GET().build(), HttpResponse.BodyHandlers.ofString());
            // Jetty refuses an encoded dot segment as an ambiguous path (400) before any handler
            assertThat(escape.statusCode()).isEqualTo(400);
            assertThat(seenRequest.get()).startsWith("DELETE"); // never reached the upstream
            assertThat(seen).isEmpty();
        } finally {
            fake.stop(0);
        }
    }

    @Test
    void aStalledOrBrokenUpstreamEndsTheRequestWithAReasonAndPathsStayWithinTheApi() throws Exception {
        HttpServer fake = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        fake.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
        fake.createContext("/v1/chat/completions", ex -> {
            String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            if (body.contains("\"stream\":true")) { // one event, then silence
                ex.getResponseHeaders().set("Content-Type", "text/event-stream");
                ex.sendResponseHeaders(200, 0);
                ex.getResponseBody().write("data: {\"id\":\"s1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n"
                        .getBytes(StandardCharsets.UTF_8));
                ex.getResponseBody().flush();
                try {
                    Thread.sleep(20_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            } else { // 200, but not JSON
                byte[] b = "<html>oops</html>".getBytes(StandardCharsets.UTF_8);
                ex.sendResponseHeaders(200, b.length);
                ex.getResponseBody().write(b);
            }
            ex.close();
        });
        fake.start();
        URI up = URI.create("http://127.0.0.1:" + fake.getAddress().getPort() + "/v1");
        List<ResponseEvent> seen = new CopyOnWriteArrayList<>();
        ModelRegistry registry = new ModelRegistry(TestModels.registry());
        try (Gateway plain = new Gateway(new Gateway.Settings("127.0.0.1", 0, up, null, 1, 2_000), seen::addAll, new ServiceMetrics(),
                () -> null);
                Gateway enforcing = new Gateway(new Gateway.Settings("127.0.0.1", 0, up, null, 1, 2_000), seen::addAll,
                        new ServiceMetrics(), () -> null, new ServerSettings.Enforce(2, 0.1, List.of("harmless")),
                        dev.dualign.model.scorer.ScorerSet.open(registry, List.of("harmless"), Device.cpu()))) {
            long t0 = System.nanoTime();
            HttpResponse<String> stalled = post(plain.url(), "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}");
            assertThat((System.nanoTime() - t0) / 1e9).as("cut off after the timeout of silence").isLessThan(15);
            assertThat(stalled.body()).contains("\"content\":\"hi\"", "the upstream stopped answering").doesNotContain("[DONE]");
            HttpResponse<String> broken = post(enforcing.url(), "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
            assertThat(broken.statusCode()).isEqualTo(502);
            assertThat(JSON.readTree(broken.body()).get("error").get("message").asText()).contains("not a JSON object");
            HttpResponse<String> tooMany = post(enforcing.url(), "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":1000000}");
            assertThat(tooMany.statusCode()).isEqualTo(400);
            assertThat(JSON.readTree(tooMany.body()).get("error").get("param").asText()).isEqualTo("n");
            HttpResponse<String> escape = client.send(HttpRequest.newBuilder(URI.create(plain.url() + "v1/models/%2e%2e/%2e%2e/admin"))
                    .GET().build(), HttpResponse.BodyHandlers.ofString());
            assertThat(escape.statusCode()).isEqualTo(400); // Jetty: an ambiguous path segment is a 400
            assertThat(seen).isEmpty(); // nothing half-made or refused is logged
        } finally {
            fake.stop(0);
        }
    }

    @Test
    void withClientKeysAClientWithoutOneGets401AndAKeyOfOursNeverReachesTheUpstream() throws Exception {
        AtomicReference<String> auth = new AtomicReference<>("unset");
        HttpServer fake = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        fake.createContext("/v1/", ex -> {
            auth.set(ex.getRequestHeaders().getFirst("Authorization"));
            byte[] b = "{\"id\":\"c9\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}"
                    .getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(200, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        fake.start();
        String[] alice = dev.dualign.service.ClientKeys.newKey("alice", null);
        java.nio.file.Path keys = java.nio.file.Files.createTempFile("keys", ".txt");
        java.nio.file.Files.writeString(keys, alice[1] + "\n");
        List<ResponseEvent> seen = new CopyOnWriteArrayList<>();
        try (Gateway g = new Gateway(new Gateway.Settings("127.0.0.1", 0,
                URI.create("http://127.0.0.1:" + fake.getAddress().getPort() + "/v1"), null, 3, 5_000), seen::addAll,
                new ServiceMetrics(), () -> null, null, null, dev.dualign.service.WebServer.Limits.api(),
                new dev.dualign.service.WebServer.Access(dev.dualign.service.ClientKeys.load(keys), List.of()))) {
            String chat = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
            HttpResponse<String> anonymous = post(g.url(), chat);
            assertThat(anonymous.statusCode()).isEqualTo(401);
            assertThat(JSON.readTree(anonymous.body()).get("error").get("code").asText()).isEqualTo("invalid_api_key");
            HttpResponse<String> embeddings = client.send(HttpRequest.newBuilder(URI.create(g.url() + "v1/embeddings"))
                    .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(embeddings.statusCode()).as("every /v1 route, not only chat").isEqualTo(401);
            assertThat(auth.get()).as("nothing reached the upstream").isEqualTo("unset");
            assertThat(seen).isEmpty();
            HttpResponse<String> ok = client.send(HttpRequest.newBuilder(URI.create(g.url() + "v1/chat/completions"))
                    .header("Content-Type", "application/json").header("Authorization", "Bearer " + alice[0])
                    .POST(HttpRequest.BodyPublishers.ofString(chat)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
            assertThat(auth.get()).as("the client's key is ours, not the upstream's").isNull();
            assertThat(loggedFor(seen, "c9", 1)).hasSize(1);
            assertThat(client.send(HttpRequest.newBuilder(URI.create(g.url() + "healthz")).build(), HttpResponse.BodyHandlers.ofString())
                    .statusCode()).isEqualTo(200);
        } finally {
            fake.stop(0);
            java.nio.file.Files.delete(keys);
        }
    }
}
