package dev.dualign.model.serving;

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

    public LambdaFollower(LoopKafka kafka, Consumer<Map<String, Double>> onLambda) {
        this.thread = new Thread(() -> follow(kafka, onLambda), "dualign-lambda-follower");
        thread.setDaemon(true);
        thread.start();
    }

    private void follow(LoopKafka kafka, Consumer<Map<String, Double>> onLambda) {
        try (KafkaConsumer<String, byte[]> consumer = kafka.consumer("lambda-" + java.util.UUID.randomUUID())) {
            List<TopicPartition> parts = consumer.partitionsFor(kafka.dual(), Duration.ofSeconds(30)).stream()
                    .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
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
            // closing
        } catch (RuntimeException e) {
            LOG.error("λ follower stopped: {}", e.toString(), e);
        }
    }

    @Override
    public void close() {
        running = false;
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
