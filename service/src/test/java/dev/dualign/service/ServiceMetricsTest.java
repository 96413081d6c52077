package dev.dualign.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ServiceMetricsTest {
    @Test
    void writesThePrometheusTextFormatWithLabelsNotNameSuffixes() {
        ServiceMetrics m = new ServiceMetrics();
        m.inc("dualign_chat_requests_total", "Chat requests", Map.of("version", "3", "outcome", "ok"));
        java.util.Map<String, String> reversed = new LinkedHashMap<>();
        reversed.put("outcome", "ok");
        reversed.put("version", "3");
        m.inc("dualign_chat_requests_total", "Chat requests", reversed); // the same series
        m.inc("dualign_chat_requests_total", "Chat requests", Map.of("version", "none", "outcome", "bad_request"));
        AtomicLong published = new AtomicLong(4);
        m.counter("dualign_finetune_runs_total", "Runs", Map.of("outcome", "published"), published::get);
        m.gauge("dualign_canary_share", "Share", Map.of(), () -> 0.5);
        m.counters("dualign_answers_total", "Per version", () -> {
            Map<Map<String, String>, Double> out = new LinkedHashMap<>();
            out.put(Map.of("version", "0"), 10.0);
            out.put(Map.of("version", "1"), 2.0);
            return out;
        });
        m.gauge("dualign_odd", "Label \"escaping\"", Map.of("why", "a \"quoted\"\\thing"), () -> 1);
        for (double x : new double[] {0.004, 0.03, 0.03, 20}) {
            m.observe("dualign_chat_latency_seconds", "Latency", ServiceMetrics.LATENCY_BUCKETS, x);
        }
        published.set(5); // read when scraped
        String text = m.scrape();
        assertThat(text).contains("# HELP dualign_chat_requests_total Chat requests\n# TYPE dualign_chat_requests_total counter\n")
                // labels sorted by name, so a label set is one series however it was given
                .contains("dualign_chat_requests_total{outcome=\"ok\",version=\"3\"} 2\n")
                .contains("dualign_chat_requests_total{outcome=\"bad_request\",version=\"none\"} 1\n")
                .contains("dualign_finetune_runs_total{outcome=\"published\"} 5\n")
                .contains("# TYPE dualign_canary_share gauge\ndualign_canary_share 0.5\n")
                .contains("# TYPE dualign_answers_total counter\n") // counts since start: a counter, so rate() reads it
                .contains("dualign_answers_total{version=\"0\"} 10\n", "dualign_answers_total{version=\"1\"} 2\n")
                .contains("dualign_odd{why=\"a \\\"quoted\\\"\\\\thing\"} 1\n")
                // cumulative buckets, +Inf equal to the count
                .contains("dualign_chat_latency_seconds_bucket{le=\"0.005\"} 1\n", "dualign_chat_latency_seconds_bucket{le=\"0.025\"} 1\n",
                        "dualign_chat_latency_seconds_bucket{le=\"0.05\"} 3\n", "dualign_chat_latency_seconds_bucket{le=\"10\"} 3\n",
                        "dualign_chat_latency_seconds_bucket{le=\"+Inf\"} 4\n", "dualign_chat_latency_seconds_count 4\n",
                        "dualign_chat_latency_seconds_sum 20.064\n");
        assertThatThrownBy(() -> m.gauge("dualign_chat_requests_total", "x", Map.of(), () -> 1)).hasMessageContaining("counter");
    }
}
