package dev.dualign.serving;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.testing.BadInputs;
import dev.dualign.core.testing.BadInputs.Input;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.serving.HttpFuzz.Req;
import dev.dualign.serving.HttpFuzz.Res;
import dev.dualign.world.testing.TestModels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.AfterProperty;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Fuzz (issue #31): every endpoint of the policy server's HTTP face ({@link HttpApi}), 10,000
 * generated bad or odd requests each, on one real server with the tiny models and at most two words
 * an answer: bodies from {@link BadInputs}, other methods, odd paths and headers, and malformed HTTP
 * on raw sockets. Every answer keeps {@link HttpFuzz#checkAnswer}'s rule, the server answers a valid
 * request after each property, and every chat answered 200 reaches the sink (nothing lost).
 */
class HttpApiFuzzTest {
    static final String TOKEN = "fuzz-admin-token";
    static final String PROMPT = "how do i reset my password";

    static PolicyServer server;
    static HttpApi api;
    static HttpFuzz fuzz;
    static final AtomicLong sunk = new AtomicLong();
    static final AtomicLong answered = new AtomicLong();

    @BeforeContainer
    static void start() throws Exception {
        Path tmp = Files.createTempDirectory("http-fuzz");
        ModelRegistry registry = TestModels.registryWithVersions(tmp.resolve("registry"), 1);
        // two words at most an answer: the fuzz is about what comes in, not about generating
        ServerSettings s = new ServerSettings("127.0.0.1", 0, TOKEN, 0.5, 0, 0.0, 4, 2, 1.0, 30_000, 0, 1, 64,
                ServerSettings.DEFAULT_MODEL, null);
        server = PolicyServer.start(registry, s, Device.cpu());
        assertThat(server.deploy(1, null, false)).isTrue();
        api = new HttpApi(server, events -> sunk.addAndGet(events.size()), () -> Map.of("fuzz", true), () -> null);
        fuzz = new HttpFuzz("policy-server", "http://127.0.0.1:" + api.port());
    }

    @AfterContainer
    static void stop() {
        if (fuzz != null) {
            fuzz.print();
        }
        if (api != null) {
            api.close();
        }
        if (server != null) {
            server.close();
        }
    }

    /** After each property: the server still answers, and every chat answered reached the sink. */
    @AfterProperty
    void stillUp() throws Exception {
        Res models = fuzz.send(new Req("GET", "/v1/models", Map.of(), null));
        assertThat(models.status()).as("the server answers after the fuzz").isEqualTo(200);
        Res chat = fuzz.send(new Req("POST", "/v1/chat", Map.of("Content-Type", "application/json"),
                ("{\"prompt\":\"" + PROMPT + "\"}").getBytes(StandardCharsets.UTF_8)));
        assertThat(chat.status()).as("a valid chat after the fuzz: %s", new String(chat.body(), StandardCharsets.UTF_8)).isEqualTo(200);
        answered.incrementAndGet();
        long until = System.nanoTime() + 10_000_000_000L;
        while (sunk.get() < answered.get() && System.nanoTime() < until) {
            Thread.sleep(10);
        }
        assertThat(sunk.get()).as("responses that reached the sink, of those answered").isEqualTo(answered.get());
    }

    private static ObjectNode json(String text) {
        try {
            return (ObjectNode) HttpFuzz.JSON.readTree(text);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static Arbitrary<Req> bodies(String method, String path, ObjectNode valid, String auth) {
        return Combinators.combine(HttpFuzz.methodMostly(method), HttpFuzz.headers(auth), BadInputs.around(valid),
                Arbitraries.integers().between(0, 19)).as((m, h, in, odd) -> new Req(m, odd == 0 ? path + "?x=%00&stream=true" : path, h,
                        in.bytes()));
    }

    /** The responses a 200 chat answer logs, known by its shape: one for /v1/chat, one per choice for completions. */
    private static void countAnswered(Res r) throws Exception {
        if (r.status() != 200) {
            return;
        }
        String body = new String(r.body(), StandardCharsets.UTF_8);
        if (r.contentType().startsWith("text/event-stream")) {
            answered.addAndGet(body.lines().filter(l -> l.startsWith("data: {") && l.contains("\"finish_reason\":\"")).count());
            return;
        }
        if (!r.contentType().startsWith("application/json") || body.isEmpty()) {
            return;
        }
        JsonNode n = HttpFuzz.JSON.readTree(body);
        if (n.path("object").asText().equals("chat.completion")) {
            answered.addAndGet(n.path("choices").size());
        } else if (n.path("response").isTextual() && n.has("promptId")) {
            answered.incrementAndGet();
        }
    }

    @Provide
    Arbitrary<Req> chat() {
        return bodies("POST", "/v1/chat", json("{\"prompt\":\"" + PROMPT + "\",\"id\":\"client-1\"}"), null);
    }

    @Property(tries = HttpFuzz.TRIES)
    void postChat(@ForAll("chat") Req q) throws Exception {
        countAnswered(fuzz.check("POST /v1/chat", q));
    }

    @Provide
    Arbitrary<Req> completions() {
        return bodies("POST", "/v1/chat/completions", json("{\"model\":\"dualign\",\"messages\":[{\"role\":\"system\",\"content\":\"be kind\"},"
                + "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"" + PROMPT + "\"}]},{\"role\":\"assistant\",\"content\":\"hi\"},"
                + "{\"role\":\"user\",\"content\":\"" + PROMPT + "\"}],\"max_tokens\":2,\"n\":2,\"temperature\":0.7,\"top_p\":0.9,"
                + "\"logprobs\":true,\"stream\":false,\"stream_options\":{\"include_usage\":true},\"user\":\"u1\"}"), null);
    }

    @Property(tries = HttpFuzz.TRIES)
    void postChatCompletions(@ForAll("completions") Req q) throws Exception {
        countAnswered(fuzz.check("POST /v1/chat/completions", q));
    }

    @Provide
    Arbitrary<Req> models() {
        return Combinators.combine(HttpFuzz.methodMostly("GET"), HttpFuzz.headers(null),
                Arbitraries.randomValue(r -> r.nextInt(3) == 0 ? "/v1/models" : HttpFuzz.oddPath(r, r.nextBoolean() ? "/v1/models/" : "/v1/models")),
                BadInputs.around(json("{\"model\":\"dualign\"}")))
                .as((m, h, p, in) -> new Req(m, p, h, m.equals("GET") ? null : in.bytes()));
    }

    @Property(tries = HttpFuzz.TRIES)
    void getModels(@ForAll("models") Req q) throws Exception {
        fuzz.check("GET /v1/models", q);
    }

    @Provide
    Arbitrary<Req> admin() {
        return Combinators.combine(Arbitraries.of("versions", "promote", "rollback", "deploy"), Arbitraries.integers().between(0, 9),
                HttpFuzz.headers("Bearer " + TOKEN), BadInputs.around(json("{\"version\":1,\"canary\":true}")))
                .as((route, m, h, in) -> {
                    String method = m == 0 ? HttpFuzz.METHODS[in.bytes().length % HttpFuzz.METHODS.length] : route.equals("versions") ? "GET" : "POST";
                    return new Req(method, "/admin/" + route, h, in.bytes());
                });
    }

    @Property(tries = HttpFuzz.TRIES)
    void admin(@ForAll("admin") Req q) throws Exception {
        countAnswered(fuzz.check("* /admin/{versions,promote,rollback,deploy}", q));
    }

    @Provide
    Arbitrary<Req> pages() {
        return Combinators.combine(HttpFuzz.methodMostly("GET"), HttpFuzz.headers(null),
                Arbitraries.of("/healthz", "/metrics", "/", "/index.html", "/dashboard.js", "/chart.umd.js", "/api/state"),
                Arbitraries.of("", "?", "?a=1", "?a=%00", "?format=json&x=" + "y".repeat(300), "#x"),
                BadInputs.around(json("{\"a\":1}")))
                .as((m, h, p, qs, in) -> new Req(m, p + qs, h, m.equals("GET") || m.equals("HEAD") ? null : in.bytes()));
    }

    @Property(tries = HttpFuzz.TRIES)
    void healthMetricsAndDashboard(@ForAll("pages") Req q) throws Exception {
        fuzz.check("* /healthz, /metrics, /, /api/state", q);
    }

    @Provide
    Arbitrary<Req> anywhere() {
        return Combinators.combine(Arbitraries.of(HttpFuzz.METHODS), HttpFuzz.headers(null),
                Arbitraries.randomValue(r -> HttpFuzz.oddPath(r, r.nextBoolean() ? "" : "/v1")), BadInputs.around(json("{\"prompt\":\"hi\"}")))
                .as((m, h, p, in) -> new Req(m, p, h, in.bytes()));
    }

    @Property(tries = HttpFuzz.TRIES)
    void oddPaths(@ForAll("anywhere") Req q) throws Exception {
        countAnswered(fuzz.check("* odd paths", q));
    }

    @Provide
    Arbitrary<byte[]> malformed() {
        return RawHttp.malformed(new String[] {"/v1/chat", "/v1/chat/completions", "/v1/models", "/admin/promote", "/healthz", "/api/state"},
                "{\"prompt\":\"" + PROMPT + "\"}");
    }

    @Property(tries = HttpFuzz.TRIES)
    void malformedHttp(@ForAll("malformed") byte[] request) throws Exception {
        countAnswered(RawHttp.check(fuzz, request));
    }
}
