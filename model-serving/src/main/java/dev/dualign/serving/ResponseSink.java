package dev.dualign.serving;

import dev.dualign.core.event.EventJson;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.service.LoopKafka;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends exchanges answered over HTTP to {@code dualign.responses}. The client already has its
 * answer, so a record Kafka refuses (a broker down for longer than the producer's delivery
 * timeout) is kept and sent again until it is written: {@link #problem()} reports it while any
 * wait, and clears once they are all written. Only past {@link #RETRY_CAPACITY} waiting records is
 * one dropped, counted in {@link #lost()} and logged, never silently.
 */
public final class ResponseSink implements Consumer<List<ResponseEvent>>, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ResponseSink.class);
    /** Refused records kept for another try: about an hour of answers at 25 a second. */
    static final int RETRY_CAPACITY = 100_000;

    private final LoopKafka kafka;
    private final KafkaProducer<String, byte[]> producer;
    private final BlockingQueue<ProducerRecord<String, byte[]>> retry = new ArrayBlockingQueue<>(RETRY_CAPACITY);
    /** Records refused at least once and not yet written: waiting in {@link #retry} or sent again. */
    private final AtomicLong unwritten = new AtomicLong();
    private final AtomicLong lost = new AtomicLong();
    private volatile String lastError = "";
    private final ScheduledExecutorService resender;

    public ResponseSink(LoopKafka kafka) {
        this(kafka, 1000);
    }

    /** @param retryEveryMs how often refused records are sent again */
    ResponseSink(LoopKafka kafka, long retryEveryMs) {
        this.kafka = kafka;
        // a send that cannot even learn the topic's leaders fails within a second into the retry queue,
        // instead of holding the answer log's thread for max.block.ms (60 s) per answer while Kafka is down
        this.producer = kafka.producer(null, java.util.Map.of("max.block.ms", "1000"));
        this.resender = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "dualign-response-resend");
            t.setDaemon(true);
            return t;
        });
        resender.scheduleWithFixedDelay(this::resend, retryEveryMs, retryEveryMs, TimeUnit.MILLISECONDS);
    }

    @Override
    public void accept(List<ResponseEvent> responses) {
        for (ResponseEvent r : responses) {
            ProducerRecord<String, byte[]> rec = new ProducerRecord<>(kafka.responses(), r.key(), EventJson.writeBytes(r));
            if (unwritten.get() > 0) { // Kafka refuses answers right now: wait behind the others, in order, without blocking
                unwritten.incrementAndGet();
                keep(rec, null);
            } else {
                send(rec, false);
            }
        }
    }

    private void send(ProducerRecord<String, byte[]> rec, boolean again) {
        producer.send(rec, (meta, e) -> {
            if (e == null) {
                if (again) {
                    unwritten.decrementAndGet();
                }
                return;
            }
            lastError = e.toString();
            if (!again) {
                unwritten.incrementAndGet();
            }
            keep(rec, e);
        });
    }

    /** Keeps a refused record for the next try; past the capacity it is dropped, counted and logged. */
    private void keep(ProducerRecord<String, byte[]> rec, Exception why) {
        if (!retry.offer(rec)) {
            unwritten.decrementAndGet();
            lost.incrementAndGet();
            LOG.error("an HTTP answer could not be written to {} and {} others wait already: dropped ({})", kafka.responses(),
                    RETRY_CAPACITY, why == null ? lastError : why.toString());
        }
    }

    /**
     * Sends again what Kafka refused, one pass over what waits now. A record refused at once (no
     * metadata: the broker is still away) ends the pass, the rest waiting for the next one, so a
     * pass never loops on its own refusals and {@link #close} never hangs on an absent broker.
     */
    private void resend() {
        java.util.List<ProducerRecord<String, byte[]>> pass = new java.util.ArrayList<>();
        retry.drainTo(pass);
        try {
            for (int i = 0; i < pass.size(); i++) {
                int before = retry.size();
                send(pass.get(i), true);
                if (retry.size() > before) { // refused on the spot: keep the rest for the next pass
                    for (ProducerRecord<String, byte[]> rest : pass.subList(i + 1, pass.size())) {
                        keep(rest, null);
                    }
                    return;
                }
            }
        } catch (RuntimeException e) { // a closed producer: nothing more to do
            LOG.warn("could not send refused answers again: {}", e.toString());
        }
    }

    /** Answers that could not be written and were dropped (the retry buffer was full). */
    public long lost() {
        return lost.get();
    }

    /** Answers refused by Kafka and not yet written. */
    public long unwritten() {
        return unwritten.get();
    }

    /** Why answers are missing from Kafka now, or null once every refused answer has been written. */
    public String problem() {
        long n = unwritten.get();
        return n == 0 ? null : n + " HTTP answers wait to be written to " + kafka.responses() + " (Kafka: " + lastError + ")";
    }

    @Override
    public void close() {
        resender.shutdown();
        resend(); // what was refused gets one more try within the close timeout
        producer.close(java.time.Duration.ofSeconds(10));
        if (unwritten.get() > 0) {
            LOG.error("{} HTTP answers were not written to {} before shutdown", unwritten.get(), kafka.responses());
        }
    }
}
