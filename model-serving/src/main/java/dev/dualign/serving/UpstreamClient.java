package dev.dualign.serving;

import static dev.dualign.serving.GatewayReplies.error;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway's side of the conversation with the upstream chatbot: requests with its key and
 * timeout, its answers relayed unchanged (a stream as it arrives), a successful chat completion logged.
 */
final class UpstreamClient {
    /** The gateway's log, as before its parts were split out of it. */
    private static final Logger LOG = LoggerFactory.getLogger(Gateway.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Gateway.Settings settings;
    private final HttpClient client;
    private final AnswerLog answers;

    private final boolean forwardClientKey;

    /** @param forwardClientKey pass a client's own {@code Authorization} on when there is no upstream key (false: it is a key to us) */
    UpstreamClient(Gateway.Settings settings, AnswerLog answers, boolean forwardClientKey) {
        this.forwardClientKey = forwardClientKey;
        this.settings = settings;
        this.answers = answers;
        this.client = HttpClient.newBuilder().connectTimeout(Duration.ofMillis(Math.min(10_000, settings.requestTimeoutMs())))
                .version(HttpClient.Version.HTTP_1_1).build();
    }

    /**
     * A request to {@code path} under the upstream's base URL, with the request timeout and the key:
     * the configured one, else the client's own {@code Authorization}, so a gateway without a key of
     * its own lets each client use theirs (unless clients hold keys to the gateway itself).
     */
    HttpRequest.Builder request(String path, HttpExchange from) {
        // a plain answer's headers come when it is complete: the whole-answer limit (a stream gets the first byte's)
        HttpRequest.Builder b = HttpRequest.newBuilder(settings.resolve(path)).timeout(Duration.ofMillis(settings.totalTimeoutMs()));
        String clients = from == null ? null : from.getRequestHeaders().getFirst("Authorization");
        if (settings.apiKey() != null && !settings.apiKey().isBlank()) {
            b.header("Authorization", "Bearer " + settings.apiKey());
        } else if (forwardClientKey && clients != null && !clients.isBlank()) {
            b.header("Authorization", clients);
        }
        return b;
    }

    /** The upstream's whole answer to a request of the gateway's own (no client waits for it), within the request's timeout. */
    HttpResponse<byte[]> send(HttpRequest up) throws IOException, InterruptedException {
        return client.send(up, HttpResponse.BodyHandlers.ofByteArray());
    }

    /** The upstream's {@code Retry-After} (a 429 or 503 says when to come back), relayed to the client. */
    static void relayRetryAfter(HttpExchange ex, HttpResponse<?> r) {
        r.headers().firstValue("Retry-After").ifPresent(v -> ex.getResponseHeaders().set("Retry-After", v));
    }

    /**
     * Sends {@code up} and relays the answer: status, content type and body unchanged (a stream
     * line by line as it arrives). A successful chat completion is logged once it is complete.
     *
     * @param chat the chat completion request whose answer is logged (its conversation with it), or null for another route
     * @return the outcome for the metrics
     */
    String forward(HttpExchange ex, HttpRequest up, boolean stream, JsonNode chat) throws IOException {
        return forward(ex, up, stream, chat, answers.version(), null);
    }

    /**
     * {@link #forward(HttpExchange, HttpRequest, boolean, JsonNode)}, a chat completion logged under
     * {@code version} and, when it was routed to a swapped-in version, that version's model name.
     */
    String forward(HttpExchange ex, HttpRequest up, boolean stream, JsonNode chat, long version, String model) throws IOException {
        if (!stream) {
            return forwardWhole(ex, up, chat, version, model);
        }
        HttpResponse<InputStream> r;
        long started = System.nanoTime();
        try {
            // the timeout covers the headers: a stream's first byte
            r = client.send(HttpRequest.newBuilder(up, (n, v) -> true).timeout(Duration.ofMillis(settings.requestTimeoutMs())).build(),
                    HttpResponse.BodyHandlers.ofInputStream());
        } catch (HttpTimeoutException e) {
            error(ex, 504, "server_error", "the upstream " + settings.upstream() + " did not answer within "
                    + settings.requestTimeoutMs() + " ms");
            return "timeout";
        } catch (IOException e) {
            error(ex, 502, "server_error", "the upstream " + settings.upstream() + " is unreachable: " + e);
            return "upstream_unreachable";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            error(ex, 503, "server_error", "interrupted");
            return "error";
        }
        String type = r.headers().firstValue("Content-Type").orElse("application/json");
        ex.getResponseHeaders().set("Content-Type", type);
        boolean ok = r.statusCode() == 200;
        // an upstream that stops sending mid-stream is cut off after the idle timeout of silence, any after the total
        java.util.concurrent.atomic.AtomicLong heard = new java.util.concurrent.atomic.AtomicLong(System.nanoTime());
        InputStream in = r.body();
        java.util.concurrent.ScheduledFuture<?> watch = WATCHDOG.scheduleAtFixedRate(() -> {
            long now = System.nanoTime();
            if (now - heard.get() > settings.idleTimeoutMs() * 1_000_000L || now - started > settings.totalTimeoutMs() * 1_000_000L) {
                try {
                    in.close();
                } catch (IOException ignored) {
                    // closing is all we want
                }
            }
        }, 200, 200, java.util.concurrent.TimeUnit.MILLISECONDS);
        try (in) {
            if (ok && type.startsWith("text/event-stream")) {
                ex.getResponseHeaders().set("Cache-Control", "no-store");
                ex.sendResponseHeaders(200, 0);
                StreamedCompletion s = new StreamedCompletion();
                OutputStream out = ex.getResponseBody();
                BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
                try {
                    for (String line; (line = lines.readLine()) != null;) {
                        heard.set(System.nanoTime());
                        out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
                        if (line.isEmpty()) {
                            out.flush(); // an event ends at a blank line: the client gets it now
                        }
                        s.read(line);
                    }
                } catch (IOException e) {
                    if (!s.done()) { // the upstream went silent or away: say so in the stream, log nothing half-made
                        out.write(("data: {\"error\":{\"message\":\"the upstream stopped answering\",\"type\":\"server_error\","
                                + "\"param\":null,\"code\":null}}\n\n").getBytes(StandardCharsets.UTF_8));
                        out.close();
                        return "timeout";
                    }
                }
                out.close();
                if (chat != null) { // a chat completion; the other routes are relayed, not logged
                    answers.log(chat, s.completion(), version, model);
                }
                return "ok";
            }
            byte[] body = in.readAllBytes();
            relayRetryAfter(ex, r);
            ex.sendResponseHeaders(r.statusCode(), body.length == 0 ? -1 : body.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
            if (ok && chat != null && type.startsWith("application/json")) {
                // asked for a stream, answered whole (an upstream that ignores "stream", or reads it
                // otherwise than we do): the client has a completion, so it is logged like one
                try {
                    answers.log(chat, JSON.readTree(body), version, model);
                } catch (IOException notJson) {
                    // not a completion: nothing to log
                }
            }
            return ok ? "ok" : "upstream_" + r.statusCode();
        } finally {
            watch.cancel(false);
        }
    }

    private static final java.util.concurrent.ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "dualign-gateway-watchdog");
        t.setDaemon(true);
        return t;
    });

    /** The upstream's whole answer within the request timeout, body included, or the reason why not. */
    HttpResponse<byte[]> fetch(HttpExchange ex, HttpRequest up) throws IOException {
        java.util.concurrent.CompletableFuture<HttpResponse<byte[]>> f = client.sendAsync(up, HttpResponse.BodyHandlers.ofByteArray());
        try {
            return f.get(settings.totalTimeoutMs(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            f.cancel(true);
            error(ex, 504, "server_error", "the upstream " + settings.upstream() + " did not answer within "
                    + settings.totalTimeoutMs() + " ms");
        } catch (java.util.concurrent.ExecutionException e) {
            error(ex, 502, "server_error", "the upstream " + settings.upstream() + " is unreachable: " + e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            error(ex, 503, "server_error", "interrupted");
        }
        return null;
    }

    /** A plain (non-streamed) exchange: the upstream's answer relayed whole, a chat completion logged. */
    private String forwardWhole(HttpExchange ex, HttpRequest up, JsonNode chat, long version, String model) throws IOException {
        HttpResponse<byte[]> r = fetch(ex, up);
        if (r == null) {
            return ex.getResponseCode() == 504 ? "timeout" : "upstream_unreachable";
        }
        byte[] body = r.body();
        ex.getResponseHeaders().set("Content-Type", r.headers().firstValue("Content-Type").orElse("application/json"));
        relayRetryAfter(ex, r);
        ex.sendResponseHeaders(r.statusCode(), body.length == 0 ? -1 : body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
        boolean ok = r.statusCode() == 200;
        if (ok && chat != null) {
            try {
                answers.log(chat, JSON.readTree(body), version, model);
            } catch (IOException e) {
                LOG.warn("the upstream's answer is not JSON: relayed as it was, not logged ({})", e.toString());
            }
        }
        return ok ? "ok" : "upstream_" + r.statusCode();
    }
}
