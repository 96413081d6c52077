package dev.dualign.app;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dualign.core.config.Config;
import dev.dualign.core.config.JdkHttpServerProvider;
import dev.dualign.streaming.JobEnvironment;
import dev.dualign.streaming.JobSettings;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A local job's {@code metrics.prometheus-port} answers. With Jetty's HTTP SPI on the class path
 * (the product's), Flink's Prometheus reporter logged itself started and never listened, so
 * {@code bench job} measured no latency and {@code dualign job} advertised a dead endpoint. The
 * test JVMs pin the JDK's provider on their command line, which hid it: the job runs in a child JVM
 * started without that property, as {@code bin/dualign} starts one.
 */
class PrometheusEndpointITCase {

    @Test
    void aLocalJobsPrometheusEndpointServesMetrics(@TempDir Path tmp) throws Exception {
        int port;
        try (ServerSocket free = new ServerSocket(0)) {
            port = free.getLocalPort();
        }
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Path log = tmp.resolve("child.log");
        Process child = new ProcessBuilder(List.of(java.toString(), "-Xmx512m", "-cp", System.getProperty("java.class.path"),
                "-Djava.io.tmpdir=" + tmp, Probe.class.getName(), String.valueOf(port), tmp.toString()))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            assertThat(child.waitFor(180, TimeUnit.SECONDS)).as("the probe finished within 180 s").isTrue();
            String out = Files.readString(log, StandardCharsets.UTF_8);
            assertThat(child.exitValue()).as("probe output:\n%s", tail(out)).isZero();
            assertThat(out).contains("metrics: flink_");
        } finally {
            child.destroyForcibly();
        }
    }

    static String tail(String s) {
        return s.length() > 4000 ? s.substring(s.length() - 4000) : s;
    }

    /** The child: a local job with the Prometheus port set, as {@code JobEnvironment.local} builds it. */
    public static final class Probe {
        public static void main(String[] args) throws Exception {
            if (System.getProperty(JdkHttpServerProvider.PROPERTY) != null) {
                System.out.println("the child must start without " + JdkHttpServerProvider.PROPERTY);
                System.exit(2);
            }
            int port = Integer.parseInt(args[0]);
            Path tmp = Path.of(args[1]);
            JobSettings s = JobSettings.from(Config.of(Map.of("constraints.harmless", 0.5, "metrics.prometheus-port", port,
                    "checkpoint.dir", tmp.resolve("ckpt").toUri().toString(), "flink.parallelism", 1), DualignOptions.ALL,
                    DualignOptions.PASS_THROUGH), tmp);
            StreamExecutionEnvironment env = JobEnvironment.local(s, new org.apache.flink.configuration.Configuration(), false);
            env.fromSequence(0, Long.MAX_VALUE).map(new Slow()).sinkTo(new DiscardingSink<>());
            JobClient job = env.executeAsync("prometheus-probe");
            int code = 1;
            String last = "";
            HttpClient http = HttpClient.newHttpClient();
            for (int i = 0; i < 60 && code != 0; i++) { // the reporter starts with the MiniCluster: a minute at most
                try {
                    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                            .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
                    last = "HTTP " + r.statusCode();
                    if (r.statusCode() == 200 && r.body().contains("flink_")) {
                        System.out.println("metrics: " + r.body().lines().filter(l -> l.startsWith("flink_")).findFirst().orElse(""));
                        code = 0;
                    }
                } catch (IOException e) {
                    last = e.toString();
                }
                if (code != 0) {
                    Thread.sleep(1000);
                }
            }
            if (code != 0) {
                System.out.println("no metrics on port " + port + " within 60 s: " + last);
            }
            job.cancel().get(30, TimeUnit.SECONDS);
            System.exit(code);
        }
    }

    /** Keeps the job running while it is probed. */
    static final class Slow implements MapFunction<Long, Long> {
        @Override
        public Long map(Long x) throws InterruptedException {
            Thread.sleep(5);
            return x;
        }
    }
}
