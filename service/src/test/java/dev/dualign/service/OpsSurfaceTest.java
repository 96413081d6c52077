package dev.dualign.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The one health, metrics and admin surface: what every HTTP process of the loop answers there. */
class OpsSurfaceTest {
    final HttpClient client = HttpClient.newHttpClient();

    HttpResponse<String> send(String url, String method, String token, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void healthReportsTheProblemMetricsScrapeAndAdminNeedsTheTokenAndTheMethod() throws Exception {
        ServiceMetrics metrics = new ServiceMetrics();
        metrics.inc("dualign_test_total", "A test counter", Map.of());
        AtomicReference<String> problem = new AtomicReference<>();
        OpsSurface ops = new OpsSurface(metrics, problem::get).details(() -> Map.of("version", 3)).admin("s3cret")
                .route("echo", "POST", body -> Map.of("got", body.path("x").asInt()))
                .route("refuse", "POST", body -> {
                    throw new OpsSurface.Refusal(409, "not now");
                });
        try (OpsSurface.Endpoint e = ops.serve("127.0.0.1", 0)) {
            String base = "http://127.0.0.1:" + e.port();
            HttpResponse<String> ok = send(base + "/healthz", "GET", null, null);
            assertThat(ok.statusCode()).isEqualTo(200);
            assertThat(ok.body()).contains("\"status\":\"ok\"").contains("\"version\":3");
            problem.set("the broker is gone");
            HttpResponse<String> bad = send(base + "/healthz", "GET", null, null);
            assertThat(bad.statusCode()).isEqualTo(503);
            assertThat(bad.body()).contains("\"status\":\"degraded\"").contains("the broker is gone");

            HttpResponse<String> scraped = send(base + "/metrics", "GET", null, null);
            assertThat(scraped.headers().firstValue("Content-Type")).contains(ServiceMetrics.CONTENT_TYPE);
            assertThat(scraped.body()).contains("dualign_test_total 1");

            assertThat(send(base + "/admin/echo", "POST", null, "{\"x\":1}").statusCode()).isEqualTo(401);
            assertThat(send(base + "/admin/echo", "POST", "wrong", "{\"x\":1}").statusCode()).isEqualTo(401);
            HttpResponse<String> get = send(base + "/admin/echo", "GET", "s3cret", null);
            assertThat(get.statusCode()).isEqualTo(405);
            assertThat(get.headers().firstValue("Allow")).contains("POST");
            HttpResponse<String> echo = send(base + "/admin/echo", "POST", "s3cret", "{\"x\":7}");
            assertThat(echo.statusCode()).isEqualTo(200);
            assertThat(echo.body()).isEqualTo("{\"got\":7}");
            assertThat(send(base + "/admin/echo", "POST", "s3cret", "[1]").statusCode()).isEqualTo(400);
            HttpResponse<String> refused = send(base + "/admin/refuse", "POST", "s3cret", null);
            assertThat(refused.statusCode()).isEqualTo(409);
            assertThat(refused.body()).contains("not now");
        }
    }

    @Test
    void withoutATokenAdminIsOffAndSaysHowToTurnItOn() throws Exception {
        OpsSurface ops = new OpsSurface(new ServiceMetrics(), () -> null).route("echo", "GET", body -> Map.of());
        try (OpsSurface.Endpoint e = ops.serve("127.0.0.1", 0)) {
            HttpResponse<String> r = send("http://127.0.0.1:" + e.port() + "/admin/echo", "GET", "", null);
            assertThat(r.statusCode()).isEqualTo(401);
            assertThat(r.body()).contains("server.admin-token");
        }
    }
}
