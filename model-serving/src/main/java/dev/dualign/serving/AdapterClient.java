package dev.dualign.serving;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The upstream's runtime adapter API, one replica at a time: vLLM's {@code POST
 * /v1/load_lora_adapter} and {@code /v1/unload_lora_adapter}, or SGLang's, the same without
 * {@code /v1}. Every call is bounded by the adapter timeout, so a replica that hangs or refuses
 * connections refuses the version instead of stalling the swap.
 */
final class AdapterClient {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Most of an error body kept in a refusal's reason. */
    private static final int MAX_REASON = 500;

    private final String api;
    private final List<URI> replicas;
    private final String apiKey;
    private final long timeoutMs;
    private final HttpClient client;

    /**
     * @param api {@code vllm} or {@code sglang}
     * @param replicas each replica's base URL, up to and including {@code /v1}
     * @param apiKey the upstream's bearer token, or null
     */
    AdapterClient(String api, List<URI> replicas, String apiKey, long timeoutMs) {
        if (!api.equals("vllm") && !api.equals("sglang")) {
            throw new IllegalArgumentException("adapter API vllm or sglang, got " + api);
        }
        this.api = api;
        this.replicas = List.copyOf(replicas);
        this.apiKey = apiKey;
        this.timeoutMs = timeoutMs;
        this.client = HttpClient.newBuilder().connectTimeout(Duration.ofMillis(timeoutMs)).version(HttpClient.Version.HTTP_1_1).build();
    }

    /** Where replica {@code r}'s call {@code name} goes: under {@code /v1} for vLLM, at the root for SGLang. */
    URI endpoint(int r, String name) {
        String base = replicas.get(r).toString().replaceAll("/+$", "");
        if (api.equals("sglang")) {
            base = base.replaceAll("/v1$", "");
        }
        return URI.create(base + "/" + name);
    }

    /** Loads adapter {@code name} from {@code path} on replica {@code r}: null when it is loaded, else why not. */
    String load(int r, String name, String path) {
        Map<String, String> body = new LinkedHashMap<>();
        body.put("lora_name", name);
        body.put("lora_path", path);
        Outcome o = post(r, "load_lora_adapter", body);
        if (o.status == 200) {
            return null;
        }
        if (o.status == 400 && o.body.contains("already") && o.body.contains(name)) {
            return null; // loaded before (a gateway started again): names are never reused, so it is this version
        }
        return o.why;
    }

    /** Unloads adapter {@code name} from replica {@code r}: null when it is gone (or was never there), else why not. */
    String unload(int r, String name) {
        Outcome o = post(r, "unload_lora_adapter", Map.of("lora_name", name));
        String lower = o.body.toLowerCase(java.util.Locale.ROOT);
        if (o.status == 200 || o.status == 404 || (o.status == 400 && (lower.contains("not found") || lower.contains("cannot be found")))) {
            return null;
        }
        return o.why;
    }

    /** A call's HTTP status (−1: none came) and body, and the reason in words when it is not a success. */
    private record Outcome(int status, String body, String why) {}

    private Outcome post(int r, String name, Map<String, String> body) {
        URI at = endpoint(r, name);
        HttpRequest.Builder b = HttpRequest.newBuilder(at).timeout(Duration.ofMillis(timeoutMs))
                .header("Content-Type", "application/json");
        if (apiKey != null && !apiKey.isBlank()) {
            b.header("Authorization", "Bearer " + apiKey);
        }
        try {
            b.POST(HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body)));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        CompletableFuture<HttpResponse<byte[]>> f = client.sendAsync(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        try {
            // the request timeout covers the headers; this bounds the body too
            HttpResponse<byte[]> resp = f.get(timeoutMs + 1_000, TimeUnit.MILLISECONDS);
            String text = new String(resp.body(), StandardCharsets.UTF_8);
            String cut = text.length() > MAX_REASON ? text.substring(0, MAX_REASON) + "…" : text;
            return new Outcome(resp.statusCode(), text, resp.statusCode() == 200 ? null
                    : at + " answered HTTP " + resp.statusCode() + ": " + cut.strip());
        } catch (TimeoutException e) {
            f.cancel(true);
            return timedOut(at);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof java.net.http.HttpTimeoutException) {
                return timedOut(at);
            }
            return new Outcome(-1, "", at + " is unreachable: " + c);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            f.cancel(true);
            return new Outcome(-1, "", at + ": interrupted");
        }
    }

    private Outcome timedOut(URI at) {
        return new Outcome(-1, "", at + " did not answer within " + timeoutMs + " ms");
    }
}
