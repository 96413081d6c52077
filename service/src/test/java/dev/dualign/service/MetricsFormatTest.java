package dev.dualign.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code /metrics} as a Prometheus server reads it: the format's rules, and the JVM's and process's series. */
class MetricsFormatTest {
    /** The kinds of series the processes register, next to the JVM's. */
    private static ServiceMetrics processLike() {
        ServiceMetrics m = new ServiceMetrics();
        m.inc("dualign_chat_requests_total", "Chat requests", Map.of("version", "3", "outcome", "ok"));
        m.counter("dualign_http_shed_total", "Shed", Map.of(), () -> 2);
        m.counters("dualign_answers_total", "Per version", () -> Map.of(Map.of("version", "0"), 10.0));
        m.gauge("dualign_healthy", "Healthy", Map.of("component", "server"), () -> 1);
        m.gauge("dualign_odd", "Help with a \\ and a\nline feed", Map.of("why", "a \"quoted\"\\thing\nover two lines"), () -> 1);
        m.observe("dualign_chat_latency_seconds", "Latency", ServiceMetrics.LATENCY_BUCKETS, 0.03);
        return m;
    }

    @Test
    void theScrapeOfEveryProcessKeepsTheFormatsRulesWithTheJvmsSeries() {
        ServiceMetrics m = JvmMetrics.register(processLike());
        JvmMetrics.register(m); // again (a second surface on the same metrics): the same series, not twice
        ExpositionFormat f = ExpositionFormat.read(m.scrape());
        assertThat(f.problems).isEmpty();
        assertThat(f.types).containsEntry("jvm_memory_used_bytes", "gauge").containsEntry("jvm_gc_collection_seconds", "summary")
                .containsEntry("jvm_threads_started_total", "counter").containsEntry("jvm_buffer_pool_used_bytes", "gauge")
                .containsEntry("dualign_answers_total", "counter").containsEntry("dualign_chat_latency_seconds", "histogram");
        assertThat(f.value("jvm_memory_used_bytes", Map.of("area", "heap"))).isPositive();
        assertThat(f.value("jvm_memory_used_bytes", Map.of("area", "nonheap"))).isPositive();
        assertThat(f.value("jvm_buffer_pool_used_bytes", Map.of("pool", "direct"))).isNotNaN();
        assertThat(f.value("jvm_threads_current", Map.of())).isGreaterThanOrEqualTo(1);
        assertThat(f.samples).anyMatch(s -> s.name().equals("jvm_gc_collection_seconds_count") && s.labels().containsKey("gc"));
        assertThat(f.value("dualign_odd", Map.of("why", "a \"quoted\"\\thing\nover two lines"))).isEqualTo(1); // escaped and back
        assertThat(f.value("process_cpu_seconds_total", Map.of())).isPositive();
    }

    @Test
    void theResidentSetSizeIsTheProcesssFromProcSelfStatusAndCountsNativeMemory() throws Exception {
        assumeTrue(Files.isReadable(Path.of("/proc/self/status")), "Linux only: /proc/self/status");
        ExpositionFormat f = ExpositionFormat.read(JvmMetrics.register(new ServiceMetrics()).scrape());
        double rss = f.value("process_resident_memory_bytes", Map.of());
        // the JVM's committed heap is resident in part at least; RSS is also above what the heap uses
        assertThat(rss).isGreaterThan(f.value("jvm_memory_used_bytes", Map.of("area", "nonheap")));
        assertThat(f.value("process_virtual_memory_bytes", Map.of())).isGreaterThan(rss);
        assertThat(JvmMetrics.statusField("Name:\tjava\nVmRSS:\t  123456 kB\nThreads:\t12\n", "VmRSS")).hasValue(123456L * 1024);
        assertThat(JvmMetrics.statusField("Name:\tjava\n", "VmRSS")).isEmpty();
    }

    @Test
    void servedAtSlashMetricsByEveryOpsSurfaceWithTheJvmsSeries() throws Exception {
        try (OpsSurface.Endpoint e = new OpsSurface(processLike(), () -> null).serve("127.0.0.1", 0)) {
            HttpResponse<String> r = HttpClient.newHttpClient().send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + e.port() + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.headers().firstValue("Content-Type")).hasValue(ServiceMetrics.CONTENT_TYPE);
            ExpositionFormat f = ExpositionFormat.read(r.body());
            assertThat(f.problems).isEmpty();
            assertThat(f.types).containsKeys("jvm_memory_used_bytes", "jvm_gc_collection_seconds", "jvm_threads_current",
                    "process_cpu_seconds_total", "dualign_chat_requests_total");
        }
    }

    @Test
    void theReaderFindsEachBrokenRule() {
        Map<String, String> broken = new LinkedHashMap<>();
        broken.put("x_total 1\n", "no TYPE");
        broken.put("# TYPE x counter\nx 1\n", "does not end in _total");
        broken.put("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n", "two places");
        broken.put("# TYPE a gauge\n# TYPE a gauge\na 1\n", "second TYPE");
        broken.put("# TYPE a gauge\na{x=\"q\"q\"} 1\n", "comma");
        broken.put("# TYPE a gauge\na{x=\"\\t\"} 1\n", "bad escape");
        broken.put("# TYPE a gauge\na{1x=\"v\"} 1\n", "bad label name");
        broken.put("# TYPE 1a gauge\n", "bad metric name");
        broken.put("# TYPE a gauge\na 1\na 2\n", "twice");
        broken.put("# TYPE a gauge\na one\n", "not a number");
        broken.put("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\nh_sum 1\n", "+Inf");
        broken.put("# TYPE a gauge\na_count 1\n", "no TYPE");
        broken.put("# TYPE a gauge\na 1", "line feed");
        broken.forEach((text, why) -> assertThat(ExpositionFormat.read(text).problems).as(text).anyMatch(p -> p.contains(why)));
        assertThat(ExpositionFormat.read("# HELP a A.\n# TYPE a gauge\na{x=\"\\\"\\\\\\n\"} 1\n").problems).isEmpty();
    }

    @Test
    void serviceMetricsRefusesWhatTheFormatOrPromQlWouldReadWrong() {
        ServiceMetrics m = new ServiceMetrics();
        for (Runnable wrong : List.<Runnable>of(
                () -> m.gauge("dualign_answers_total", "a count as a gauge", Map.of(), () -> 1),
                () -> m.gauges("dualign_steps_total", "counts as gauges", Map::of),
                () -> m.counter("dualign_answers", "a counter without _total", Map.of(), () -> 1),
                () -> m.inc("dualign_requests", "a counter without _total", Map.of()),
                () -> m.gauge("dualign-bad", "a dash", Map.of(), () -> 1),
                () -> m.gauge("dualign_ok", "a bad label", Map.of("1x", "v"), () -> 1),
                () -> m.gauge("dualign_ok2", "a reserved label", Map.of("__name__", "v"), () -> 1))) {
            assertThatThrownBy(wrong::run).isInstanceOf(IllegalArgumentException.class);
        }
        m.observe("dualign_latency_seconds", "h", ServiceMetrics.LATENCY_BUCKETS, 1);
        assertThatThrownBy(() -> m.gauge("dualign_latency_seconds_count", "g", Map.of(), () -> 1)).hasMessageContaining("collides");
        m.gauge("dualign_depth", "g", Map.of(), () -> 1);
        m.summaries("dualign_dep", "s", Map::of); // no clash: dualign_depth merely starts with it
        assertThat(ExpositionFormat.read(m.scrape()).problems).isEmpty();
    }
}
