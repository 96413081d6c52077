package dev.dualign.service;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Counter-examples the HTTP fuzz tests found (issue #31), as plain regression tests on the server
 * under every process.
 */
class WebServerBadInputTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static WebServer web;
    static String base;

    @BeforeAll
    static void start() throws IOException {
        web = new WebServer("127.0.0.1", 0, WebServer.Limits.api(), "test-http");
        // refuses without reading the body, as a 405 or a 401 does
        web.http().createContext("/v1/refuse", ex -> {
            OpsSurface.quietly(ex, 405, Map.of("error", "not allowed"));
            ex.close();
        });
        web.http().createContext("/v1/read", ex -> {
            ex.getRequestBody().readAllBytes();
            OpsSurface.quietly(ex, 200, Map.of("ok", true));
            ex.close();
        });
        web.start();
        base = "http://127.0.0.1:" + web.port();
    }

    @AfterAll
    static void stop() {
        web.close();
    }

    /**
     * Found as "HTTP/1.1 header parser received no bytes" on a valid POST right after a refused one:
     * Jetty closed the connection the refusal left a body unread on, without saying so.
     */
    @Test
    void aRefusalThatLeavesTheBodyUnreadKeepsTheConnectionUsable() throws Exception {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        for (int size : new int[] {1, 1000, 100_000}) {
            for (int i = 0; i < 50; i++) {
                HttpResponse<String> refused = client.send(HttpRequest.newBuilder(URI.create(base + "/v1/refuse"))
                        .POST(HttpRequest.BodyPublishers.ofString("x".repeat(size))).build(), HttpResponse.BodyHandlers.ofString());
                assertThat(refused.statusCode()).isEqualTo(405);
                HttpResponse<String> next = client.send(HttpRequest.newBuilder(URI.create(base + "/v1/read"))
                        .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
                assertThat(next.statusCode()).as("the request after a refused %d-byte body", size).isEqualTo(200);
            }
        }
    }

    /** Past the drain limit the answer says the connection closes, so no client reuses it. */
    @Test
    void aRefusedBodyPastTheDrainLimitClosesTheConnectionSayingSo() throws Exception {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        byte[] big = new byte[DrainingExchange.Draining.DRAIN_LIMIT + 100_000];
        HttpResponse<String> refused = client.send(HttpRequest.newBuilder(URI.create(base + "/v1/refuse"))
                .POST(HttpRequest.BodyPublishers.ofByteArray(big)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(refused.statusCode()).isEqualTo(405);
        assertThat(refused.headers().firstValue("Connection")).hasValue("close");
        HttpResponse<String> next = client.send(HttpRequest.newBuilder(URI.create(base + "/v1/read"))
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(next.statusCode()).isEqualTo(200);
    }

    /** Found as Jetty's HTML error pages: every error here is JSON naming it. */
    @Test
    void jettysOwnErrorsAreJson() throws Exception {
        String[] requests = {
            // two Content-Lengths
            "POST /v1/read HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}",
            // an ambiguous URI (an empty segment, bad UTF-8)
            "GET /v1/models//!$&'()*+,=/%C3%28/%20 HTTP/1.1\r\nHost: x\r\n\r\n",
            // a URI too long
            "GET /v1/" + "a".repeat(20_000) + " HTTP/1.1\r\nHost: x\r\n\r\n",
            // a header without a colon
            "GET /v1/read HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"};
        for (String request : requests) {
            String answer = raw(request);
            String shown = answer.length() > 300 ? answer.substring(0, 300) : answer;
            assertThat(answer).as(shown).startsWith("HTTP/1.1 4");
            String head = answer.substring(0, answer.indexOf("\r\n\r\n")).toLowerCase(java.util.Locale.ROOT);
            assertThat(head).as(shown).contains("content-type: application/json");
            JsonNode body = JSON.readTree(answer.substring(answer.indexOf("\r\n\r\n") + 4));
            assertThat(body.path("error").path("message").asText()).as(shown).isNotBlank();
        }
    }

    /** Found as a 500 on GET /v1/models/?%zz: Jetty takes the query, java.net.URI does not, and every handler asks for it. */
    @Test
    void aQueryJavaNetUriRefusesIsA400() throws Exception {
        String answer = raw("GET /v1/read?%zz HTTP/1.1\r\nHost: x\r\n\r\n");
        assertThat(answer).as(answer).startsWith("HTTP/1.1 400");
        JsonNode body = JSON.readTree(answer.substring(answer.indexOf("\r\n\r\n") + 4));
        assertThat(body.path("error").path("message").asText()).startsWith("malformed request URI");
    }

    @Test
    void anErrorMessageWithControlCharactersIsStillJson() throws Exception {
        JsonNode n = JSON.readTree(JettyHandlers.quote("a\"b\\c\u0000\u001f\n\ud800"));
        assertThat(n.asText()).isEqualTo("a\"b\\c\u0000\u001f\n\ud800");
    }

    private static String raw(String request) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", web.port()), 5_000);
            s.setSoTimeout(10_000);
            s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            s.shutdownOutput();
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            try {
                s.getInputStream().transferTo(all);
            } catch (java.net.SocketException reset) {
                // after the answer
            }
            return all.toString(StandardCharsets.ISO_8859_1);
        }
    }
}
