package dev.dualign.serving;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * A stand-in for vLLM, which cannot run here (no GPU): an HTTP server with vLLM's runtime LoRA
 * endpoints ({@code POST /v1/load_lora_adapter}, {@code /v1/unload_lora_adapter}, their error
 * answers), {@code /v1/models} with the adapters' {@code parent}, and chat completions answered by
 * the model the request names, saying which one: {@code "answered by <model>"}. A request naming an
 * adapter that is not loaded gets vLLM's 404. With {@code sglang} the adapter endpoints are at the
 * root instead of under {@code /v1}, as SGLang has them.
 */
final class VllmStandIn implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String BASE_MODEL = "acme/base-8b";

    final HttpServer http;
    final Set<String> adapters = ConcurrentHashMap.newKeySet();
    /** Every adapter call, in order: {@code load NAME PATH} or {@code unload NAME}. */
    final List<String> calls = new CopyOnWriteArrayList<>();
    /** The model each chat completion was answered by, in order. */
    final List<String> answeredBy = new CopyOnWriteArrayList<>();
    /** Requests being answered now, by model. */
    final Map<String, Integer> answering = new ConcurrentHashMap<>();
    /** A load answers this error (400 and its message) instead of loading, while set. */
    volatile String refuseLoads;
    /** A load takes this long before it answers. */
    volatile long loadDelayMs;
    /** Called inside each load, before it is answered (what the gateway routes meanwhile). */
    volatile Consumer<String> onLoad = name -> {};
    /** Chat answers for this model wait for {@link #release} while set. */
    volatile String holdModel;
    volatile CountDownLatch release = new CountDownLatch(0);
    final CountDownLatch held = new CountDownLatch(1);

    VllmStandIn(boolean sglang) throws IOException {
        http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        http.setExecutor(Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "vllm-stand-in");
            t.setDaemon(true);
            return t;
        }));
        String adapterRoot = sglang ? "" : "/v1";
        http.createContext(adapterRoot + "/load_lora_adapter", this::load);
        http.createContext(adapterRoot + "/unload_lora_adapter", this::unload);
        http.createContext("/v1/models", this::models);
        http.createContext("/v1/chat/completions", this::chat);
        http.start();
    }

    VllmStandIn() throws IOException {
        this(false);
    }

    /** The base URL the gateway is given, up to and including {@code /v1}. */
    URI url() {
        return URI.create("http://127.0.0.1:" + http.getAddress().getPort() + "/v1");
    }

    private void load(HttpExchange ex) throws IOException {
        JsonNode req = JSON.readTree(ex.getRequestBody());
        String name = req.path("lora_name").asText();
        calls.add("load " + name + " " + req.path("lora_path").asText());
        onLoad.accept(name);
        sleep(loadDelayMs);
        if (refuseLoads != null) {
            error(ex, 400, refuseLoads);
        } else if (!adapters.add(name)) {
            error(ex, 400, "The lora adapter '" + name + "' has already been loaded.");
        } else {
            send(ex, 200, "text/plain", "Success: LoRA adapter '" + name + "' added successfully.");
        }
    }

    private void unload(HttpExchange ex) throws IOException {
        String name = JSON.readTree(ex.getRequestBody()).path("lora_name").asText();
        calls.add("unload " + name);
        if (adapters.remove(name)) {
            send(ex, 200, "text/plain", "Success: LoRA adapter '" + name + "' removed successfully.");
        } else {
            error(ex, 404, "The lora adapter '" + name + "' cannot be found.");
        }
    }

    private void models(HttpExchange ex) throws IOException {
        ObjectNode out = JSON.createObjectNode().put("object", "list");
        ArrayNode data = out.putArray("data");
        data.addObject().put("id", BASE_MODEL).put("object", "model").putNull("parent");
        adapters.forEach(a -> data.addObject().put("id", a).put("object", "model").put("parent", BASE_MODEL));
        send(ex, 200, "application/json", JSON.writeValueAsString(out));
    }

    private void chat(HttpExchange ex) throws IOException {
        JsonNode req = JSON.readTree(ex.getRequestBody());
        String model = req.path("model").asText(BASE_MODEL);
        if (!model.equals(BASE_MODEL) && !adapters.contains(model)) {
            error(ex, 404, "The model `" + model + "` does not exist.");
            return;
        }
        answering.merge(model, 1, Integer::sum);
        try {
            if (model.equals(holdModel)) {
                held.countDown();
                await(release);
            }
            answeredBy.add(model);
            ObjectNode out = JSON.createObjectNode().put("id", "chatcmpl-" + answeredBy.size()).put("object", "chat.completion")
                    .put("model", model);
            var choices = out.putArray("choices");
            for (int i = 0; i < Math.max(1, req.path("n").asInt(1)); i++) { // n choices, as vLLM gives
                choices.addObject().put("index", i).put("finish_reason", "stop").putObject("message")
                        .put("role", "assistant").put("content", "answered by " + model);
            }
            send(ex, 200, "application/json", JSON.writeValueAsString(out));
        } finally {
            answering.merge(model, -1, Integer::sum);
        }
    }

    private static void error(HttpExchange ex, int status, String message) throws IOException {
        ObjectNode e = JSON.createObjectNode().put("object", "error").put("message", message)
                .put("type", status == 404 ? "NotFoundError" : "BadRequestError").put("code", status);
        send(ex, status, "application/json", JSON.writeValueAsString(e));
    }

    private static void send(HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void await(CountDownLatch l) {
        try {
            l.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        release.countDown();
        http.stop(0);
    }
}
