package dev.dualign.serving;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.service.ClientKeys;
import dev.dualign.service.ServiceMetrics;
import dev.dualign.service.WebServer;
import dev.dualign.world.testing.TestModels;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code serve} as a vLLM-compatible upstream on real tiny models: a registry version loaded under
 * a name answers the requests that name it, every refusal (bad path, altered weights, a reused
 * name, too many) is a 400 that changes nothing, an unload lets a streamed request in flight finish
 * and then frees the version, and {@code /v1/models} lists each adapter with its parent.
 */
class AdapterApiTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PROMPT = "how do i reset my password";
    private static final String TOKEN = "t0ken";

    @TempDir
    static Path tmp;

    static ModelRegistry registry;
    static final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    /** Versions 1–3 as published, and 4 with one byte of its weights flipped after publishing. */
    @BeforeAll
    static void publish() throws Exception {
        registry = TestModels.registryWithVersions(tmp.resolve("registry"), 4);
        Path params = registry.root().resolve(ModelNames.POLICY).resolve("4").resolve("lm.params");
        byte[] b = Files.readAllBytes(params);
        b[b.length / 2] ^= 0x5A;
        Files.write(params, b, StandardOpenOption.TRUNCATE_EXISTING);
    }

    /** A server with its HTTP API, the reference serving and at most {@code maxAdapters} adapters. */
    record Served(PolicyServer server, HttpApi api, List<ResponseEvent> sent) implements AutoCloseable {
        @Override
        public void close() {
            api.close();
            server.close();
        }
    }

    static Served serve(int maxAdapters) throws Exception {
        return serve(maxAdapters, WebServer.Access.open());
    }

    static Served serve(int maxAdapters, WebServer.Access access) throws Exception {
        PolicyServer server = PolicyServer.start(registry, ServerSettings.local(TOKEN, 0.0).withMaxAdapters(maxAdapters), Device.cpu());
        List<ResponseEvent> sent = new CopyOnWriteArrayList<>();
        HttpApi api = new HttpApi(server, sent::addAll, null, () -> null, new ServiceMetrics(), WebServer.Limits.api(), access);
        return new Served(server, api, sent);
    }

    static HttpResponse<String> post(Served s, String path, String body, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.api().url() + path.substring(1))).timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> load(Served s, String name, String path) throws Exception {
        return post(s, "/v1/load_lora_adapter", JSON.createObjectNode().put("lora_name", name).put("lora_path", path).toString(), TOKEN);
    }

    static HttpResponse<String> unload(Served s, String name) throws Exception {
        return post(s, "/v1/unload_lora_adapter", JSON.createObjectNode().put("lora_name", name).toString(), TOKEN);
    }

    static HttpResponse<String> chat(Served s, String model) throws Exception {
        String m = model == null ? "" : "\"model\":\"" + model + "\",";
        return post(s, "/v1/chat/completions", "{" + m + "\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":\"" + PROMPT
                + "\"}]}", null);
    }

    static JsonNode models(Served s) throws Exception {
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(s.api().url() + "v1/models")).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body());
    }

    static List<String> ids(Served s) throws Exception {
        List<String> out = new ArrayList<>();
        models(s).get("data").forEach(m -> out.add(m.get("id").asText()));
        return out;
    }

    /** The error object of a refusal with {@code status}. */
    static JsonNode refused(HttpResponse<String> r, int status) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        return JSON.readTree(r.body()).get("error");
    }

    static long versionOf(HttpResponse<String> chat) throws Exception {
        assertThat(chat.statusCode()).as(chat.body()).isEqualTo(200);
        return JSON.readTree(chat.body()).get("dualign").get("policyVersion").asLong();
    }

    @Test
    void aVersionLoadedUnderANameAnswersTheRequestsThatNameItAndIsListedWithItsParent() throws Exception {
        try (Served s = serve(4)) {
            HttpResponse<String> ok = load(s, "policy-v1", "policy/1"); // as a checkpoint event's path names it
            assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
            assertThat(ok.body()).contains("policy-v1").contains("success");
            Path dir = registry.root().resolve(ModelNames.POLICY).resolve("2"); // or the version's directory
            assertThat(load(s, "policy-v2", dir.toString()).statusCode()).isEqualTo(200);

            HttpResponse<String> r = chat(s, "policy-v1");
            JsonNode answer = JSON.readTree(r.body());
            assertThat(versionOf(r)).isEqualTo(1);
            assertThat(answer.get("model").asText()).isEqualTo("policy-v1");
            assertThat(answer.get("system_fingerprint").asText()).isEqualTo("dualign-v1");
            assertThat(answer.get("dualign").get("adapter").asText()).isEqualTo("policy-v1");
            String id = answer.get("id").asText();
            long until = System.currentTimeMillis() + 10_000; // the sink runs after the answer is handed out
            while (s.sent().stream().noneMatch(e -> e.promptId().equals(id)) && System.currentTimeMillis() < until) {
                Thread.sleep(10);
            }
            assertThat(s.sent()).filteredOn(e -> e.promptId().equals(id)).singleElement()
                    .satisfies(e -> assertThat(e.policyVersion()).isEqualTo(1));
            assertThat(versionOf(chat(s, "policy-v2"))).isEqualTo(2);
            assertThat(versionOf(chat(s, null))).isZero(); // the deployment answers the rest, as before
            assertThat(versionOf(chat(s, "dualign"))).isZero();

            JsonNode data = models(s).get("data");
            assertThat(data).hasSize(3);
            assertThat(data.get(0).get("id").asText()).isEqualTo("dualign");
            assertThat(data.get(0).get("parent").isNull()).isTrue();
            assertThat(data.get(1).get("id").asText()).isEqualTo("policy-v1");
            assertThat(data.get(1).get("parent").asText()).isEqualTo("dualign");
            assertThat(data.get(1).get("root").asText()).isEqualTo("policy/1");
            assertThat(data.get(1).get("object").asText()).isEqualTo("model");
            assertThat(data.get(2).get("dualign").get("policyVersion").asLong()).isEqualTo(2);
            HttpResponse<String> one = client.send(HttpRequest.newBuilder(URI.create(s.api().url() + "v1/models/policy-v2")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(JSON.readTree(one.body()).get("parent").asText()).isEqualTo("dualign");
        }
    }

    @Test
    void aPathThatNamesNoVersionOfTheRegistryIsRefusedAndServingIsUnchanged() throws Exception {
        Path outside = tmp.resolve("elsewhere").resolve(ModelNames.POLICY).resolve("1");
        TestModels.copyTree(registry.root().resolve(ModelNames.POLICY).resolve("1"), outside);
        try (Served s = serve(4)) {
            assertThat(load(s, "ok", "policy/1").statusCode()).isEqualTo(200);
            for (String bad : new String[] {"policy/99", "/etc/passwd", "meta-llama/Llama-3-8B", outside.toString(), "reward/0"}) {
                JsonNode err = refused(load(s, "bad", bad), 400);
                assertThat(err.get("param").asText()).as(bad).isEqualTo("lora_path");
                assertThat(err.get("message").asText()).as(bad).contains(bad.equals("policy/99") ? "version 99" : "policy/<version>");
            }
            assertThat(ids(s)).containsExactly("dualign", "ok");
            assertThat(refused(chat(s, "bad"), 404).get("code").asText()).isEqualTo("model_not_found");
            assertThat(versionOf(chat(s, "ok"))).isEqualTo(1);
            assertThat(versionOf(chat(s, null))).isZero();
            assertThat(load(s, "bad", "policy/3").statusCode()).isEqualTo(200); // a load that failed never served: its name is free
        }
    }

    @Test
    void anAlteredCheckpointOrAWrongDigestIsRefusedAndServingIsUnchanged() throws Exception {
        try (Served s = serve(4)) {
            assertThat(load(s, "v1", "policy/1").statusCode()).isEqualTo(200);
            JsonNode err = refused(load(s, "v4", "policy/4"), 400);
            assertThat(err.get("message").asText()).contains("version 4").contains("lm.params").contains("checksum");
            String wrong = JSON.createObjectNode().put("lora_name", "v2").put("lora_path", "policy/2").put("sha256", "0".repeat(64))
                    .toString();
            assertThat(refused(post(s, "/v1/load_lora_adapter", wrong, TOKEN), 400).get("message").asText()).contains("digest");
            String right = JSON.createObjectNode().put("lora_name", "v2").put("lora_path", "policy/2")
                    .put("sha256", registry.manifestSha256(ModelNames.POLICY, 2)).toString();
            assertThat(ids(s)).containsExactly("dualign", "v1");
            assertThat(refused(chat(s, "v4"), 404).get("code").asText()).isEqualTo("model_not_found");
            assertThat(versionOf(chat(s, "v1"))).isEqualTo(1);
            assertThat(s.server().timeline()).extracting(PolicyServer.VersionEvent::kind).contains("adapter-refuse");
            assertThat(post(s, "/v1/load_lora_adapter", right, TOKEN).statusCode()).isEqualTo(200);
        }
    }

    @Test
    void aNameIsNeverReusedAndNoMoreThanMaxAdaptersAreLoaded() throws Exception {
        try (Served s = serve(2)) {
            assertThat(load(s, "a", "policy/1").statusCode()).isEqualTo(200);
            assertThat(refused(load(s, "a", "policy/2"), 400).get("message").asText()).contains("already loaded");
            assertThat(load(s, "b", "policy/2").statusCode()).isEqualTo(200);
            JsonNode full = refused(load(s, "c", "policy/3"), 400);
            assertThat(full.get("message").asText()).contains("at most 2").contains("server.max-adapters");
            assertThat(unload(s, "a").statusCode()).isEqualTo(200);
            assertThat(refused(unload(s, "a"), 404).get("param").asText()).isEqualTo("lora_name");
            // unloaded, "a" is never loaded again: a request that named it never meets other weights
            assertThat(refused(load(s, "a", "policy/3"), 400).get("message").asText()).contains("never reused");
            assertThat(load(s, "c", "policy/3").statusCode()).isEqualTo(200);
            assertThat(ids(s)).containsExactly("dualign", "b", "c");
            assertThat(refused(load(s, "dualign", "policy/1"), 400).get("message").asText()).contains("base model");
        }
    }

    @Test
    void anUnloadLetsAStreamInFlightFinishTurnsNewRequestsAwayAndThenFreesTheVersion() throws Exception {
        try (Served s = serve(4)) {
            assertThat(load(s, "s", "policy/1").statusCode()).isEqualTo(200);
            PolicyLm lm;
            try (Adapters.Lease l = s.server().adapters().lease("s")) {
                lm = l.policy().lm;
            }
            // the adapter's model is held here, so the streamed request cannot finish before the unload
            CountDownLatch held = new CountDownLatch(1);
            CountDownLatch letGo = new CountDownLatch(1);
            Thread holder = new Thread(() -> {
                synchronized (lm) {
                    held.countDown();
                    try {
                        letGo.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            });
            holder.start();
            held.await();
            HttpRequest streamed = HttpRequest.newBuilder(URI.create(s.api().url() + "v1/chat/completions")).POST(
                    HttpRequest.BodyPublishers.ofString("{\"model\":\"s\",\"stream\":true,\"max_tokens\":6,\"messages\":[{\"role\":\"user\","
                            + "\"content\":\"" + PROMPT + "\"}]}")).build();
            HttpResponse<InputStream> r = client.send(streamed, HttpResponse.BodyHandlers.ofInputStream());
            assertThat(r.statusCode()).isEqualTo(200);
            BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8));
            List<String> data = new ArrayList<>();
            String line;
            while (data.isEmpty() && (line = in.readLine()) != null) { // the role chunk: the request is in flight
                if (line.startsWith("data: ")) {
                    data.add(line.substring(6));
                }
            }
            try {
                HttpResponse<String> u = unload(s, "s"); // answers at once: it waits for no request
                assertThat(u.statusCode()).as(u.body()).isEqualTo(200);
                assertThat(refused(chat(s, "s"), 404).get("code").asText()).isEqualTo("model_not_found");
                assertThat(ids(s)).containsExactly("dualign");
                assertThat(lm.model().getNDManager().isOpen()).as("freed while a request still uses it").isTrue();
            } finally {
                letGo.countDown();
            }
            while ((line = in.readLine()) != null) {
                if (line.startsWith("data: ")) {
                    data.add(line.substring(6));
                }
            }
            assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
            boolean finished = false;
            for (String d : data.subList(0, data.size() - 1)) {
                JsonNode c = JSON.readTree(d);
                assertThat(c.has("error")).as(d).isFalse();
                assertThat(c.get("model").asText()).isEqualTo("s");
                finished |= c.get("choices").size() > 0 && !c.get("choices").get(0).get("finish_reason").isNull();
                if (c.hasNonNull("system_fingerprint")) {
                    assertThat(c.get("system_fingerprint").asText()).isEqualTo("dualign-v1");
                }
            }
            assertThat(finished).isTrue();
            long until = System.currentTimeMillis() + 10_000; // the request lets go of it after its last byte
            while (lm.model().getNDManager().isOpen() && System.currentTimeMillis() < until) {
                Thread.sleep(10);
            }
            assertThat(lm.model().getNDManager().isOpen()).as("freed once the last request on it ended").isFalse();
            assertThat(versionOf(chat(s, null))).isZero();
        }
    }

    @Test
    void loadingAndUnloadingNeedTheAdminTokenNotAClientKey() throws Exception {
        Path keys = tmp.resolve("keys-" + System.nanoTime());
        String[] key = ClientKeys.newKey("app", null);
        Files.writeString(keys, key[1] + "\n");
        try (Served s = serve(4, new WebServer.Access(ClientKeys.load(keys), List.of()))) {
            String body = "{\"lora_name\":\"x\",\"lora_path\":\"policy/1\"}";
            for (String token : new String[] {null, "wrong", key[0]}) {
                assertThat(post(s, "/v1/load_lora_adapter", body, token).statusCode()).as(token).isEqualTo(401);
            }
            assertThat(post(s, "/v1/load_lora_adapter", body, TOKEN).statusCode()).isEqualTo(200);
            assertThat(post(s, "/v1/unload_lora_adapter", "{\"lora_name\":\"x\"}", key[0]).statusCode()).isEqualTo(401);
            assertThat(s.server().adapters().isLoaded("x")).isTrue();
            HttpRequest.Builder chat = HttpRequest.newBuilder(URI.create(s.api().url() + "v1/chat/completions")).POST(
                    HttpRequest.BodyPublishers.ofString("{\"model\":\"x\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\""
                            + PROMPT + "\"}]}"));
            assertThat(send(chat).statusCode()).isEqualTo(401); // chat still asks for a client's key
            assertThat(versionOf(send(chat.header("Authorization", "Bearer " + key[0])))).isEqualTo(1);
            assertThat(post(s, "/v1/unload_lora_adapter", "{\"lora_name\":\"x\"}", TOKEN).statusCode()).isEqualTo(200);
        }
    }

    @Test
    void aServerThatEnforcesAtInferenceLoadsNoAdapter() {
        ServerSettings enforcing = ServerSettings.local(TOKEN, 0.0).withEnforce(new ServerSettings.Enforce(2, 0.1, List.of("harmless")));
        try (PolicyServer server = PolicyServer.start(registry, enforcing, Device.cpu())) {
            // every answer is chosen among the reference's there: an adapter would never answer
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> server.adapters().load("a", "policy/1", null))
                    .isInstanceOf(Adapters.Refused.class).hasMessageContaining("enforce");
            assertThat(server.adapters().loaded()).isEmpty();
        }
    }

    private static HttpResponse<String> send(HttpRequest.Builder b) throws Exception {
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }
}
