package dev.dualign.serving;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.control.ReferenceBudget;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.service.ServiceMetrics;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where a policy step's K responses per prompt come from on live traffic: a live request gets one
 * answer, so for a share of the answered prompts ({@code server.upstream.sample-fraction}) the
 * gateway asks the upstream again, off the request path, for {@code n = K} more responses from the
 * same version (the same model name), and logs them as {@code source: sample} under the answer's
 * prompt id: the job scores them, its dataset groups them with the answer, and no estimate counts
 * them. It runs as background work within {@code server.reference-share} of wall time (the
 * upstream's time spent on samples, {@link ReferenceBudget}); prompts beyond what the budget and
 * a short queue allow are dropped and counted, never the users' requests.
 */
final class GatewaySampler implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Gateway.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Prompts waiting for their samples; more are dropped. */
    static final int QUEUE = 64;

    private final UpstreamClient upstream;
    private final AnswerLog answers;
    private final double fraction;
    private final int k;
    private final ReferenceBudget budget;
    private final BlockingQueue<AnswerLog.Logged> queue = new ArrayBlockingQueue<>(QUEUE);
    private final AtomicLong sampled = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong busyNanos = new AtomicLong();
    private final Thread worker;
    private volatile boolean running = true;

    /**
     * @param fraction share of answered prompts that get K more responses, in (0, 1]
     * @param k responses asked for each (the upstream's {@code n})
     * @param share share of wall time the samples may take, in (0, 1]
     */
    GatewaySampler(UpstreamClient upstream, AnswerLog answers, double fraction, int k, double share) {
        this.upstream = upstream;
        this.answers = answers;
        this.fraction = fraction;
        this.k = k;
        this.budget = new ReferenceBudget(share, ReferenceSampler.BURST_NANOS, Long.MAX_VALUE, System.nanoTime());
        this.worker = new Thread(this::work, "dualign-gateway-samples");
        worker.setDaemon(true);
        worker.setPriority(Thread.MIN_PRIORITY);
        answers.onLogged(this::offer);
        worker.start();
    }

    /** An answer was logged: picked with the configured probability and queued, or dropped when the queue is full. */
    void offer(AnswerLog.Logged answer) {
        // on the request's thread: no lock shared by every answer
        boolean picked = java.util.concurrent.ThreadLocalRandom.current().nextDouble() < fraction;
        if (picked && !queue.offer(answer)) {
            dropped.incrementAndGet();
        }
    }

    private void work() {
        while (running) {
            AnswerLog.Logged a;
            try {
                a = queue.poll(500, TimeUnit.MILLISECONDS);
                if (a == null) {
                    continue;
                }
                long wait = budget.waitNanos(System.nanoTime());
                if (wait > 0) {
                    TimeUnit.NANOSECONDS.sleep(wait);
                }
            } catch (InterruptedException e) {
                return;
            }
            long t0 = System.nanoTime();
            try {
                List<ResponseEvent> events = sample(a);
                answers.accept(a.promptId(), events);
                sampled.addAndGet(events.size());
            } catch (Exception e) {
                failed.incrementAndGet();
                LOG.warn("samples for prompt {} failed: {}", a.promptId(), e.toString());
            } finally {
                long spent = System.nanoTime() - t0;
                busyNanos.addAndGet(spent);
                budget.spent(System.nanoTime(), spent, 1);
            }
        }
    }

    /** K more responses to the answer's request, from the version (model name) that answered it. */
    List<ResponseEvent> sample(AnswerLog.Logged a) throws Exception {
        ObjectNode req = a.request().deepCopy();
        req.put("n", k).put("logprobs", true);
        req.remove("stream");
        req.remove("stream_options");
        if (a.model() != null) {
            req.put("model", a.model());
        }
        HttpResponse<byte[]> r = upstream.send(upstream.request("/chat/completions", null).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(req))).build());
        if (r.statusCode() != 200) {
            throw new IllegalStateException("the upstream answered HTTP " + r.statusCode() + ": "
                    + new String(r.body(), java.nio.charset.StandardCharsets.UTF_8));
        }
        JsonNode choices = JSON.readTree(r.body()).path("choices");
        if (!choices.isArray() || choices.isEmpty()) {
            throw new IllegalStateException("the upstream's answer has no choices");
        }
        String prompt = AnswerLog.lastUserMessage(a.request());
        var conversation = Conversations.messages(a.request().path("messages"));
        long now = System.currentTimeMillis();
        List<ResponseEvent> out = new ArrayList<>();
        int i = 0;
        for (JsonNode c : choices) {
            out.add(new ResponseEvent(a.promptId() + "-s" + i++, a.promptId(), prompt, c.path("message").path("content").asText(""),
                    a.version(), AnswerLog.logprob(c.path("logprobs")), null, ResponseEvent.SOURCE_SAMPLE, now, null, conversation,
                    Conversations.toolCalls(c.path("message").path("tool_calls")), a.model()));
        }
        return out;
    }

    /** Its counters on {@code /metrics}. */
    void register(ServiceMetrics m) {
        m.counter("dualign_gateway_samples_total", "Extra responses drawn for the policy dataset", Map.of(), sampled::get);
        m.counter("dualign_gateway_samples_dropped_total", "Prompts picked for samples but dropped (queue full)", Map.of(),
                dropped::get);
        m.counter("dualign_gateway_samples_failed_total", "Sample requests the upstream did not answer", Map.of(), failed::get);
        m.counter("dualign_gateway_samples_busy_seconds_total", "Wall time spent waiting on sample requests", Map.of(),
                () -> busyNanos.get() / 1e9);
    }

    @Override
    public void close() {
        running = false;
        worker.interrupt();
        try {
            worker.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
