package dev.dualign.serving;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.world.testing.TestModels;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The OpenAI-compatible API on real tiny models: the shapes of plain and streamed completions,
 * that what the client sees is what goes to Kafka (text, words, log-probabilities), OpenAI-style
 * errors naming the parameter, and routing that no client-chosen id or user steers.
 */
class OpenAiApiTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PROMPT = "how do i reset my password";

    @TempDir
    static Path tmp;

    static ModelRegistry registry;
    static HttpClient client = HttpClient.newHttpClient();
    static PolicyServer server;
    static HttpApi api;
    static final List<ResponseEvent> sent = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        registry = TestModels.registryWithVersions(tmp.resolve("registry"), 1);
        server = PolicyServer.start(registry, ServerSettings.local("t", 0.5), Device.cpu());
        assertThat(server.deploy(1, null, false)).isTrue(); // canary v1 answers half the traffic
        api = new HttpApi(server, sent::addAll, null);
    }

    @AfterAll
    static void stop() {
        api.close();
        server.close();
    }

    private static HttpResponse<String> send(String method, String path, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(api.url() + path.substring(1)));
        b = body == null ? b.method(method, HttpRequest.BodyPublishers.noBody()) : b.method(method, HttpRequest.BodyPublishers.ofString(body));
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode ok(HttpResponse<String> r) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body());
    }

    private static List<ResponseEvent> sentFor(String promptId, int n) throws InterruptedException {
        long until = System.currentTimeMillis() + 10_000;
        while (System.currentTimeMillis() < until) {
            List<ResponseEvent> mine = sent.stream().filter(e -> e.promptId().equals(promptId)).toList();
            if (mine.size() >= n) {
                return mine;
            }
            Thread.sleep(10); // the sink runs after the answer is handed out
        }
        return sent.stream().filter(e -> e.promptId().equals(promptId)).toList();
    }

    @Test
    void aThreeTurnConversationIsLoggedWholeAndScoredWithEveryTurn() throws Exception {
        String first = "i feel sad and alone today";
        JsonNode r = ok(send("POST", "/v1/chat/completions", """
                {"messages":[{"role":"user","content":"%s"},{"role":"assistant","content":"i am sorry to hear that"},
                 {"role":"user","content":"%s"}],"max_tokens":6}""".formatted(first, PROMPT)));
        ResponseEvent e = sentFor(r.get("id").asText(), 1).get(0);
        assertThat(e.prompt()).isEqualTo(PROMPT); // the last user message, as before
        assertThat(e.messages()).extracting(dev.dualign.core.event.ChatMessage::role).containsExactly("user", "assistant", "user");
        assertThat(e.messages().get(0).content()).isEqualTo(first);
        // the scorers read all three turns: change only the first one and the score moves
        ResponseEvent other = e.withConversation(List.of(dev.dualign.core.event.ChatMessage.of("user", "what time is it in paris"),
                e.messages().get(1), e.messages().get(2)), null);
        try (dev.dualign.model.scorer.ScorerSet scorers = dev.dualign.model.scorer.ScorerSet.open(registry, List.of("harmless"),
                Device.cpu())) {
            var pairs = List.of(dev.dualign.model.scorer.Scorer.PromptResponse.of(e),
                    dev.dualign.model.scorer.Scorer.PromptResponse.of(other),
                    new dev.dualign.model.scorer.Scorer.PromptResponse(e.prompt(), e.response()));
            for (String name : List.of("reward", "harmless")) {
                double[] s = scorers.score(pairs).get(name);
                assertThat(s[0]).as("%s: another first turn", name).isNotEqualTo(s[1]);
                assertThat(s[0]).as("%s: the last user message alone", name).isNotEqualTo(s[2]);
            }
        }
    }

    @Test
    void listsItsOneModelAndRefusesOthersWithAnOpenAiError() throws Exception {
        JsonNode list = ok(send("GET", "/v1/models", null));
        assertThat(list.get("object").asText()).isEqualTo("list");
        assertThat(list.get("data")).hasSize(1);
        assertThat(list.get("data").get(0).get("id").asText()).isEqualTo("dualign");
        assertThat(ok(send("GET", "/v1/models/dualign", null)).get("object").asText()).isEqualTo("model");
        HttpResponse<String> missing = send("GET", "/v1/models/gpt-4o", null);
        assertThat(missing.statusCode()).isEqualTo(404);
        JsonNode err = JSON.readTree(missing.body()).get("error");
        assertThat(err.get("code").asText()).isEqualTo("model_not_found");
        assertThat(err.get("type").asText()).isEqualTo("invalid_request_error");
    }

    @Test
    void aPlainCompletionShowsWhatGoesToKafkaWordForWord() throws Exception {
        JsonNode r = ok(send("POST", "/v1/chat/completions", """
                {"model":"dualign","messages":[{"role":"system","content":"be kind"},{"role":"user","content":"%s"}],
                 "n":3,"max_tokens":6,"temperature":0.9,"top_p":0.95,"logprobs":true,"user":"u1"}""".formatted(PROMPT)));
        assertThat(r.get("object").asText()).isEqualTo("chat.completion");
        assertThat(r.get("id").asText()).startsWith("chatcmpl-");
        assertThat(r.get("choices")).hasSize(3);
        long version = r.get("dualign").get("policyVersion").asLong();
        assertThat(r.get("system_fingerprint").asText()).isEqualTo("dualign-v" + version);
        List<ResponseEvent> events = sentFor(r.get("id").asText(), 3);
        assertThat(events).hasSize(3); // one exchange per choice, keyed by the completion's id
        int words = 0;
        for (int i = 0; i < 3; i++) {
            JsonNode c = r.get("choices").get(i);
            assertThat(c.get("index").asInt()).isEqualTo(i);
            String content = c.get("message").get("content").asText();
            ResponseEvent e = events.stream().filter(x -> x.id().equals(r.get("dualign").get("responseIds").get(c.get("index").asInt())
                    .asText())).findFirst().orElseThrow();
            assertThat(e.response()).isEqualTo(content);
            assertThat(e.prompt()).isEqualTo(PROMPT); // the last user message; the system message is not the prompt
            assertThat(e.policyVersion()).isEqualTo(version);
            List<String> tokens = new ArrayList<>();
            double sum = 0;
            for (JsonNode t : c.get("logprobs").get("content")) {
                tokens.add(t.get("token").asText());
                sum += t.get("logprob").asDouble();
                assertThat(t.get("logprob").asDouble()).isLessThanOrEqualTo(0);
            }
            assertThat(String.join(" ", tokens)).isEqualTo(content);
            assertThat(tokens.size()).isLessThanOrEqualTo(6);
            String finish = c.get("finish_reason").asText();
            assertThat(finish).isIn("stop", "length");
            if (finish.equals("length")) {
                assertThat(tokens).hasSize(6);
                // no EOS: the event's log π is the sum of the words' log-probabilities
                assertThat(e.logprob()).isCloseTo(sum, Offset.offset(1e-4));
            } else {
                assertThat(e.logprob()).isLessThan(sum + 1e-6); // plus log π(EOS) < 0
            }
            words += tokens.size();
        }
        assertThat(r.get("usage").get("completion_tokens").asInt()).isEqualTo(words);
        assertThat(r.get("usage").get("prompt_tokens").asInt()).isEqualTo(PROMPT.split(" ").length);
    }

    @Test
    void aStreamedCompletionSendsEachWordThenFinishesWithUsageAndDone() throws Exception {
        HttpResponse<String> resp = send("POST", "/v1/chat/completions", """
                {"messages":[{"role":"user","content":[{"type":"text","text":"%s"}]}],"n":2,"max_tokens":8,"stream":true,
                 "stream_options":{"include_usage":true},"logprobs":true}""".formatted(PROMPT));
        assertThat(resp.statusCode()).isEqualTo(200);
        assertThat(resp.headers().firstValue("Content-Type").orElse("")).startsWith("text/event-stream");
        List<String> data = resp.body().lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
        assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
        StringBuilder[] text = {new StringBuilder(), new StringBuilder()};
        String[] finish = new String[2];
        JsonNode usage = null;
        String id = null;
        for (String d : data.subList(0, data.size() - 1)) {
            JsonNode c = JSON.readTree(d);
            assertThat(c.get("object").asText()).isEqualTo("chat.completion.chunk");
            id = c.get("id").asText();
            for (JsonNode ch : c.get("choices")) {
                int i = ch.get("index").asInt();
                text[i].append(ch.get("delta").path("content").asText(""));
                if (!ch.get("finish_reason").isNull()) {
                    finish[i] = ch.get("finish_reason").asText();
                }
            }
            if (c.hasNonNull("usage")) {
                usage = c.get("usage");
                assertThat(c.get("choices")).isEmpty();
            }
        }
        assertThat(finish).allSatisfy(f -> assertThat(f).isIn("stop", "length"));
        List<ResponseEvent> events = sentFor(id, 2);
        assertThat(events).hasSize(2);
        // what streamed is exactly what was logged, choice by choice (order of events is the choices' order)
        assertThat(List.of(text[0].toString(), text[1].toString())).containsExactlyInAnyOrderElementsOf(
                events.stream().map(ResponseEvent::response).toList());
        int words = (text[0].isEmpty() ? 0 : text[0].toString().split(" ").length) + (text[1].isEmpty() ? 0 : text[1].toString().split(" ").length);
        assertThat(usage).isNotNull();
        assertThat(usage.get("completion_tokens").asInt()).isEqualTo(words);
    }

    @Test
    void badRequestsGetOpenAiErrorsNamingTheParameter() throws Exception {
        String user = "\"messages\":[{\"role\":\"user\",\"content\":\"" + PROMPT + "\"}]";
        Object[][] cases = {
            {"{" + user + ",\"temperature\":3}", 400, "temperature"},
            {"{" + user + ",\"top_p\":1.5}", 400, "top_p"},
            {"{" + user + ",\"max_tokens\":41}", 400, "max_tokens"},
            {"{" + user + ",\"n\":0}", 400, "n"},
            {"{" + user + ",\"stream\":\"yes\"}", 400, "stream"},
            {"{" + user + ",\"tools\":[{\"type\":\"function\"}]}", 400, "tools"},
            {"{" + user + ",\"top_logprobs\":3}", 400, "top_logprobs"},
            {"{" + user + ",\"model\":\"gpt-4o\"}", 404, "model"},
            {"{\"messages\":[]}", 400, "messages"},
            {"{\"messages\":[{\"role\":\"assistant\",\"content\":\"hi\"}]}", 400, "messages"},
            {"{\"messages\":[{\"role\":\"robot\",\"content\":\"hi\"}]}", 400, "messages[0].role"},
            {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", 400, "messages[0].content[0]"},
            {"{\"messages\":[{\"role\":\"user\",\"content\":\"   \"}]}", 400, "messages"},
        };
        for (Object[] c : cases) {
            HttpResponse<String> r = send("POST", "/v1/chat/completions", (String) c[0]);
            assertThat(r.statusCode()).as("%s → %s", c[0], r.body()).isEqualTo(c[1]);
            JsonNode err = JSON.readTree(r.body()).get("error");
            assertThat(err.get("param").asText()).as(r.body()).isEqualTo(c[2]);
            assertThat(err.get("message").asText()).isNotBlank();
            assertThat(err.get("type").asText()).isEqualTo("invalid_request_error");
        }
        HttpResponse<String> notJson = send("POST", "/v1/chat/completions", "{not json");
        assertThat(notJson.statusCode()).isEqualTo(400);
        assertThat(JSON.readTree(notJson.body()).get("error").get("message").asText()).contains("not valid JSON");
        HttpResponse<String> get = send("GET", "/v1/chat/completions", null);
        assertThat(get.statusCode()).isEqualTo(405);
        assertThat(get.headers().firstValue("Allow")).contains("POST");
    }

    @Test
    void noClientChosenIdOrUserPicksTheVersionOrWhatIsPooled() throws Exception {
        // the canary takes half the traffic; a client repeating one id (or one user) still meets both
        // versions, because routing hashes a key the server makes per request
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<JsonNode>> chat = new ArrayList<>();
            List<Future<JsonNode>> completions = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                chat.add(pool.submit(() -> ok(send("POST", "/v1/chat", "{\"id\":\"same-id\",\"prompt\":\"" + PROMPT + "\"}"))));
                completions.add(pool.submit(() -> ok(send("POST", "/v1/chat/completions",
                        "{\"user\":\"same-user\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\"" + PROMPT + "\"}]}"))));
            }
            Set<Long> viaChat = new HashSet<>();
            Set<Long> viaCompletions = new HashSet<>();
            Set<String> promptIds = new HashSet<>();
            for (Future<JsonNode> f : chat) {
                JsonNode a = f.get();
                viaChat.add(a.get("policyVersion").asLong());
                // the server names each prompt (estimates group by it); the client's id is kept as a label
                promptIds.add(a.get("promptId").asText());
                assertThat(a.path("clientId").asText()).as(a.toString()).isEqualTo("same-id");
            }
            assertThat(promptIds).hasSize(40).allSatisfy(id -> assertThat(id).startsWith("chat-"));
            long until = System.nanoTime() + 10_000_000_000L; // the sink runs after the answer is handed out
            while (sent.stream().filter(e -> "same-id".equals(e.clientId()) && e.source().equals("policy")).count() < 40
                    && System.nanoTime() < until) {
                Thread.sleep(10);
            }
            List<ResponseEvent> labelled = sent.stream().filter(e -> "same-id".equals(e.clientId()) && e.source().equals("policy")).toList();
            assertThat(labelled).hasSize(40).extracting(ResponseEvent::promptId).containsExactlyInAnyOrderElementsOf(promptIds);
            for (Future<JsonNode> f : completions) {
                viaCompletions.add(f.get().get("dualign").get("policyVersion").asLong());
            }
            assertThat(viaChat).containsExactlyInAnyOrder(0L, 1L);
            assertThat(viaCompletions).containsExactlyInAnyOrder(0L, 1L);
        } finally {
            pool.shutdownNow();
        }
    }
}
