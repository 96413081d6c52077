package dev.dualign.app;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.dualign.core.event.ChatMessage;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.ToolCall;
import dev.dualign.serving.Gateway;
import dev.dualign.service.ServiceMetrics;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * The gateway in front of a tool-using chatbot: a multi-turn request with tool turns is logged whole,
 * and an answer that only calls a tool is logged by its call, plain or streamed, not as empty text.
 */
class GatewayConversationTest {
    static final HttpClient CLIENT = HttpClient.newHttpClient();
    static final String REQUEST = """
            {"model":"m","messages":[
              {"role":"system","content":"you help with travel"},
              {"role":"user","content":[{"type":"text","text":"weather in"},{"type":"text","text":"paris?"}]},
              {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
                "function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"21 C"},
              {"role":"user","content":"and tomorrow?"}],
             "tools":[{"type":"function","function":{"name":"get_weather","parameters":{}}}]%s}""";
    static final String PLAIN = """
            {"id":"up-1","object":"chat.completion","choices":[{"index":0,"finish_reason":"tool_calls",
              "message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_2","type":"function",
                "function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\",\\"day\\":1}"}}]}}]}""";
    static final List<String> STREAM = List.of(
            "{\"id\":\"up-2\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"call_2\","
                    + "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}}]}",
            "{\"id\":\"up-2\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]}}]}",
            "{\"id\":\"up-2\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\",\\\"day\\\":1}\"}}]}}]}",
            "{\"id\":\"up-2\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}");

    @Test
    void toolTurnsAndAToolCallingAnswerAreLoggedWholePlainOrStreamed() throws Exception {
        HttpServer fake = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        fake.createContext("/v1/chat/completions", ex -> {
            boolean stream = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8).contains("\"stream\":true");
            StringBuilder sse = new StringBuilder();
            STREAM.forEach(d -> sse.append("data: ").append(d).append("\n\n"));
            byte[] b = (stream ? sse + "data: [DONE]\n\n" : PLAIN).getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", stream ? "text/event-stream" : "application/json");
            ex.sendResponseHeaders(200, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        fake.start();
        List<ResponseEvent> logged = new CopyOnWriteArrayList<>();
        try (Gateway g = new Gateway(new Gateway.Settings("127.0.0.1", 0,
                URI.create("http://127.0.0.1:" + fake.getAddress().getPort() + "/v1/"), null, 3, 5_000), logged::addAll,
                new ServiceMetrics(), () -> null)) {
            for (String extra : List.of("", ",\"stream\":true")) {
                HttpResponse<String> r = CLIENT.send(HttpRequest.newBuilder(URI.create(g.url() + "v1/chat/completions"))
                        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(REQUEST.formatted(extra)))
                        .build(), HttpResponse.BodyHandlers.ofString());
                assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            }
            long until = System.currentTimeMillis() + 10_000;
            while (logged.size() < 2 && System.currentTimeMillis() < until) {
                Thread.sleep(10);
            }
        } finally {
            fake.stop(0);
        }
        assertThat(logged).hasSize(2).allSatisfy(e -> {
            assertThat(e.prompt()).isEqualTo("and tomorrow?");
            assertThat(e.messages()).extracting(ChatMessage::role).containsExactly("system", "user", "assistant", "tool", "user");
            assertThat(e.messages().get(1).content()).isEqualTo("weather in paris?");
            assertThat(e.messages().get(2).toolCalls()).containsExactly(new ToolCall("call_1", "get_weather", "{\"city\":\"Paris\"}"));
            assertThat(e.messages().get(3).toolCallId()).isEqualTo("call_1");
            assertThat(e.response()).isEmpty();
            assertThat(e.toolCalls()).as("the answer is its call, plain or put together from the stream's pieces")
                    .containsExactly(new ToolCall("call_2", "get_weather", "{\"city\":\"Paris\",\"day\":1}"));
        });
        assertThat(logged).extracting(ResponseEvent::clientId).containsExactlyInAnyOrder("up-1", "up-2");
    }
}
