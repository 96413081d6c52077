package dev.dualign.serving;

import static dev.dualign.serving.GatewayReplies.error;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import dev.dualign.service.ServiceMetrics;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.util.Map;

/**
 * The gateway's OpenAI-compatible endpoints: a request checked, then forwarded to the upstream
 * or answered by enforcement, and counted in the chat metrics.
 */
final class GatewayEndpoints {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** A model id as a path segment: nothing that could walk the upstream's other paths with its key. */
    /** Any other route of the API: segments of letters, digits and {@code _:-.}, none starting with a dot (no {@code ..}). */
    private static final java.util.regex.Pattern PROXY_PATH = java.util.regex.Pattern.compile("/v1(/[A-Za-z0-9_:\\-][A-Za-z0-9._:\\-]*)+/?");
    /** Largest body relayed on the other routes (file uploads, batch inputs). */
    static final int MAX_PROXY_BODY = 16 << 20;
    private static final java.util.regex.Pattern MODELS_PATH = java.util.regex.Pattern.compile("/v1/models(/[A-Za-z0-9._:\\-]+)?/?");

    private final UpstreamClient upstream;
    private final GatewayEnforcement enforcement;
    private final ServiceMetrics metrics;
    private final long version;
    /** Canary routing by model name to the versions swapped into the upstream, or null. */
    private final AdapterSwap swap;

    /** @param enforcement enforcement through the upstream, or null to forward requests as they came */
    GatewayEndpoints(UpstreamClient upstream, GatewayEnforcement enforcement, ServiceMetrics metrics, long version) {
        this(upstream, enforcement, metrics, version, null);
    }

    /** @param swap the versions swapped into the upstream (never with enforcement), or null */
    GatewayEndpoints(UpstreamClient upstream, GatewayEnforcement enforcement, ServiceMetrics metrics, long version, AdapterSwap swap) {
        if (swap != null && enforcement != null) {
            throw new IllegalArgumentException("enforcement draws its candidates from the upstream's one deployment: no canary routing with it");
        }
        this.upstream = upstream;
        this.enforcement = enforcement;
        this.metrics = metrics;
        this.version = version;
        this.swap = swap;
    }

    /** {@code /v1/models} and {@code /v1/models/<id>}: the upstream's answer, unchanged. */
    void models(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        if (!MODELS_PATH.matcher(path).matches()) {
            error(ex, 404, "invalid_request_error", "not found: " + path);
            return;
        }
        if (!ex.getRequestMethod().equals("GET")) {
            ex.getResponseHeaders().add("Allow", "GET");
            error(ex, 405, "invalid_request_error", ex.getRequestMethod() + " not allowed; use GET");
            return;
        }
        upstream.forward(ex, upstream.request(path.replaceFirst("^/v1", "").replaceAll("/$", ""), ex).GET().build(), false, null);
    }

    /**
     * Every other {@code /v1/*} route (embeddings, completions, responses, files, …): relayed to the
     * upstream unchanged, method, query, body and answer (a stream as it arrives). Only chat
     * completions are logged and enforced.
     */
    void proxy(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        if (!PROXY_PATH.matcher(path).matches()) {
            error(ex, 404, "invalid_request_error", "not found: " + path);
            return;
        }
        byte[] body = ex.getRequestBody().readNBytes(MAX_PROXY_BODY + 1);
        if (body.length > MAX_PROXY_BODY) {
            error(ex, 413, "invalid_request_error", "body larger than " + MAX_PROXY_BODY + " bytes");
            return;
        }
        String query = ex.getRequestURI().getRawQuery();
        HttpRequest.Builder up = upstream.request(path.replaceFirst("^/v1", "") + (query == null ? "" : "?" + query), ex);
        for (String h : new String[] {"Content-Type", "Accept"}) {
            String v = ex.getRequestHeaders().getFirst(h);
            if (v != null) {
                up.header(h, v);
            }
        }
        up.method(ex.getRequestMethod(), body.length == 0 ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofByteArray(body));
        // a stream when the client asked for one (the first byte's and the idle timeouts), else a whole answer (the total)
        String accept = ex.getRequestHeaders().getFirst("Accept");
        String type = ex.getRequestHeaders().getFirst("Content-Type");
        boolean stream = (accept != null && accept.contains("text/event-stream"))
                || (type != null && type.startsWith("application/json") && body.length > 0 && askedToStream(body));
        String outcome = upstream.forward(ex, up.build(), stream, null);
        metrics.inc("dualign_gateway_proxied_total", "Requests relayed on the API's other routes, by outcome",
                java.util.Map.of("outcome", outcome));
    }

    /** Whether a JSON request body says {@code "stream": true} at its top level (a body that is not JSON does not). */
    private static boolean askedToStream(byte[] body) {
        try {
            return JSON.readTree(body).path("stream").asBoolean(false);
        } catch (IOException e) {
            return false;
        }
    }

    /** {@code /v1/chat/completions}: forwarded as it came, or enforced. */
    void completions(HttpExchange ex) throws IOException {
        long t0 = System.nanoTime();
        if (!ex.getRequestMethod().equals("POST")) {
            ex.getResponseHeaders().add("Allow", "POST");
            error(ex, 405, "invalid_request_error", ex.getRequestMethod() + " not allowed; use POST");
            return;
        }
        byte[] body = ex.getRequestBody().readNBytes(HttpApi.MAX_BODY * 16 + 1);
        if (body.length > HttpApi.MAX_BODY * 16) {
            error(ex, 413, "invalid_request_error", "body larger than " + HttpApi.MAX_BODY * 16 + " bytes");
            return;
        }
        JsonNode req;
        try {
            req = JSON.readTree(body);
        } catch (IOException e) {
            req = null;
        }
        if (req == null || !req.isObject()) {
            error(ex, 400, "invalid_request_error", "the body must be a JSON object");
            return;
        }
        boolean stream = req.path("stream").asBoolean(false);
        String outcome;
        long answeredBy = version;
        String model = null;
        if (enforcement != null) {
            outcome = enforcement.answer(ex, (ObjectNode) req);
        } else {
            // routed like the policy server routes: by a fresh key per request, the canary's share to the canary
            try (AdapterSwap.Slot slot = swap == null ? null : swap.acquire(java.util.UUID.randomUUID().toString())) {
                if (slot != null) {
                    answeredBy = slot.version();
                    if (slot.model() != null) { // a swapped-in version: the upstream answers with it by name
                        model = slot.model();
                        ((ObjectNode) req).put("model", slot.model());
                        body = JSON.writeValueAsBytes(req);
                    }
                }
                HttpRequest up = upstream.request("/chat/completions", ex).header("Content-Type", "application/json")
                        .header("Accept", stream ? "text/event-stream" : "application/json")
                        .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
                outcome = upstream.forward(ex, up, stream, req, answeredBy, model);
            }
        }
        metrics.inc(HttpApi.REQUESTS, "Chat requests by the version that answered and the outcome",
                Map.of("version", Long.toString(answeredBy), "outcome", outcome));
        if (outcome.equals("ok")) {
            metrics.observe(HttpApi.LATENCY, "Chat latency, request read to answer written", ServiceMetrics.LATENCY_BUCKETS,
                    (System.nanoTime() - t0) / 1e9);
        }
    }
}
