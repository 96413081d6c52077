package dev.dualign.serving;

import dev.dualign.service.OpsSurface;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway's own replies, shared by its parts: OpenAI-style errors, and the wrapper each
 * endpoint runs in, which turns a failure into one of them and always closes the exchange.
 */
final class GatewayReplies {
    /** The gateway's log, as before its parts were split out of it. */
    private static final Logger LOG = LoggerFactory.getLogger(Gateway.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private GatewayReplies() {
    }

    @FunctionalInterface
    interface Handler {
        void handle(HttpExchange ex) throws IOException;
    }

    static void serve(HttpExchange ex, Handler h) {
        try {
            h.handle(ex);
        } catch (IOException e) {
            LOG.warn("{} {}: connection lost ({})", ex.getRequestMethod(), ex.getRequestURI(), e.toString());
        } catch (RuntimeException e) {
            LOG.error("{} {} failed", ex.getRequestMethod(), ex.getRequestURI(), e);
            error(ex, 500, "server_error", e.toString());
        } finally {
            ex.close();
        }
    }

    /** An OpenAI-style error of the gateway's own (the upstream's errors pass through unchanged). */
    static void error(HttpExchange ex, int status, String type, String message) {
        if (ex.getResponseCode() > 0) { // the status is sent (-1 or 0 before, by server)
            return;
        }
        ObjectNode body = JSON.createObjectNode();
        body.putObject("error").put("message", message).put("type", type).putNull("param").putNull("code");
        try {
            OpsSurface.reply(ex, status, body);
        } catch (IOException ignored) {
            // the client is gone
        }
    }
}
