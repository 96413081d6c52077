package dev.dualign.serving;

import dev.dualign.service.LoopKafka;

import dev.dualign.core.event.DualUpdate;
import dev.dualign.core.event.Events;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads {@code dualign.dual} from its beginning and then follows it, handing every λ to a callback:
 * the live λ of an enforcing gateway, which has no serving loop of its own. From the beginning, so
 * a gateway started late enforces with the newest λ at once; an unreadable record is skipped and
 * logged (the job wrote it, and the next update supersedes it). A broker outage only delays it: the
 * consumer waits and resumes.
 */
public final class LambdaFollower implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(LambdaFollower.class);

    private final Thread thread;
    private volatile boolean running = true;
    private volatile String problem;
    private volatile KafkaConsumer<String, byte[]> current;

    public LambdaFollower(LoopKafka kafka, Consumer<Map<String, Double>> onLambda) {
        this.thread = new Thread(() -> follow(kafka, onLambda), "dualign-lambda-follower");
        thread.setDaemon(true);
        thread.start();
    }

    /** Sessions until closed: one that fails (no broker at start, the topic missing) is reported and started again. */
    private void follow(LoopKafka kafka, Consumer<Map<String, Double>> onLambda) {
        long backoff = 1_000;
        while (running) {
            try (KafkaConsumer<String, byte[]> consumer = kafka.consumer("lambda-" + java.util.UUID.randomUUID())) {
                current = consumer;
                List<TopicPartition> parts = consumer.partitionsFor(kafka.dual(), Duration.ofSeconds(30)).stream()
                        .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
                if (parts.isEmpty()) {
                    throw new IllegalStateException("topic " + kafka.dual() + " does not exist");
                }
                consumer.assign(parts);
                consumer.seekToBeginning(parts);
                backoff = 1_000;
                problem = null;
                while (running) {
                    for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                        try {
                            DualUpdate u = Events.parse(DualUpdate.class, r.value());
                            onLambda.accept(u.lambda());
                        } catch (RuntimeException e) {
                            LOG.warn("skipping an unreadable λ update at {}-{}@{}: {}", r.topic(), r.partition(), r.offset(), e.toString());
                        }
                    }
                }
            } catch (org.apache.kafka.common.errors.InterruptException | org.apache.kafka.common.errors.WakeupException e) {
                return; // closing
            } catch (RuntimeException e) {
                problem = "cannot read λ from " + kafka.dual() + ": " + e;
                LOG.warn("λ follower: {}; trying again in {} s", e.toString(), backoff / 1000);
                try {
                    Thread.sleep(backoff);
                } catch (InterruptedException ie) {
                    return;
                }
                backoff = Math.min(30_000, backoff * 2);
            } finally {
                current = null;
            }
        }
    }

    /**
     * Why enforcement cannot follow λ (for {@code /healthz}), or null while it follows the topic;
     * before the job's first λ it picks uniformly, which is the reference served as it is.
     */
    public String problem() {
        return problem;
    }

    @Override
    public void close() {
        running = false;
        KafkaConsumer<String, byte[]> c = current;
        if (c != null) {
            c.wakeup();
        }
        thread.interrupt();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
