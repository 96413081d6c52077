package dev.dualign.service;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.QoSHandler;
import org.eclipse.jetty.util.Callback;

/**
 * The Jetty handlers {@link WebServer} puts in front of the API: a floor on the body's rate, the
 * clients' keys and rate limits, shedding past capacity, and Jetty's own errors as JSON. Each
 * answers in the OpenAI error shape every other refusal of the loop uses.
 */
final class JettyHandlers {
    private JettyHandlers() {}

    /**
     * Ends a request whose body arrives slower than a floor, once it has had {@link #GRACE_MS}: Jetty
     * enforces {@link HttpConfiguration#setMinRequestDataRate} only under its servlet layer, and a
     * client that sends a byte now and then never trips the idle timeout while it holds a slot.
     */
    static final class MinimumRate extends Handler.Wrapper {
        static final long GRACE_MS = 2_000;
        private final long bytesPerSecond;

        MinimumRate(long bytesPerSecond, Handler next) {
            super(next);
            this.bytesPerSecond = bytesPerSecond;
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback) throws Exception {
            if (bytesPerSecond <= 0) {
                return super.handle(request, response, callback);
            }
            long start = System.nanoTime();
            return super.handle(new Request.Wrapper(request) {
                private long bytes;

                @Override
                public Content.Chunk read() {
                    Content.Chunk c = super.read();
                    if (c == null || Content.Chunk.isFailure(c)) {
                        return c;
                    }
                    bytes += c.remaining();
                    long ms = (System.nanoTime() - start) / 1_000_000;
                    if (!c.isLast() && ms > GRACE_MS && bytes < bytesPerSecond * ms / 1000) {
                        c.release();
                        return Content.Chunk.from(new TimeoutException("request body arrived at " + (bytes * 1000 / ms)
                                + " B/s, below the floor of " + bytesPerSecond + " B/s"));
                    }
                    return c;
                }
            }, response, callback);
        }
    }

    /**
     * Asks every API request ({@code /v1/*}) for a client's key when there are keys, and holds each
     * client to its rate limit: 401 without a known key, 429 with {@code Retry-After} past the limit,
     * both as OpenAI-style errors. Other paths (health, metrics, the token-protected admin, the
     * dashboard) are not the API's and pass.
     */
    static final class ClientGate extends Handler.Wrapper {
        private final ClientKeys keys;
        private final AtomicLong unauthorized;
        private final java.util.concurrent.ConcurrentHashMap<String, AtomicLong> rateLimited;

        ClientGate(ClientKeys keys, AtomicLong unauthorized, java.util.concurrent.ConcurrentHashMap<String, AtomicLong> rateLimited,
                Handler next) {
            super(next);
            this.keys = keys;
            this.unauthorized = unauthorized;
            this.rateLimited = rateLimited;
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback) throws Exception {
            String path = Request.getPathInContext(request);
            if (keys == null || !(path.equals("/v1") || path.startsWith("/v1/")) || java.util.Arrays.asList(WebServer.ADMIN_API_PATHS)
                    .contains(path)) {
                return super.handle(request, response, callback);
            }
            ClientKeys.Client c = keys.find(request.getHeaders().get(HttpHeader.AUTHORIZATION));
            if (c == null) {
                unauthorized.incrementAndGet();
                response.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer realm=\"dualign\"");
                error(response, callback, 401, "a known API key is needed: Authorization: Bearer <key>", "invalid_request_error",
                        "invalid_api_key");
                return true;
            }
            if (c.bucket() != null) {
                long wait = c.bucket().tryTake(System.nanoTime());
                if (wait > 0) {
                    rateLimited.computeIfAbsent(c.name(), k -> new AtomicLong()).incrementAndGet();
                    response.getHeaders().put(HttpHeader.RETRY_AFTER, Long.toString(Math.max(1, (wait + 999_999_999L) / 1_000_000_000L)));
                    error(response, callback, 429, "rate limit of " + c.perMinute() + " requests a minute reached for client '"
                            + c.name() + "'", "requests", "rate_limit_exceeded");
                    return true;
                }
            }
            return super.handle(request, response, callback);
        }
    }

    /** An OpenAI-style error reply. */
    static void error(Response response, Callback callback, int status, String message, String type, String code) {
        String body = "{\"error\":{\"message\":" + quote(message) + ",\"type\":" + quote(type) + ",\"param\":null,\"code\":"
                + (code == null ? "null" : quote(code)) + "}}";
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        response.write(true, ByteBuffer.wrap(body.getBytes(StandardCharsets.UTF_8)), callback);
    }

    /** A JSON string: quotes, backslashes and control characters escaped. */
    static String quote(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                sb.append('\\').append(c);
            } else if (c < 0x20 || c == 0x7f || Character.isSurrogate(c)) {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.append('"').toString();
    }

    /**
     * Jetty's own error replies (a malformed request line or header, an ambiguous or too long URI, a
     * body that does not match its length) as the OpenAI-style JSON every other error here is,
     * instead of an HTML page a client cannot read (found by the fuzz tests, issue #31).
     */
    static final class JsonErrors extends org.eclipse.jetty.server.handler.ErrorHandler {
        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            // every method: Jetty's own handler writes no body for methods other than GET, POST and HEAD
            int code = request.getAttribute(ERROR_STATUS) instanceof Integer i ? i : response.getStatus();
            if (code == 505 || code == 501) {
                // an HTTP version or transfer coding Jetty does not speak is the client's error: a 5xx
                // here would read as the server failing (only shedding answers 5xx)
                code = 400;
                response.setStatus(400);
            }
            Object message = request.getAttribute(ERROR_MESSAGE);
            String why = message == null || message.toString().isBlank() ? org.eclipse.jetty.http.HttpStatus.getMessage(code)
                    : message.toString();
            error(response, callback, code, why, code >= 500 ? "server_error" : "invalid_request_error", null);
            return true;
        }
    }

    /** Jetty's QoS limit; its 503s carry {@code Retry-After} and an OpenAI-style error, and are counted. */
    static final class Shedding extends QoSHandler {
        private static final byte[] BODY = ("{\"error\":{\"message\":\"the server is at capacity; try again\","
                + "\"type\":\"server_error\",\"param\":null,\"code\":\"overloaded\"}}").getBytes(StandardCharsets.UTF_8);
        private final AtomicLong shed;

        Shedding(AtomicLong shed) {
            this.shed = shed;
        }

        @Override
        protected void reject(Request request, Response response, Callback callback, int status) {
            if (status == 503) {
                overloaded(response, callback);
            } else {
                super.reject(request, response, callback, status);
            }
        }

        @Override
        protected void failSuspended(Request request, Response response, Callback callback, int status, Throwable failure) {
            if (status == 503) {
                overloaded(response, callback);
            } else {
                super.failSuspended(request, response, callback, status, failure);
            }
        }

        private void overloaded(Response response, Callback callback) {
            shed.incrementAndGet();
            if (response.isCommitted()) {
                callback.failed(new IllegalStateException("response already committed"));
                return;
            }
            response.setStatus(503);
            response.getHeaders().put(HttpHeader.RETRY_AFTER, "1");
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
            response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
            response.write(true, ByteBuffer.wrap(BODY), callback);
        }
    }
}
