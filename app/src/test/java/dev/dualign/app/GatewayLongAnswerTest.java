package dev.dualign.app;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.service.ServiceMetrics;
import dev.dualign.serving.Gateway;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An LLM's answers through the gateway at their real pace, with the default timeouts: a plain
 * answer that takes 45 s arrives whole (before the split timeouts it was a 504 after 10 s), and a
 * stream whose chunks come 5 s apart arrives whole, both logged once.
 */
class GatewayLongAnswerTest {
    static final String COMPLETION = "{\"id\":\"slow-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
            + "\"message\":{\"role\":\"assistant\",\"content\":\"a considered answer\"},\"finish_reason\":\"stop\"}]}";

    @Test
    @Timeout(180)
    void aPlainAnswerOf45SecondsAndAStreamWithChunks5SecondsApartArriveWhole() throws Exception {
        HttpServer slow = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        slow.setExecutor(Executors.newFixedThreadPool(4));
        slow.createContext("/v1/chat/completions", ex -> {
            String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            try {
                if (body.contains("\"stream\":true")) {
                    ex.getResponseHeaders().set("Content-Type", "text/event-stream");
                    ex.sendResponseHeaders(200, 0);
                    try (OutputStream o = ex.getResponseBody()) {
                        String[] words = {"slow", " and", " steady", " wins"};
                        for (int i = 0; i < words.length; i++) {
                            Thread.sleep(5_000);
                            o.write(("data: {\"id\":\"slow-2\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":"
                                    + "{\"content\":\"" + words[i] + "\"},\"finish_reason\":" + (i == words.length - 1 ? "\"stop\"" : "null")
                                    + "}]}\n\n").getBytes(StandardCharsets.UTF_8));
                            o.flush();
                        }
                        o.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
                    }
                } else {
                    Thread.sleep(45_000); // thinking: not a byte for 45 s
                    byte[] b = COMPLETION.getBytes(StandardCharsets.UTF_8);
                    ex.getResponseHeaders().set("Content-Type", "application/json");
                    ex.sendResponseHeaders(200, b.length);
                    try (OutputStream o = ex.getResponseBody()) {
                        o.write(b);
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        slow.start();
        List<ResponseEvent> logged = new CopyOnWriteArrayList<>();
        // the defaults serve reads: 10 s to a stream's first byte and between chunks, 300 s for a whole answer
        Gateway.Settings settings = new Gateway.Settings("127.0.0.1", 0, URI.create("http://127.0.0.1:" + slow.getAddress().getPort() + "/v1"),
                null, 1, 10_000, 10_000, Gateway.Settings.DEFAULT_TOTAL_TIMEOUT_MS);
        HttpClient client = HttpClient.newHttpClient();
        try (Gateway g = new Gateway(settings, logged::addAll, new ServiceMetrics(), () -> null)) {
            URI chat = URI.create(g.url() + "v1/chat/completions");
            CompletableFuture<HttpResponse<String>> plain = client.sendAsync(HttpRequest.newBuilder(chat)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\",\"content\":\"think hard\"}]}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            CompletableFuture<HttpResponse<String>> stream = client.sendAsync(HttpRequest.newBuilder(chat)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\",\"content\":\"go slowly\"}],\"stream\":true}"))
                    .build(), HttpResponse.BodyHandlers.ofString());
            HttpResponse<String> s = stream.get();
            assertThat(s.statusCode()).isEqualTo(200);
            assertThat(s.body()).contains("slow", " and", " steady", " wins").contains("[DONE]");
            HttpResponse<String> p = plain.get();
            assertThat(p.statusCode()).as(p.body()).isEqualTo(200);
            assertThat(p.body()).isEqualTo(COMPLETION);
            long until = System.nanoTime() + 10_000_000_000L;
            while (logged.size() < 2 && System.nanoTime() < until) {
                Thread.sleep(20);
            }
            assertThat(logged).extracting(ResponseEvent::response)
                    .containsExactlyInAnyOrder("a considered answer", "slow and steady wins");
        } finally {
            slow.stop(0);
        }
    }
}
