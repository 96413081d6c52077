package dev.dualign.serving;

import dev.dualign.core.event.ResponseEvent;
import dev.dualign.service.ServiceMetrics;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where HTTP answers are logged: each answered batch goes to the sink (e.g. {@code dualign.responses})
 * off the batch thread; the prompts the reference fraction picks are queued for their reference
 * samples, made in the background ({@link ReferenceSampler}).
 */
final class HttpAnswerLog implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HttpApi.class);
    private final PolicyServer server;
    private final Consumer<List<ResponseEvent>> sink;
    private final ServiceMetrics metrics;

    /** @param sink where answered responses go; null logs nothing */
    HttpAnswerLog(PolicyServer server, Consumer<List<ResponseEvent>> sink, ServiceMetrics metrics) {
        this.server = server;
        this.sink = sink;
        this.metrics = metrics;
        if (sink != null) {
            server.sendReferenceSamplesTo(sink, () -> sinkThread.getQueue().size() > SINK_BACKLOG / 2);
        }
    }

    /**
     * After a batch is answered, on the batch thread: its exchanges go to the sink, with reference
     * samples for the prompts the reference fraction picks (by route key, once per request).
     */
    void afterBatch(List<PolicyServer.Answer> answers) {
        if (sink == null) {
            return;
        }
        // off the batch thread: a slow broker (a producer blocks up to max.block.ms) must not stall chat
        try {
            sinkThread.execute(() -> log(answers));
        } catch (java.util.concurrent.RejectedExecutionException e) {
            metrics.add("dualign_http_answers_dropped_total", "HTTP answers not sent to Kafka because the sink was too far behind",
                    Map.of(), answers.size());
            LOG.error("{} answers not logged: the Kafka sink is {} batches behind", answers.size(), SINK_BACKLOG);
        }
    }

    /** Bounded: beyond it answers are counted as dropped rather than held in memory without limit. */
    static final int SINK_BACKLOG = 1024;

    private final java.util.concurrent.ThreadPoolExecutor sinkThread = new java.util.concurrent.ThreadPoolExecutor(1, 1, 0,
            TimeUnit.MILLISECONDS, new java.util.concurrent.ArrayBlockingQueue<>(SINK_BACKLOG), r -> {
                Thread t = new Thread(r, "dualign-http-sink");
                t.setDaemon(true);
                return t;
            });

    private void log(List<PolicyServer.Answer> answers) {
        List<ResponseEvent> all = new ArrayList<>();
        answers.forEach(a -> all.addAll(a.events())); // under enforcement, with their candidates
        Map<String, PolicyServer.Prompt> forReference = new LinkedHashMap<>();
        for (PolicyServer.Answer a : answers) {
            // every response of one request shares its prompt id, and its route key decided the sampling
            if (a.routeKey() != null && server.sampledForReference(a.routeKey())) {
                forReference.putIfAbsent(a.event().promptId(), new PolicyServer.Prompt(a.event().promptId(), a.event().prompt(), a.event().clientId(),
                        a.event().messages()));
            }
        }
        sink.accept(all);
        forReference.values().forEach(server::offerForReference); // answered in the background, within its share
    }

    @Override
    public void close() {
        sinkThread.shutdown();
        try {
            sinkThread.awaitTermination(10, TimeUnit.SECONDS); // what was answered reaches the sink
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
