package dev.dualign.serving;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import dev.dualign.service.OpsSurface;
import dev.dualign.serving.ChatCompletion.ApiError;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The models a client can name, vLLM's way: {@code GET /v1/models} lists the server's own model and
 * each runtime adapter (its {@code parent} the server's model), and {@code POST /v1/load_lora_adapter}
 * and {@code /v1/unload_lora_adapter} load a registry version under a name and unload it
 * ({@link Adapters}), so a gateway that drives vLLM drives {@code serve} alike. Loading and
 * unloading change what serves: they need the admin token, as {@code /admin/*} does.
 */
final class AdapterApi {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final PolicyServer server;
    private final long created = System.currentTimeMillis() / 1000;

    AdapterApi(PolicyServer server) {
        this.server = server;
    }

    /** {@code GET /v1/models} and {@code GET /v1/models/{id}}. */
    void models(HttpExchange ex) throws IOException {
        try {
            requireMethod(ex, "GET");
            String path = ex.getRequestURI().getPath();
            String model = server.settings().model();
            if (path.equals("/v1/models") || path.equals("/v1/models/")) {
                ObjectNode list = JSON.createObjectNode().put("object", "list");
                var data = list.putArray("data");
                data.add(modelObject(model, created, model, null));
                for (Adapters.Loaded a : server.adapters().loaded()) {
                    data.add(adapterObject(a));
                }
                OpsSurface.reply(ex, 200, list);
                return;
            }
            String id = path.startsWith("/v1/models/") ? path.substring("/v1/models/".length()) : path.substring(path.lastIndexOf('/') + 1);
            if (id.equals(model)) {
                OpsSurface.reply(ex, 200, modelObject(model, created, model, null));
                return;
            }
            for (Adapters.Loaded a : server.adapters().loaded()) {
                if (a.name().equals(id)) {
                    OpsSurface.reply(ex, 200, adapterObject(a));
                    return;
                }
            }
            throw ChatCompletion.modelNotFound(id, model);
        } catch (ApiError e) {
            OpenAiApi.error(ex, e);
        }
    }

    private ObjectNode adapterObject(Adapters.Loaded a) {
        ObjectNode o = modelObject(a.name(), a.created(), a.path(), server.settings().model());
        o.putObject("dualign").put("policyVersion", a.version());
        return o;
    }

    /** A model as vLLM lists it: {@code root} where it came from, {@code parent} the base model of an adapter (null for the base). */
    private static ObjectNode modelObject(String id, long created, String root, String parent) {
        ObjectNode o = JSON.createObjectNode().put("id", id).put("object", "model").put("created", created).put("owned_by", "dualign")
                .put("root", root);
        if (parent == null) {
            o.putNull("parent");
        } else {
            o.put("parent", parent);
        }
        return o;
    }

    /**
     * {@code POST /v1/load_lora_adapter {"lora_name": …, "lora_path": …}}: 200 once the version
     * answers requests that name it, 400 with the reason when it cannot be loaded (nothing changes).
     * Beyond vLLM, an optional {@code sha256} is checked against the version's manifest digest, as
     * a checkpoint event's is. Other fields are ignored, as vLLM ignores them.
     */
    void load(HttpExchange ex) throws IOException {
        try {
            JsonNode body = admin(ex);
            String name = text(body, "lora_name", true);
            String path = text(body, "lora_path", true);
            String sha = text(body, "sha256", false);
            if (sha != null && !sha.matches("[0-9a-f]{64}")) {
                throw ApiError.invalid("sha256", "'sha256' must be 64 lower-case hex characters (the manifest's digest)");
            }
            server.adapters().load(name, path, sha);
            success(ex, "Success: LoRA adapter '" + name + "' added successfully.");
        } catch (Adapters.Refused e) {
            OpenAiApi.error(ex, new ApiError(e.status, "invalid_request_error", e.param, e.code, e.getMessage()));
        } catch (ApiError e) {
            OpenAiApi.error(ex, e);
        }
    }

    /**
     * {@code POST /v1/unload_lora_adapter {"lora_name": …}}: 200 as soon as no new request is routed
     * to it (requests in flight on it finish first, then it is freed); 404 when it is not loaded.
     */
    void unload(HttpExchange ex) throws IOException {
        try {
            String name = text(admin(ex), "lora_name", true);
            server.adapters().unload(name);
            success(ex, "Success: LoRA adapter '" + name + "' removed successfully.");
        } catch (Adapters.Refused e) {
            OpenAiApi.error(ex, new ApiError(e.status, "invalid_request_error", e.param, e.code, e.getMessage()));
        } catch (ApiError e) {
            OpenAiApi.error(ex, e);
        }
    }

    /** Checks the method and the admin token, and returns the request's JSON body. */
    private JsonNode admin(HttpExchange ex) throws IOException {
        requireMethod(ex, "POST");
        String why = OpsSurface.unauthorized(ex, server.settings().adminToken());
        if (why != null) {
            throw new ApiError(401, "invalid_request_error", null, "invalid_api_key", why
                    + " (loading and unloading adapters needs Authorization: Bearer <server.admin-token>)");
        }
        return OpenAiApi.body(ex);
    }

    private static void requireMethod(HttpExchange ex, String method) {
        if (!ex.getRequestMethod().equals(method)) {
            ex.getResponseHeaders().add("Allow", method);
            throw new ApiError(405, "invalid_request_error", null, "method_not_allowed", ex.getRequestMethod() + " not allowed; use " + method);
        }
    }

    private static String text(JsonNode body, String field, boolean required) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            if (required) {
                throw ApiError.invalid(field, "'" + field + "' is required");
            }
            return null;
        }
        if (!v.isTextual() || v.asText().isBlank()) {
            throw ApiError.invalid(field, "'" + field + "' must be a non-empty string");
        }
        return v.asText();
    }

    /** vLLM answers a load or unload with a line of plain text. */
    private static void success(HttpExchange ex, String text) throws IOException {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        ex.sendResponseHeaders(200, b.length);
        try (OutputStream o = ex.getResponseBody()) {
            o.write(b);
        }
    }
}
