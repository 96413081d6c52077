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
 * consumer waits and resumes. Before the job's first λ enforcement picks uniformly, which is the
 * reference served as it is.
 */
public final class LambdaFollower extends TopicFollower {
    private static final Logger LOG = LoggerFactory.getLogger(LambdaFollower.class);

    private final LoopKafka kafka;
    private final Consumer<Map<String, Double>> onLambda;

    public LambdaFollower(LoopKafka kafka, Consumer<Map<String, Double>> onLambda) {
        super("dualign-lambda-follower", LOG, "λ from " + kafka.dual());
        this.kafka = kafka;
        this.onLambda = onLambda;
        start();
    }

    @Override
    KafkaConsumer<String, byte[]> consumer() {
        return kafka.consumer("lambda-" + java.util.UUID.randomUUID());
    }

    @Override
    void session(KafkaConsumer<String, byte[]> consumer) {
        List<TopicPartition> parts = consumer.partitionsFor(kafka.dual(), Duration.ofSeconds(30)).stream()
                .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
        if (parts.isEmpty()) {
            throw new IllegalStateException("topic " + kafka.dual() + " does not exist");
        }
        consumer.assign(parts);
        consumer.seekToBeginning(parts);
        connected();
        while (running()) {
            for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                try {
                    DualUpdate u = Events.parse(DualUpdate.class, r.value());
                    onLambda.accept(u.lambda());
                } catch (RuntimeException e) {
                    LOG.warn("skipping an unreadable λ update at {}-{}@{}: {}", r.topic(), r.partition(), r.offset(), e.toString());
                }
            }
        }
    }
}
