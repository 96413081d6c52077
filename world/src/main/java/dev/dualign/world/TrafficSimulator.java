package dev.dualign.world;

import dev.dualign.core.event.EventJson;
import dev.dualign.core.event.PromptEvent;
import dev.dualign.service.LoopKafka;
import dev.dualign.world.World;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Simulated users: prompts of the synthetic world on {@code dualign.prompts} at a steady rate,
 * reproducible from the seed. It paces itself against the clock, so a slow moment is caught up
 * rather than lost.
 */
public final class TrafficSimulator implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(TrafficSimulator.class);

    private final LoopKafka kafka;
    private final double rate;
    private final long seed;
    private final Thread thread;
    private final AtomicLong sent = new AtomicLong();
    private volatile boolean running = true;

    public TrafficSimulator(LoopKafka kafka, double rate, long seed) {
        if (!(rate > 0)) {
            throw new IllegalArgumentException("--rate must be > 0 prompts per second, got " + rate);
        }
        this.kafka = kafka;
        this.rate = rate;
        this.seed = seed;
        this.thread = new Thread(this::run, "dualign-traffic");
        this.thread.setDaemon(true);
    }

    public TrafficSimulator start() {
        thread.start();
        return this;
    }

    public long sent() {
        return sent.get();
    }

    private void run() {
        SplittableRandom rnd = new SplittableRandom(seed);
        long start = System.nanoTime();
        try (KafkaProducer<String, byte[]> producer = kafka.producer(null)) {
            while (running) {
                long n = sent.get();
                long due = start + (long) (n * 1e9 / rate);
                long wait = due - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                    continue;
                }
                World.Prompt p = World.prompt(rnd);
                PromptEvent e = new PromptEvent("p-" + seed + "-" + n, p.text(), "user-" + rnd.nextInt(1000),
                        System.currentTimeMillis());
                producer.send(new ProducerRecord<>(kafka.prompts(), e.key(), EventJson.writeBytes(e)));
                sent.incrementAndGet();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            if (running) {
                LOG.error("the traffic simulator stopped", e);
            }
        }
    }

    @Override
    public void close() throws InterruptedException {
        running = false;
        thread.join(10_000);
    }
}
