package dev.dualign.serving;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import dev.dualign.core.testing.BadInputs;
import dev.dualign.service.ServiceMetrics;
import dev.dualign.serving.HttpFuzz.Req;
import dev.dualign.serving.HttpFuzz.Res;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.Executors;
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
 * Fuzz (issue #31): every endpoint of the {@link Gateway}, 10,000 generated bad or odd requests
 * each, in front of a stand-in upstream (the JDK's server) that answers every request with a fixed
 * chat completion: chat completions, models, the other relayed routes, health and metrics, odd paths
 * and malformed HTTP. Every answer keeps {@link HttpFuzz#checkAnswer}'s rule (the upstream never
 * fails here, so no 502 or 504 is due either), the gateway answers after each property, and every
 * completion answered 200 is logged (nothing lost).
 */
class GatewayFuzzTest {
    static final byte[] COMPLETION = ("{\"id\":\"up-1\",\"object\":\"chat.completion\",\"model\":\"up\",\"choices\":[{\"index\":0,"
            + "\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}").getBytes(StandardCharsets.UTF_8);
    static final byte[] MODELS = "{\"object\":\"list\",\"data\":[{\"id\":\"up\",\"object\":\"model\"}]}".getBytes(StandardCharsets.UTF_8);

    static HttpServer upstream;
    static Gateway gateway;
    static HttpFuzz fuzz;
    static final AtomicLong logged = new AtomicLong();
    static final AtomicLong answered = new AtomicLong();

    @BeforeContainer
    static void start() throws Exception {
        // WebServer's class initialisation keeps HttpServer.create the JDK's own server (not Jetty's adapter)
        Class.forName("dev.dualign.service.WebServer");
        // the JDK server leaves Nagle on: each answer would wait ~40 ms for the gateway's delayed ACK
        System.setProperty("sun.net.httpserver.nodelay", "true");
        upstream = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        upstream.setExecutor(Executors.newFixedThreadPool(4));
        upstream.createContext("/", ex -> {
            ex.getRequestBody().readAllBytes();
            String path = ex.getRequestURI().getPath();
            byte[] b = path.endsWith("/chat/completions") ? COMPLETION : path.startsWith("/v1/models") ? MODELS : "{\"ok\":true}".getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(200, ex.getRequestMethod().equals("HEAD") ? -1 : b.length);
            if (!ex.getRequestMethod().equals("HEAD")) {
                ex.getResponseBody().write(b);
            }
            ex.close();
        });
        upstream.start();
        gateway = new Gateway(new Gateway.Settings("127.0.0.1", 0, URI.create("http://127.0.0.1:" + upstream.getAddress().getPort() + "/v1"),
                null, 7, 10_000), events -> logged.addAndGet(events.size()), new ServiceMetrics(), () -> null);
        fuzz = new HttpFuzz("gateway", "http://127.0.0.1:" + gateway.port());
    }

    @AfterContainer
    static void stop() {
        if (fuzz != null) {
            fuzz.print();
        }
        if (gateway != null) {
            gateway.close();
        }
        if (upstream != null) {
            upstream.stop(0);
        }
    }

    @AfterProperty
    void stillUp() throws Exception {
        Res r = fuzz.send(new Req("POST", "/v1/chat/completions", Map.of("Content-Type", "application/json"),
                "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}".getBytes(StandardCharsets.UTF_8)));
        assertThat(r.status()).as("the gateway answers after the fuzz").isEqualTo(200);
        countAnswered(r, "/v1/chat/completions");
        long until = System.nanoTime() + 10_000_000_000L;
        while (logged.get() < answered.get() && System.nanoTime() < until) {
            Thread.sleep(10);
        }
        // nothing lost: at least every completion answered on the chat route is logged (a path Jetty
        // normalises onto that route, e.g. with a dot segment, is logged too and not counted here)
        assertThat(logged.get()).as("completions logged, of those answered").isGreaterThanOrEqualTo(answered.get());
    }

    /** A relayed completion, known by its shape: the stand-in's one choice. */
    /**
     * Counts a completion the gateway must have logged: one answered on the chat completions route.
     * The stand-in answers a completion to any path ending in /chat/completions, and the gateway
     * relays other paths (/v1//chat/completions, …) unchanged without logging them, as it should.
     */
    private static void countAnswered(Res r, String path) throws Exception {
        String p = path == null ? "" : path.replaceAll("[?#].*$", "");
        if (!p.equals("/v1/chat/completions") && !p.equals("/v1/chat/completions/")) {
            return;
        }
        if (r.status() == 200 && r.contentType().startsWith("application/json") && r.body().length > 0) {
            JsonNode n = HttpFuzz.JSON.readTree(r.body());
            if (n.path("object").asText().equals("chat.completion")) {
                answered.addAndGet(n.path("choices").size());
            }
        }
    }

    private static ObjectNode json(String text) {
        try {
            return (ObjectNode) HttpFuzz.JSON.readTree(text);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Provide
    Arbitrary<Req> completions() {
        return Combinators.combine(HttpFuzz.methodMostly("POST"), HttpFuzz.headers(null),
                BadInputs.around(json("{\"model\":\"up\",\"messages\":[{\"role\":\"system\",\"content\":\"be kind\"},{\"role\":\"user\","
                        + "\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]},{\"role\":\"user\",\"content\":\"how do i reset my password\"}],"
                        + "\"max_tokens\":2,\"n\":1,\"stream\":false,\"logprobs\":true}")))
                .as((m, h, in) -> new Req(m, "/v1/chat/completions", h, in.bytes()));
    }

    @Property(tries = HttpFuzz.TRIES)
    void postChatCompletions(@ForAll("completions") Req q) throws Exception {
        countAnswered(fuzz.check("POST /v1/chat/completions", q), q.path());
        // each answered completion is logged (the sink runs just after the answer is written)
        long until = System.nanoTime() + 5_000_000_000L;
        while (logged.get() < answered.get() && System.nanoTime() < until) {
            Thread.sleep(2);
        }
        assertThat(logged.get()).as("logged, of those answered, after %s %s", q.headers(),
                q.body() == null ? "no body" : new String(q.body(), StandardCharsets.UTF_8)).isGreaterThanOrEqualTo(answered.get());
    }

    @Provide
    Arbitrary<Req> models() {
        return Combinators.combine(HttpFuzz.methodMostly("GET"), HttpFuzz.headers(null),
                Arbitraries.randomValue(r -> r.nextInt(3) == 0 ? "/v1/models" : HttpFuzz.oddPath(r, r.nextBoolean() ? "/v1/models/" : "/v1/models")))
                .as((m, h, p) -> new Req(m, p, h, m.equals("GET") || m.equals("HEAD") ? null : "{}".getBytes(StandardCharsets.UTF_8)));
    }

    @Property(tries = HttpFuzz.TRIES)
    void getModels(@ForAll("models") Req q) throws Exception {
        fuzz.check("GET /v1/models", q);
    }

    @Provide
    Arbitrary<Req> relayed() {
        return Combinators.combine(Arbitraries.of(HttpFuzz.METHODS), HttpFuzz.headers(null),
                Arbitraries.randomValue(r -> HttpFuzz.oddPath(r, new String[] {"/v1/embeddings", "/v1/completions", "/v1/responses", "/v1/files",
                    "/v1"}[r.nextInt(5)])),
                BadInputs.around(json("{\"model\":\"up\",\"input\":\"hello\",\"stream\":true}")))
                .as((m, h, p, in) -> new Req(m, p, h, in.bytes()));
    }

    @Property(tries = HttpFuzz.TRIES)
    void otherRoutesRelayed(@ForAll("relayed") Req q) throws Exception {
        countAnswered(fuzz.check("* /v1/* (relayed)", q), q.path());
    }

    @Provide
    Arbitrary<Req> ops() {
        return Combinators.combine(HttpFuzz.methodMostly("GET"), HttpFuzz.headers(null), Arbitraries.of("/healthz", "/metrics"),
                Arbitraries.of("", "?", "?a=%00", "#x"), BadInputs.around(json("{\"a\":1}")))
                .as((m, h, p, qs, in) -> new Req(m, p + qs, h, m.equals("GET") || m.equals("HEAD") ? null : in.bytes()));
    }

    @Property(tries = HttpFuzz.TRIES)
    void healthAndMetrics(@ForAll("ops") Req q) throws Exception {
        fuzz.check("* /healthz, /metrics", q);
    }

    @Provide
    Arbitrary<Req> anywhere() {
        return Combinators.combine(Arbitraries.of(HttpFuzz.METHODS), HttpFuzz.headers(null),
                Arbitraries.randomValue(r -> HttpFuzz.oddPath(r, "")), BadInputs.around(json("{\"messages\":[]}")))
                .as((m, h, p, in) -> new Req(m, p, h, in.bytes()));
    }

    @Property(tries = HttpFuzz.TRIES)
    void oddPaths(@ForAll("anywhere") Req q) throws Exception {
        countAnswered(fuzz.check("* odd paths", q), q.path());
    }

    @Provide
    Arbitrary<byte[]> malformed() {
        return RawHttp.malformed(new String[] {"/v1/chat/completions", "/v1/models", "/v1/embeddings", "/healthz"},
                "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    }

    @Property(tries = HttpFuzz.TRIES)
    void malformedHttp(@ForAll("malformed") byte[] request) throws Exception {
        String line = new String(request, StandardCharsets.ISO_8859_1).split("\r?\n", 2)[0];
        String[] parts = line.split(" ");
        countAnswered(RawHttp.check(fuzz, request), parts.length > 1 ? parts[1] : null);
    }
}
