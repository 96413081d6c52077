package dev.dualign.service;

import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.Headers;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;

/** What {@link WebServer} wraps around each exchange before a handler sees it (found by the fuzz tests, issue #31). */
final class DrainingExchange {
    private DrainingExchange() {}

    /**
     * Answers 400 to a request whose URI Jetty accepted and {@link java.net.URI} does not (a query
     * such as {@code ?%zz}): every handler reads {@link HttpExchange#getRequestURI}, which then threw
     * and became a 500 (found by the fuzz tests, issue #31). Returns the problem, or null when there is none.
     */
    static String uriProblem(HttpExchange ex) throws IOException {
        try {
            ex.getRequestURI();
            return null;
        } catch (IllegalArgumentException e) {
            String why = "malformed request URI: " + e.getMessage();
            byte[] b = ("{\"error\":{\"message\":" + JettyHandlers.quote(why) + ",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}")
                    .getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.getResponseHeaders().set("Cache-Control", "no-store");
            ex.sendResponseHeaders(400, b.length);
            try (java.io.OutputStream o = ex.getResponseBody()) {
                o.write(b);
            }
            ex.close();
            return why;
        }
    }

    /**
     * An exchange that reads what is left of the request body before its answer is sent (up to
     * {@link #DRAIN_LIMIT}; past that the answer says {@code Connection: close}). A handler that
     * refuses a request without reading its body (405, 401, 404, 413) otherwise leaves Jetty to close
     * the connection after the answer without saying so, and a keep-alive client's next request on
     * it fails with no answer at all (found by the fuzz tests, issue #31).
     */
    static final class Draining extends HttpExchange {
        static final int DRAIN_LIMIT = 1 << 20;
        private final HttpExchange ex;

        Draining(HttpExchange ex) {
            this.ex = ex;
        }

        @Override
        public void sendResponseHeaders(int rCode, long responseLength) throws IOException {
            try {
                java.io.InputStream in = ex.getRequestBody();
                long left = DRAIN_LIMIT;
                byte[] buf = new byte[8192];
                for (int n; left > 0 && (n = in.read(buf, 0, (int) Math.min(buf.length, left))) >= 0;) {
                    left -= n;
                }
                if (left <= 0) {
                    ex.getResponseHeaders().set("Connection", "close");
                }
            } catch (IOException e) {
                // the body could not be read (the client stalled or went away): this connection ends here
                ex.getResponseHeaders().set("Connection", "close");
            }
            ex.sendResponseHeaders(rCode, responseLength);
        }

        @Override public com.sun.net.httpserver.Headers getRequestHeaders() { return ex.getRequestHeaders(); }
        @Override public com.sun.net.httpserver.Headers getResponseHeaders() { return ex.getResponseHeaders(); }
        @Override public java.net.URI getRequestURI() { return ex.getRequestURI(); }
        @Override public String getRequestMethod() { return ex.getRequestMethod(); }
        @Override public HttpContext getHttpContext() { return ex.getHttpContext(); }
        @Override public void close() { ex.close(); }
        @Override public java.io.InputStream getRequestBody() { return ex.getRequestBody(); }
        @Override public java.io.OutputStream getResponseBody() { return ex.getResponseBody(); }
        @Override public InetSocketAddress getRemoteAddress() { return ex.getRemoteAddress(); }
        @Override public int getResponseCode() { return ex.getResponseCode(); }
        @Override public InetSocketAddress getLocalAddress() { return ex.getLocalAddress(); }
        @Override public String getProtocol() { return ex.getProtocol(); }
        @Override public Object getAttribute(String name) { return ex.getAttribute(name); }
        @Override public void setAttribute(String name, Object value) { ex.setAttribute(name, value); }
        @Override public void setStreams(java.io.InputStream i, java.io.OutputStream o) { ex.setStreams(i, o); }
        @Override public com.sun.net.httpserver.HttpPrincipal getPrincipal() { return ex.getPrincipal(); }
    }
}
