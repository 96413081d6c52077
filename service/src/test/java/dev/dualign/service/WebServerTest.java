package dev.dualign.service;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpExchange;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

class WebServerTest {
    static WebServer web;
    static final HttpClient CLIENT = HttpClient.newHttpClient();

    static void answer(HttpExchange ex, String name) throws java.io.IOException {
        byte[] b = (name + " " + ex.getRequestURI().getPath()).getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(200, b.length);
        try (OutputStream o = ex.getResponseBody()) {
            o.write(b);
        }
    }

    @BeforeAll
    static void start() throws Exception {
        web = new WebServer("127.0.0.1", 0, WebServer.Limits.api(), "test-http");
        for (String p : new String[] {"/", "/v1/", "/v1/models", "/v1/chat", "/v1/chat/completions", "/healthz"}) {
            web.http().createContext(p, ex -> answer(ex, p));
        }
        web.start();
    }

    @AfterAll
    static void stop() {
        web.close();
    }

    static String get(String path) throws Exception {
        HttpResponse<String> r = CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + web.port() + path)).build(),
                HttpResponse.BodyHandlers.ofString());
        return r.statusCode() + " " + r.body();
    }

    @Test
    void theLongestContextPathWinsAsOnTheJdkServer() throws Exception {
        assertThat(get("/v1/models")).isEqualTo("200 /v1/models /v1/models");
        assertThat(get("/v1/models/gpt-4o")).isEqualTo("200 /v1/models /v1/models/gpt-4o");
        assertThat(get("/v1/chat")).isEqualTo("200 /v1/chat /v1/chat");
        assertThat(get("/v1/chat/completions")).isEqualTo("200 /v1/chat/completions /v1/chat/completions");
        assertThat(get("/v1/embeddings")).isEqualTo("200 /v1/ /v1/embeddings");
        assertThat(get("/healthz")).isEqualTo("200 /healthz /healthz");
        assertThat(get("/api/state")).isEqualTo("200 / /api/state");
    }

    @Test
    @Timeout(60)
    void pastItsSlotsAndItsWaitARequestGets503WithRetryAfterWhileHealthStillAnswers() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger inside = new AtomicInteger();
        try (WebServer small = new WebServer("127.0.0.1", 0,
                new WebServer.Limits(2, 1, Duration.ofMillis(300), Duration.ofSeconds(30), 1024), "test-small")) {
            small.http().createContext("/v1/slow", ex -> {
                inside.incrementAndGet();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                answer(ex, "slow");
            });
            small.http().createContext("/healthz", ex -> answer(ex, "health"));
            small.http().createContext("/admin/rollback", ex -> answer(ex, "admin"));
            small.start();
            URI slow = URI.create("http://127.0.0.1:" + small.port() + "/v1/slow");
            List<CompletableFuture<HttpResponse<String>>> held = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                held.add(CLIENT.sendAsync(HttpRequest.newBuilder(slow).build(), HttpResponse.BodyHandlers.ofString()));
            }
            while (inside.get() < 2) {
                Thread.sleep(5);
            }
            // the third waits for a slot and, none freeing, gets 503 when its wait ends; the fourth finds the wait full
            CompletableFuture<HttpResponse<String>> waiting = CLIENT.sendAsync(HttpRequest.newBuilder(slow).build(),
                    HttpResponse.BodyHandlers.ofString());
            while (small.shed() == 0 && !waiting.isDone()) {
                HttpResponse<String> r = CLIENT.send(HttpRequest.newBuilder(slow).build(), HttpResponse.BodyHandlers.ofString());
                assertThat(r.statusCode()).isEqualTo(503);
                assertThat(r.headers().firstValue("Retry-After")).contains("1");
            }
            HttpResponse<String> expired = waiting.get();
            assertThat(expired.statusCode()).isEqualTo(503);
            assertThat(expired.headers().firstValue("Retry-After")).contains("1");
            // health and admin are outside the limit: they answer while every slot is held
            for (String p : new String[] {"/healthz", "/admin/rollback"}) {
                HttpResponse<String> r = CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + small.port() + p)).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertThat(r.statusCode()).as(p).isEqualTo(200);
            }
            assertThat(inside.get()).isEqualTo(2);
            release.countDown();
            for (CompletableFuture<HttpResponse<String>> h : held) {
                assertThat(h.get().statusCode()).isEqualTo(200); // admitted requests are answered
            }
            assertThat(small.shed()).isGreaterThanOrEqualTo(2);
        }
    }

    @Test
    @Timeout(60)
    void aClientThatStopsSendingItsBodyIsCutAndFreesItsSlot() throws Exception {
        AtomicInteger failedReads = new AtomicInteger();
        AtomicInteger entered = new AtomicInteger();
        try (WebServer small = new WebServer("127.0.0.1", 0,
                new WebServer.Limits(1, 0, Duration.ofMillis(100), Duration.ofSeconds(1), 1024), "test-loris")) {
            small.http().createContext("/v1/echo", ex -> {
                entered.incrementAndGet();
                try {
                    byte[] body = ex.getRequestBody().readAllBytes();
                    answer(ex, "echo " + body.length);
                } catch (java.io.IOException e) {
                    failedReads.incrementAndGet();
                    throw e;
                }
            });
            small.start();
            try (Socket loris = new Socket("127.0.0.1", small.port())) {
                OutputStream o = loris.getOutputStream();
                o.write(("POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
                        .getBytes(StandardCharsets.US_ASCII));
                o.flush();
                while (entered.get() == 0) {
                    Thread.sleep(5);
                }
                // the one slot is the loris's until the server gives up on its body (a second later), then it is free again
                HttpResponse<String> r;
                do {
                    r = CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + small.port() + "/v1/echo"))
                            .POST(HttpRequest.BodyPublishers.ofString("hello")).build(), HttpResponse.BodyHandlers.ofString());
                    if (r.statusCode() == 503) {
                        assertThat(r.body()).contains("\"code\":\"overloaded\"");
                        Thread.sleep(50);
                    }
                } while (r.statusCode() == 503);
                assertThat(r.body()).isEqualTo("echo 5 /v1/echo");
                assertThat(failedReads.get()).isEqualTo(1);
            }
        }
    }

    @Test
    @Timeout(60)
    void anAnswerSlowerThanTheIdleTimeoutStillArrivesWhole() throws Exception {
        try (WebServer small = new WebServer("127.0.0.1", 0,
                new WebServer.Limits(1, 0, Duration.ofMillis(100), Duration.ofSeconds(1), 1024), "test-idle")) {
            small.http().createContext("/v1/slow", ex -> {
                ex.getRequestBody().readAllBytes();
                try {
                    Thread.sleep(3000); // an LLM thinking: no bytes either way for three idle timeouts
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                answer(ex, "late");
            });
            small.start();
            HttpResponse<String> r = CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + small.port() + "/v1/slow"))
                    .POST(HttpRequest.BodyPublishers.ofString("hello")).build(), HttpResponse.BodyHandlers.ofString());
            // Jetty applies the idle timeout to a request being handled only while a read or write waits
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("late /v1/slow");
        }
    }

    @Test
    @Timeout(60)
    void aClientThatTricklesItsBodyIsCut() throws Exception {
        AtomicInteger failedReads = new AtomicInteger();
        try (WebServer small = new WebServer("127.0.0.1", 0,
                new WebServer.Limits(1, 0, Duration.ofMillis(100), Duration.ofSeconds(30), 1024), "test-trickle")) {
            small.http().createContext("/v1/echo", ex -> {
                try {
                    byte[] body = ex.getRequestBody().readAllBytes();
                    answer(ex, "echo " + body.length);
                } catch (java.io.IOException e) {
                    failedReads.incrementAndGet();
                    throw e;
                }
            });
            small.start();
            try (Socket loris = new Socket("127.0.0.1", small.port())) {
                OutputStream o = loris.getOutputStream();
                o.write(("POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\na")
                        .getBytes(StandardCharsets.US_ASCII));
                o.flush();
                // a byte every 300 ms: never idle for the 30 s timeout, far below 1 KiB/s
                try {
                    while (failedReads.get() == 0) {
                        Thread.sleep(300);
                        o.write('b');
                        o.flush();
                    }
                } catch (java.io.IOException closed) {
                    // the server closed the connection: the read below still has to have failed
                }
                while (failedReads.get() == 0) {
                    Thread.sleep(20);
                }
                assertThat(failedReads.get()).isEqualTo(1);
            }
        }
    }

    @Test
    void withKeysTheApiAsksForOneAndHoldsEachClientToItsRateWhileHealthNeedsNone() throws Exception {
        String[] alice = ClientKeys.newKey("alice", 2);
        String[] bob = ClientKeys.newKey("bob", null);
        Path f = Files.createTempFile("keys", ".txt");
        Files.write(f, List.of(alice[1], bob[1]));
        try (WebServer keyed = new WebServer("127.0.0.1", 0, WebServer.Limits.api(),
                new WebServer.Access(ClientKeys.load(f), List.of()), "test-keys")) {
            keyed.http().createContext("/v1/", ex -> answer(ex, "api"));
            keyed.http().createContext("/healthz", ex -> answer(ex, "health"));
            keyed.start();
            String base = "http://127.0.0.1:" + keyed.port();
            HttpResponse<String> none = CLIENT.send(HttpRequest.newBuilder(URI.create(base + "/v1/models")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(none.statusCode()).isEqualTo(401);
            assertThat(none.body()).contains("\"code\":\"invalid_api_key\"");
            assertThat(none.headers().firstValue("WWW-Authenticate")).isPresent();
            HttpResponse<String> wrong = CLIENT.send(HttpRequest.newBuilder(URI.create(base + "/v1/models"))
                    .header("Authorization", "Bearer dk-0000").build(), HttpResponse.BodyHandlers.ofString());
            assertThat(wrong.statusCode()).isEqualTo(401);
            assertThat(CLIENT.send(HttpRequest.newBuilder(URI.create(base + "/healthz")).build(), HttpResponse.BodyHandlers.ofString())
                    .statusCode()).as("health needs no key").isEqualTo(200);
            // alice: 2 a minute, so the third at once is refused with when to come back; bob has no limit
            for (int i = 0; i < 2; i++) {
                assertThat(CLIENT.send(HttpRequest.newBuilder(URI.create(base + "/v1/models")).header("Authorization", "Bearer " + alice[0])
                        .build(), HttpResponse.BodyHandlers.ofString()).body()).isEqualTo("api /v1/models");
            }
            HttpResponse<String> limited = CLIENT.send(HttpRequest.newBuilder(URI.create(base + "/v1/models"))
                    .header("Authorization", "Bearer " + alice[0]).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(limited.statusCode()).isEqualTo(429);
            assertThat(limited.body()).contains("rate_limit_exceeded").contains("alice");
            assertThat(Integer.parseInt(limited.headers().firstValue("Retry-After").orElseThrow())).isBetween(1, 30);
            for (int i = 0; i < 5; i++) {
                assertThat(CLIENT.send(HttpRequest.newBuilder(URI.create(base + "/v1/models")).header("Authorization", "Bearer " + bob[0])
                        .build(), HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
            }
            assertThat(keyed.unauthorized()).isEqualTo(2);
            assertThat(keyed.rateLimited()).containsEntry("alice", 1L);
        } finally {
            Files.delete(f);
        }
    }

    @Test
    void corsIsOffUnlessOriginsAreNamed() throws Exception {
        for (List<String> origins : List.of(List.<String>of(), List.of("https://app.example"))) {
            try (WebServer w = new WebServer("127.0.0.1", 0, WebServer.Limits.api(), new WebServer.Access(null, origins), "test-cors")) {
                w.http().createContext("/v1/", ex -> answer(ex, "api"));
                w.start();
                URI u = URI.create("http://127.0.0.1:" + w.port() + "/v1/chat/completions");
                HttpResponse<String> pre = CLIENT.send(HttpRequest.newBuilder(u).method("OPTIONS", HttpRequest.BodyPublishers.noBody())
                        .header("Origin", "https://app.example").header("Access-Control-Request-Method", "POST").build(),
                        HttpResponse.BodyHandlers.ofString());
                HttpResponse<String> other = CLIENT.send(HttpRequest.newBuilder(u).header("Origin", "https://evil.example").build(),
                        HttpResponse.BodyHandlers.ofString());
                if (origins.isEmpty()) {
                    assertThat(pre.headers().firstValue("Access-Control-Allow-Origin")).as("off by default").isEmpty();
                } else {
                    assertThat(pre.headers().firstValue("Access-Control-Allow-Origin")).contains("https://app.example");
                }
                assertThat(other.headers().firstValue("Access-Control-Allow-Origin")).as("an origin not named").isEmpty();
            }
        }
    }

    @Test
    @Timeout(60)
    void closingAnswersWhatIsInProgressAndRefusesWhatComesAfter() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        WebServer w = new WebServer("127.0.0.1", 0, WebServer.Limits.api(), "test-drain");
        w.http().createContext("/v1/slow", ex -> {
            entered.countDown();
            try {
                Thread.sleep(1_500);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            answer(ex, "finished");
        });
        w.start();
        URI u = URI.create("http://127.0.0.1:" + w.port() + "/v1/slow");
        CompletableFuture<HttpResponse<String>> inProgress = CLIENT.sendAsync(HttpRequest.newBuilder(u).build(),
                HttpResponse.BodyHandlers.ofString());
        entered.await();
        Thread closer = new Thread(w::close);
        closer.start();
        HttpResponse<String> r = inProgress.get();
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("finished /v1/slow");
        closer.join();
        // after close nothing is taken
        assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> CLIENT.send(HttpRequest.newBuilder(u).build(),
                HttpResponse.BodyHandlers.ofString()))).isInstanceOf(java.io.IOException.class);
    }
}
