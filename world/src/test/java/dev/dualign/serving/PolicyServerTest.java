package dev.dualign.serving;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import ai.djl.nn.Parameter;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dualign.core.event.DeploymentDecision;
import dev.dualign.core.event.Estimate;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.world.bootstrap.Bootstrap;
import dev.dualign.world.testing.TestModels;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The policy server with real tiny models: hot swaps under concurrent HTTP load, canary promotion
 * and rollback, refusal of tampered or half-written versions, and the admin token.
 */
class PolicyServerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, Double> MARGINS = Map.of("harmless", 0.5);

    @TempDir
    static Path tmp;

    static ModelRegistry registry;
    static HttpClient client;

    /** Versions 1–3: the reference with different noise added to its weights, so each version's log-probs differ. */
    @BeforeAll
    static void publishVersions() throws Exception {
        registry = TestModels.registryWithVersions(tmp.resolve("registry"), 3);
        client = HttpClient.newHttpClient();
    }

    private static HttpResponse<String> post(HttpApi api, String path, String body, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(api.url() + path.substring(1)))
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> get(HttpApi api, String path, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(api.url() + path.substring(1))).GET();
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static DeploymentDecision decision(long version, DeploymentDecision.Action action) {
        return new DeploymentDecision(version, action, "test", Map.of("harmless", new Estimate(0.5, 0.4, 0.6, 300)), 1L);
    }

    @Test
    void hotSwapsUnderConcurrentLoadWithoutAFailedRequestAndWithCorrectVersionTags() throws Exception {
        try (PolicyServer server = PolicyServer.start(registry, ServerSettings.local("t", 0.0), Device.cpu());
                HttpApi api = new HttpApi(server, null, null)) {
            List<JsonNode> answers = new CopyOnWriteArrayList<>();
            List<String> failures = new CopyOnWriteArrayList<>();
            AtomicBoolean stop = new AtomicBoolean();
            ExecutorService clients = Executors.newFixedThreadPool(6);
            for (int c = 0; c < 6; c++) {
                int id = c;
                clients.submit(() -> {
                    for (int i = 0; !stop.get(); i++) {
                        try {
                            HttpResponse<String> r = post(api, "/v1/chat",
                                    "{\"id\":\"c" + id + "-" + i + "\",\"prompt\":\"how do i reset my password\"}", null);
                            if (r.statusCode() != 200) {
                                failures.add(r.statusCode() + " " + r.body());
                            } else {
                                answers.add(JSON.readTree(r.body()));
                            }
                        } catch (Exception e) {
                            failures.add(e.toString());
                        }
                    }
                });
            }
            // swap while the clients run: 1, 2, 3, back to 1, then 0 (the reference)
            List<Long> order = List.of(1L, 2L, 3L, 1L, 0L);
            Map<Long, Integer> before = new HashMap<>();
            for (long v : order) {
                int seen = answers.size();
                while (answers.size() < seen + 40 && failures.isEmpty()) {
                    Thread.sleep(20);
                }
                before.put(v, answers.size());
                assertThat(server.deploy(v, null, false)).as("deploy %d", v).isTrue();
                assertThat(server.deployment().stable()).isEqualTo(v);
            }
            int seen = answers.size();
            while (answers.size() < seen + 40 && failures.isEmpty()) {
                Thread.sleep(20);
            }
            stop.set(true);
            clients.shutdown();
            assertThat(clients.awaitTermination(60, TimeUnit.SECONDS)).isTrue();

            assertThat(failures).isEmpty();
            assertThat(answers.size()).isGreaterThan(200);
            Set<Long> versions = ConcurrentHashMap.newKeySet();
            answers.forEach(a -> versions.add(a.get("policyVersion").asLong()));
            assertThat(versions).containsExactlyInAnyOrder(0L, 1L, 2L, 3L);

            // the tag is the version that produced the response: its log-prob under that version matches,
            // and differs under the others (the versions' weights differ)
            Map<Long, PolicyLm> lms = new HashMap<>();
            for (long v = 0; v <= 3; v++) {
                lms.put(v, PolicyLm.load(registry.open(ModelNames.POLICY, v), Device.cpu()));
            }
            try {
                List<JsonNode> sample = new ArrayList<>(answers);
                Collections.shuffle(sample, new java.util.Random(3));
                int checked = 0;
                for (JsonNode a : sample.subList(0, 80)) {
                    long v = a.get("policyVersion").asLong();
                    int[] prompt = server.tokenizer().encode("how do i reset my password");
                    int[] response = server.tokenizer().encode(a.get("response").asText());
                    int steps = Math.min(40, lms.get(0L).config().maxLen() - prompt.length - 2);
                    if (response.length >= steps) {
                        continue; // cut at max tokens: no EOS in the logged log-prob
                    }
                    double own = lms.get(v).logProbs(List.of(prompt), List.of(response))[0];
                    assertThat(own).as("log-prob of a v%d answer under v%d", v, v).isCloseTo(a.get("logprob").asDouble(),
                            org.assertj.core.data.Offset.offset(2e-3));
                    double ref = lms.get(0L).logProbs(List.of(prompt), List.of(response))[0];
                    assertThat(ref).isCloseTo(a.get("refLogprob").asDouble(), org.assertj.core.data.Offset.offset(2e-3));
                    long other = (v + 1) % 4;
                    double wrong = lms.get(other).logProbs(List.of(prompt), List.of(response))[0];
                    assertThat(Math.abs(wrong - own)).as("v%d and v%d disagree", v, other).isGreaterThan(1e-2);
                    checked++;
                }
                assertThat(checked).isGreaterThan(40);
            } finally {
                lms.values().forEach(PolicyLm::close);
            }
            assertThat(server.timeline()).extracting(PolicyServer.VersionEvent::kind).containsOnly("deploy");
        }
    }

    @Test
    void aCanaryIsPromotedWhenItMeetsTheMarginAndRolledBackWhenItViolatesIt() {
        try (PolicyServer server = PolicyServer.start(registry, ServerSettings.local("t", 0.5), Device.cpu())) {
            assertThat(server.deploy(1, null, false)).isTrue();
            assertThat(server.deployment()).isEqualTo(new PolicyServer.Deployment(0, 1, 0.5));
            // the canary answers about half of the prompts, the rest stay on the stable version
            List<PolicyServer.Prompt> prompts = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                prompts.add(new PolicyServer.Prompt("p" + i, "how do i reset my password"));
            }
            long toCanary = server.answer(prompts).stream().filter(r -> r.policyVersion() == 1).count();
            assertThat(toCanary).isBetween(70L, 130L);

            // decisions about another version (here the stable one) change nothing
            assertThat(server.carryOut(decision(0, DeploymentDecision.Action.ROLLBACK))).isFalse();
            assertThat(server.deployment()).isEqualTo(new PolicyServer.Deployment(0, 1, 0.5));
            // the job's rollback of the canary: the stable version takes all traffic
            assertThat(server.carryOut(decision(1, DeploymentDecision.Action.ROLLBACK))).isTrue();
            assertThat(server.deployment()).isEqualTo(new PolicyServer.Deployment(0, -1, 0));
            assertThat(server.answer(prompts)).allMatch(r -> r.policyVersion() == 0);

            assertThat(server.deploy(2, null, false)).isTrue();
            assertThat(server.carryOut(decision(1, DeploymentDecision.Action.PROMOTE))).isFalse(); // retired already
            assertThat(server.carryOut(decision(2, DeploymentDecision.Action.PROMOTE))).isTrue();
            assertThat(server.deployment()).isEqualTo(new PolicyServer.Deployment(2, -1, 0));
            assertThat(server.answer(prompts)).allMatch(r -> r.policyVersion() == 2);

            // with no canary, a rollback returns to the previous stable version
            assertThat(server.rollback("test")).isEqualTo(0);
            assertThat(server.deployment().stable()).isEqualTo(0);
            assertThat(server.timeline()).extracting(PolicyServer.VersionEvent::kind)
                    .containsExactly("deploy", "canary", "rollback", "canary", "promote", "rollback");
        }
    }

    @Test
    void aNewerVersionWaitsBehindAnUndecidedCanaryUntilItIsDecidedOrItsHoldEnds() throws Exception {
        long hold = 1_500;
        try (PolicyServer server = PolicyServer.start(registry, ServerSettings.local("t", 0.5).withCanaryHoldMs(hold),
                Device.cpu())) {
            assertThat(server.offer(1, null)).isTrue(); // the slot is free
            assertThat(server.offer(2, null)).isFalse(); // canary 1 is young and undecided: 2 waits
            assertThat(server.deployment().canary()).isEqualTo(1);
            assertThat(server.waitingVersion()).isEqualTo(2);
            assertThat(server.tick()).isEqualTo(-1);

            // the hold ends: the waiting version takes the slot without any decision (the wait is bounded)
            long deadline = System.nanoTime() + 30_000_000_000L;
            long deployed = -1;
            while (deployed < 0 && System.nanoTime() < deadline) {
                Thread.sleep(100);
                deployed = server.tick();
            }
            assertThat(deployed).isEqualTo(2);
            assertThat(server.deployment()).isEqualTo(new PolicyServer.Deployment(0, 2, 0.5));

            // a decision frees the slot at once for the version waiting behind it
            assertThat(server.offer(3, null)).isFalse();
            assertThat(server.carryOut(decision(2, DeploymentDecision.Action.ROLLBACK))).isTrue();
            assertThat(server.deployment()).isEqualTo(new PolicyServer.Deployment(0, 3, 0.5));
            assertThat(server.waitingVersion()).isEqualTo(-1);
            assertThat(server.timeline()).extracting(PolicyServer.VersionEvent::version, PolicyServer.VersionEvent::kind)
                    .containsExactly(org.assertj.core.groups.Tuple.tuple(0L, "deploy"), org.assertj.core.groups.Tuple.tuple(1L, "canary"),
                            org.assertj.core.groups.Tuple.tuple(2L, "wait"), org.assertj.core.groups.Tuple.tuple(1L, "retire"),
                            org.assertj.core.groups.Tuple.tuple(2L, "canary"), org.assertj.core.groups.Tuple.tuple(3L, "wait"),
                            org.assertj.core.groups.Tuple.tuple(2L, "rollback"), org.assertj.core.groups.Tuple.tuple(3L, "canary"));
        }
    }

    @Test
    void aVersionTheJobPromotesIsServedEvenWhenItIsNotThisServersCanary() {
        // a replica that started late took version 2 as its canary while its peers still had 1 (2 waiting there)
        try (PolicyServer server = PolicyServer.start(registry, ServerSettings.local("t", 0.5), Device.cpu())) {
            assertThat(server.offer(2, null)).isTrue();
            // the job promotes 1: the peers serve it, so this replica does too, keeping its newer canary
            assertThat(server.carryOut(decision(1, DeploymentDecision.Action.PROMOTE))).isTrue();
            assertThat(server.deployment()).isEqualTo(new PolicyServer.Deployment(1, 2, 0.5));
            // a rollback of a version that is not its canary changes nothing
            assertThat(server.carryOut(decision(1, DeploymentDecision.Action.ROLLBACK))).isFalse();
            // a promotion of a version it has as canary promotes it; one older than its stable changes nothing
            assertThat(server.carryOut(decision(2, DeploymentDecision.Action.PROMOTE))).isTrue();
            assertThat(server.deployment()).isEqualTo(new PolicyServer.Deployment(2, -1, 0.0));
            assertThat(server.carryOut(decision(1, DeploymentDecision.Action.PROMOTE))).isFalse();
            // a promoted version newer than a canary retires the canary
            assertThat(server.offer(1, null)).isTrue(); // (an old version re-announced, for the test)
            assertThat(server.carryOut(decision(3, DeploymentDecision.Action.PROMOTE))).isTrue();
            assertThat(server.deployment()).isEqualTo(new PolicyServer.Deployment(3, -1, 0.0));
        }
    }

    @Test
    void aTamperedOrHalfWrittenVersionIsRefusedAndServingContinues() throws Exception {
        Path root = tmp.resolve("tamper-registry");
        TestModels.copyTree(registry.root(), root);
        ModelRegistry reg = new ModelRegistry(root, 10);
        // v2: one byte of the weights flipped after publishing
        Path params = reg.open(ModelNames.POLICY, 2).resolve("lm.params");
        byte[] b = Files.readAllBytes(params);
        b[b.length / 2] ^= 0x5A;
        Files.write(params, b, StandardOpenOption.TRUNCATE_EXISTING);
        // v3: half-written — the weights file cut short
        Path params3 = reg.open(ModelNames.POLICY, 3).resolve("lm.params");
        byte[] b3 = Files.readAllBytes(params3);
        Files.write(params3, java.util.Arrays.copyOf(b3, b3.length / 2), StandardOpenOption.TRUNCATE_EXISTING);

        try (PolicyServer server = PolicyServer.start(reg, ServerSettings.local("t", 0.0), Device.cpu())) {
            // a checkpoint event whose digest does not match the manifest: refused
            assertThat(server.deploy(1, "0".repeat(64), false)).isFalse();
            assertThat(server.lastRefusal()).contains("digest");
            assertThat(server.deploy(1, reg.manifestSha256(ModelNames.POLICY, 1), false)).isTrue();
            assertThat(server.deploy(2, null, false)).isFalse();
            assertThat(server.lastRefusal()).contains("version 2").contains("lm.params");
            assertThat(server.deploy(3, null, false)).isFalse();
            assertThat(server.lastRefusal()).contains("version 3");
            assertThat(server.deployment().stable()).isEqualTo(1);
            assertThat(server.answer(List.of(new PolicyServer.Prompt("x", "how do i reset my password"))))
                    .allMatch(r -> r.policyVersion() == 1);
            assertThat(server.timeline()).extracting(PolicyServer.VersionEvent::kind).containsExactly("deploy", "refuse",
                    "deploy", "refuse", "refuse");
        }
    }

    @Test
    void theServerPinsWhatItServesWaitsForOrMayRollBackTo() {
        String holder = "pin-test-" + System.nanoTime();
        try (PolicyServer server = PolicyServer.start(registry, ServerSettings.local("", 0.5), Device.cpu())) {
            server.pinAs(holder);
            assertThat(server.deploy(1, null, false)).isTrue(); // canary 1
            assertThat(registry.pinned(ModelNames.POLICY)).contains(0L, 1L);
            assertThat(server.promote(1, "test")).isTrue(); // stable 1, 0 the rollback target
            assertThat(server.deploy(2, null, false)).isTrue();
            assertThat(registry.pinned(ModelNames.POLICY)).contains(0L, 1L, 2L);
        } finally {
            registry.pin(ModelNames.POLICY, holder, java.util.List.of()); // leave the shared registry as it was
        }
    }

    @Test
    void adminEndpointsNeedTheTokenAndChangeNothingWithoutIt() throws Exception {
        try (PolicyServer server = PolicyServer.start(registry, ServerSettings.local("s3cret", 0.5), Device.cpu());
                HttpApi api = new HttpApi(server, null, null)) {
            assertThat(server.deploy(1, null, false)).isTrue();
            PolicyServer.Deployment before = server.deployment();
            for (String token : new String[] {null, "wrong", "s3cret-not", ""}) {
                assertThat(get(api, "/admin/versions", token).statusCode()).isEqualTo(401);
                assertThat(post(api, "/admin/promote", "{}", token).statusCode()).isEqualTo(401);
                assertThat(post(api, "/admin/rollback", "{}", token).statusCode()).isEqualTo(401);
                assertThat(post(api, "/admin/deploy", "{\"version\":2}", token).statusCode()).isEqualTo(401);
                assertThat(server.deployment()).isEqualTo(before);
            }
            HttpResponse<String> versions = get(api, "/admin/versions", "s3cret");
            assertThat(versions.statusCode()).isEqualTo(200);
            JsonNode v = JSON.readTree(versions.body());
            assertThat(v.get("stable").asLong()).isEqualTo(0);
            assertThat(v.get("canary").asLong()).isEqualTo(1);
            assertThat(v.get("registry")).hasSize(4);
            assertThat(post(api, "/admin/promote", "{}", "s3cret").statusCode()).isEqualTo(200);
            assertThat(server.deployment()).isEqualTo(new PolicyServer.Deployment(1, -1, 0));
            assertThat(post(api, "/admin/rollback", "{}", "s3cret").statusCode()).isEqualTo(200);
            assertThat(server.deployment().stable()).isEqualTo(0);
            assertThat(post(api, "/admin/deploy", "{\"version\":99}", "s3cret").statusCode()).isEqualTo(409);
            // bad admin input is a 400 with the reason and changes nothing: never "version 0 for everyone"
            assertThat(server.deploy(1, null, false)).isTrue();
            PolicyServer.Deployment withCanary = server.deployment();
            for (String[] bad : new String[][] {{"/admin/promote", "{\"version\":\"abc\"}", "'version'"},
                    {"/admin/promote", "{\"version\":-3}", "'version'"}, {"/admin/promote", "{\"version\":1.5}", "'version'"},
                    {"/admin/promote", "{\"verison\":1}", "unknown field 'verison'"},
                    {"/admin/deploy", "{\"version\":\"1\"}", "'version'"}, {"/admin/deploy", "{}", "'version'"},
                    {"/admin/deploy", "{\"version\":1,\"canary\":\"no\"}", "'canary'"},
                    {"/admin/rollback", "{\"version\":0}", "unknown field 'version'"}, {"/admin/promote", "abc", "JSON"}}) {
                HttpResponse<String> r = post(api, bad[0], bad[1], "s3cret");
                assertThat(r.statusCode()).as("%s %s", bad[0], bad[1]).isEqualTo(400);
                assertThat(r.body()).as("%s %s", bad[0], bad[1]).contains(bad[2]);
                assertThat(server.deployment()).isEqualTo(withCanary);
            }
            // the chat API is open (loopback) and checks its input
            assertThat(post(api, "/v1/chat", "not json", null).statusCode()).isEqualTo(400);
            assertThat(post(api, "/v1/chat", "{\"text\":\"hi\"}", null).body()).contains("prompt");
            assertThat(get(api, "/v1/chat", null).statusCode()).isEqualTo(405);
            assertThat(post(api, "/v1/chat", "{\"prompt\":\"" + "word ".repeat(500) + "\"}", null).statusCode()).isEqualTo(400);
        }
        // no token configured: admin is off entirely
        try (PolicyServer server = PolicyServer.start(registry, ServerSettings.local("", 0.5), Device.cpu());
                HttpApi api = new HttpApi(server, null, null)) {
            HttpResponse<String> r = post(api, "/admin/deploy", "{\"version\":1}", "");
            assertThat(r.statusCode()).isEqualTo(401);
            assertThat(r.body()).contains("server.admin-token");
            assertThat(server.deployment().stable()).isEqualTo(0);
        }
    }

    @Test
    void clientsThatNeverFinishTheirRequestDoNotStopHealthChecksOrChat() throws Exception {
        List<java.net.Socket> slow = new ArrayList<>();
        try (PolicyServer server = PolicyServer.start(registry, ServerSettings.local("", 0.5), Device.cpu());
                HttpApi api = new HttpApi(server, null, null)) {
            // 16 that send their headers and part of a body, 16 that stop in the middle of their headers
            for (int i = 0; i < 32; i++) {
                java.net.Socket sock = new java.net.Socket("127.0.0.1", api.port());
                String request = i % 2 == 0
                        ? "POST /v1/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"prompt\":"
                        : "POST /v1/chat HTTP/1.1\r\nHost: x\r\nContent-";
                sock.getOutputStream().write(request.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                sock.getOutputStream().flush();
                slow.add(sock);
            }
            Thread.sleep(500); // let the server take them all up
            HttpClient patient = HttpClient.newBuilder().connectTimeout(java.time.Duration.ofSeconds(30)).build();
            HttpResponse<String> health = patient.send(HttpRequest.newBuilder(URI.create(api.url() + "healthz"))
                    .timeout(java.time.Duration.ofSeconds(30)).GET().build(), HttpResponse.BodyHandlers.ofString());
            assertThat(health.statusCode()).isEqualTo(200);
            HttpResponse<String> chat = patient.send(HttpRequest.newBuilder(URI.create(api.url() + "v1/chat"))
                    .timeout(java.time.Duration.ofSeconds(30)).POST(HttpRequest.BodyPublishers.ofString(
                            "{\"prompt\":\"how do I sleep better\"}")).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(chat.statusCode()).isEqualTo(200);
            // and the server hangs up on them once the read limit has passed (here at most 60 s: the
            // limit is a JVM-wide setting, 10 s unless something set it before)
            for (java.net.Socket sock : slow) {
                assertThat(hungUp(sock)).as("a slow client is disconnected").isTrue();
            }
        } finally {
            for (java.net.Socket sock : slow) {
                sock.close();
            }
        }
    }

    @Test
    void prometheusScrapesChatOutcomesLatencyVersionsAndDeploymentEvents() throws Exception {
        try (PolicyServer server = PolicyServer.start(registry, ServerSettings.local("", 0.5), Device.cpu());
                HttpApi api = new HttpApi(server, null, null)) {
            assertThat(post(api, "/v1/chat", "{\"prompt\":\"how do I sleep better\"}", null).statusCode()).isEqualTo(200);
            assertThat(post(api, "/v1/chat", "not json", null).statusCode()).isEqualTo(400);
            assertThat(server.deploy(1, null, false)).isTrue(); // a canary
            HttpResponse<String> r = get(api, "/metrics", null);
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.headers().firstValue("Content-Type")).hasValueSatisfying(t -> assertThat(t).startsWith("text/plain; version=0.0.4"));
            assertThat(r.body()).contains("dualign_chat_requests_total{outcome=\"ok\",version=\"0\"} 1\n")
                    .contains("dualign_chat_requests_total{outcome=\"bad_request\",version=\"none\"} 1\n")
                    .contains("dualign_chat_latency_seconds_count 1\n")
                    .contains("dualign_serving_version{slot=\"stable\"} 0\n", "dualign_serving_version{slot=\"canary\"} 1\n")
                    .contains("dualign_canary_share 0.5\n")
                    .contains("# TYPE dualign_answers_total counter\n", "dualign_answers_total{version=\"0\"} 1\n")
                    .contains("dualign_version_events_total{event=\"canary\"} 1\n");
        }
    }

    /** Whether the server closed (or answered and closed) the connection within 60 s. */
    private static boolean hungUp(java.net.Socket sock) throws java.io.IOException {
        sock.setSoTimeout(60_000);
        try {
            int b = sock.getInputStream().read();
            return b == -1 || b == 'H';
        } catch (java.net.SocketTimeoutException e) {
            return false;
        } catch (java.net.SocketException e) {
            return true; // reset: closed with our unread bytes still in its buffer
        }
    }

    @Test
    void requestsCounterIsPerVersion() {
        AtomicInteger n = new AtomicInteger();
        try (PolicyServer server = PolicyServer.start(registry, ServerSettings.local("t", 0.0), Device.cpu())) {
            server.addListener(e -> n.incrementAndGet());
            server.answer(List.of(new PolicyServer.Prompt("a", "how do i reset my password")));
            server.deploy(2, null, false);
            server.answer(List.of(new PolicyServer.Prompt("b", "how do i reset my password"),
                    new PolicyServer.Prompt("c", "how do i reset my password")));
            assertThat(server.answeredPerVersion()).containsExactly(Map.entry(0L, 1L), Map.entry(2L, 2L));
            assertThat(n.get()).isEqualTo(1);
        }
    }

    @Test
    void referenceSamplesAreMadeInTheBackgroundAndStopOnceTheOneShotSolveHasItsPrompts() throws Exception {
        // every prompt picked for the reference, 4 samples each, until 3 prompts are sampled
        ServerSettings s = new ServerSettings("127.0.0.1", 0, "t", 0.0, 0, 1.0, 4, 8, 1.0, 30_000, 0, 1, 64,
                ServerSettings.DEFAULT_MODEL, null, 1.0, 3);
        List<dev.dualign.core.event.ResponseEvent> sent = new CopyOnWriteArrayList<>();
        try (PolicyServer server = PolicyServer.start(registry, s, Device.cpu());
                HttpApi api = new HttpApi(server, sent::addAll, null)) {
            for (int i = 0; i < 12; i++) {
                HttpResponse<String> r = post(api, "/v1/chat", "{\"prompt\":\"how do i sleep better " + i + "\"}", null);
                assertThat(r.statusCode()).isEqualTo(200);
                // the user's answer does not wait for its reference samples
                assertThat(JSON.readTree(r.body()).get("policyVersion").asLong()).isZero();
            }
            long until = System.nanoTime() + 60_000_000_000L;
            while (server.referenceSampling() && System.nanoTime() < until) {
                Thread.sleep(20);
            }
            assertThat(server.referenceSampling()).as("stopped at its target").isFalse();
            Thread.sleep(200); // the last batch's events reach the sink
            Map<String, Long> perPrompt = new HashMap<>();
            sent.stream().filter(dev.dualign.core.event.ResponseEvent::isReference)
                    .forEach(e -> perPrompt.merge(e.promptId(), 1L, Long::sum));
            assertThat(perPrompt).hasSizeGreaterThanOrEqualTo(3).allSatisfy((id, n) -> assertThat(n).isEqualTo(4L));
            assertThat(server.referenceSamplesMade()).isEqualTo(4L * perPrompt.size());
            long made = server.referenceSamplesMade();
            for (int i = 0; i < 5; i++) {
                post(api, "/v1/chat", "{\"prompt\":\"how do i sleep better\"}", null);
            }
            Thread.sleep(300);
            assertThat(server.referenceSamplesMade()).as("none after the target").isEqualTo(made);
            assertThat(server.sampledForReference("any")).isFalse();
        }
    }
}
