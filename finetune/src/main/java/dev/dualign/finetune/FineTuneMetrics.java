package dev.dualign.finetune;

import dev.dualign.service.ServiceMetrics;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * {@link FineTuneService}'s counters and how they appear on {@code /metrics}: runs by outcome,
 * attempts, dead letters, its state and the durations of published runs.
 */
final class FineTuneMetrics {
    final AtomicLong published = new AtomicLong();
    final AtomicLong failed = new AtomicLong();
    final AtomicLong skipped = new AtomicLong();
    final AtomicLong attempts = new AtomicLong();
    final AtomicLong sessionFailures = new AtomicLong();
    final AtomicLong deadLetters = new AtomicLong();
    private volatile ServiceMetrics metrics;

    /**
     * Puts the counters on {@code m}, with the state read from {@code status} and the session
     * failures (the lease's included) from {@code allSessionFailures}.
     */
    void register(ServiceMetrics m, Supplier<String> status, LongSupplier allSessionFailures) {
        String runs = "dualign_finetune_runs_total";
        String help = "Fine-tune requests by outcome";
        m.counter(runs, help, Map.of("outcome", "published"), published::get);
        m.counter(runs, help, Map.of("outcome", "failed"), failed::get);
        m.counter(runs, help, Map.of("outcome", "skipped"), skipped::get);
        m.counter("dualign_finetune_attempts_total", "Training runs started (retries on new traffic included)", Map.of(),
                attempts::get);
        Map<String, String> me = Map.of("component", "finetuner");
        m.counter("dualign_session_failures_total", "Kafka sessions that failed and were started again, by component", me,
                allSessionFailures::getAsLong);
        m.counter("dualign_dead_letters_total", "Records sent to dualign.dlq, by component", me, deadLetters::get);
        m.gauge("dualign_finetune_state", "1 for the fine-tuner's current state", Map.of("state", "training"),
                () -> status.get().startsWith("training") ? 1 : 0);
        m.gauge("dualign_finetune_state", "1 for the fine-tuner's current state", Map.of("state", "waiting_for_traffic"),
                () -> status.get().startsWith("waiting for traffic") ? 1 : 0);
        m.gauge("dualign_finetune_state", "1 for the fine-tuner's current state", Map.of("state", "reconnecting"),
                () -> status.get().startsWith("reconnecting") ? 1 : 0);
        m.gauge("dualign_finetune_state", "1 for the fine-tuner's current state", Map.of("state", "standby"),
                () -> status.get().startsWith("standby") ? 1 : 0);
        m.gauge("dualign_healthy", "1 when the component works, 0 while /healthz reports a problem", me,
                () -> status.get().startsWith("reconnecting") ? 0 : 1);
        metrics = m;
    }

    /** Records a published run that started {@code startedMs} ago, once metrics are registered. */
    void observeDuration(long startedMs) {
        ServiceMetrics m = metrics;
        if (m != null) {
            m.observe("dualign_finetune_duration_seconds", "Duration of published fine-tune runs",
                    ServiceMetrics.DURATION_BUCKETS, (System.currentTimeMillis() - startedMs) / 1000.0);
        }
    }
}
