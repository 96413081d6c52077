package dev.dualign.core.config;

/**
 * Keeps {@code HttpServer.create} the JDK's own server in a process that has Jetty's HTTP SPI on its
 * class path. That jar registers itself as the JDK's server provider, and the servers libraries make
 * through it (Flink's Prometheus reporter among them) then report themselves started and never
 * listen: a local job's {@code metrics.prometheus-port} answered nothing until this was pinned.
 */
public final class JdkHttpServerProvider {
    /** The JDK's system property that names the provider {@code HttpServer.create} uses. */
    public static final String PROPERTY = "com.sun.net.httpserver.HttpServerProvider";
    /** The JDK's own provider. */
    public static final String JDK = "sun.net.httpserver.DefaultHttpServerProvider";

    private JdkHttpServerProvider() {}

    /**
     * Pins the JDK's provider unless the process already named one. Must run before anything in the
     * process first calls {@code HttpServer.create}: the JDK resolves the provider once.
     */
    public static void pin() {
        if (System.getProperty(PROPERTY) == null) {
            System.setProperty(PROPERTY, JDK);
        }
    }
}
