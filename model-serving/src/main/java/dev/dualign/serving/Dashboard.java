package dev.dualign.serving;

import dev.dualign.service.OpsSurface;

import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.function.Supplier;

/**
 * The live dashboard: its page and script, the Chart.js bundle served from its WebJar (no network
 * at run time), and {@code /api/state}, the data the page plots.
 */
final class Dashboard {
    /** chart.js from its WebJar, whatever version the parent pom pins (read from the WebJar's pom.properties). */
    static final String CHART_JS = "META-INF/resources/webjars/chart.js/" + webJarVersion("org.webjars.npm", "chart.js")
            + "/dist/chart.umd.js";

    private static String webJarVersion(String group, String artifact) {
        String props = "META-INF/maven/" + group + "/" + artifact + "/pom.properties";
        try (var in = Dashboard.class.getClassLoader().getResourceAsStream(props)) {
            if (in == null) {
                throw new IllegalStateException(props + " is missing: the " + artifact + " WebJar is not on the class path");
            }
            java.util.Properties p = new java.util.Properties();
            p.load(in);
            return p.getProperty("version");
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private final Supplier<Object> state;

    /** @param state the dashboard's data; null serves no dashboard (404) */
    Dashboard(Supplier<Object> state) {
        this.state = state;
    }

    void serve(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        if (state == null) {
            throw new dev.dualign.service.OpsSurface.Refusal(404, "no dashboard here");
        }
        switch (path) {
            case "/", "/index.html" -> resource(ex, "dev/dualign/dashboard/index.html", "text/html; charset=utf-8");
            case "/dashboard.js" -> resource(ex, "dev/dualign/dashboard/dashboard.js", "text/javascript; charset=utf-8");
            case "/chart.umd.js" -> resource(ex, CHART_JS, "text/javascript; charset=utf-8");
            case "/api/state" -> OpsSurface.reply(ex, 200, state.get());
            default -> throw new dev.dualign.service.OpsSurface.Refusal(404, "not found: " + path);
        }
    }

    private static void resource(HttpExchange ex, String name, String type) throws IOException {
        try (InputStream in = Dashboard.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) {
                throw new dev.dualign.service.OpsSurface.Refusal(404, "missing resource " + name);
            }
            byte[] b = in.readAllBytes();
            ex.getResponseHeaders().add("Content-Type", type);
            ex.sendResponseHeaders(200, b.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(b);
            }
        }
    }
}
