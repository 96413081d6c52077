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
    private static final java.util.regex.Pattern MODELS_PATH = java.util.regex.Pattern.compile("/v1/models(/[A-Za-z0-9._:\\-]+)?/?");

    private final UpstreamClient upstream;
    private final GatewayEnforcement enforcement;
    private final ServiceMetrics metrics;
    private final long version;

    /** @param enforcement enforcement through the upstream, or null to forward requests as they came */
    GatewayEndpoints(UpstreamClient upstream, GatewayEnforcement enforcement, ServiceMetrics metrics, long version) {
        this.upstream = upstream;
        this.enforcement = enforcement;
        this.metrics = metrics;
        this.version = version;
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
        if (enforcement != null) {
            outcome = enforcement.answer(ex, (ObjectNode) req);
        } else {
            HttpRequest up = upstream.request("/chat/completions", ex).header("Content-Type", "application/json")
                    .header("Accept", stream ? "text/event-stream" : "application/json")
                    .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
            outcome = upstream.forward(ex, up, stream, AnswerLog.lastUserMessage(req));
        }
        metrics.inc(HttpApi.REQUESTS, "Chat requests by the version that answered and the outcome",
                Map.of("version", Long.toString(version), "outcome", outcome));
        if (outcome.equals("ok")) {
            metrics.observe(HttpApi.LATENCY, "Chat latency, request read to answer written", ServiceMetrics.LATENCY_BUCKETS,
                    (System.nanoTime() - t0) / 1e9);
        }
    }
}
