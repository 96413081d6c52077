package dev.dualign.finetune;

import dev.dualign.service.Backoff;

import dev.dualign.service.LoopKafka;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * At most one holder among the processes that share a Kafka consumer group: each is a member of
 * the group on one topic, and the holder is the member the group assigns the topic's partition 0.
 * The group protocol gives that partition to one member at a time. A holder that leaves (closes)
 * hands it over at once; one that dies (kill -9) loses it after the session timeout, and a member
 * that stops polling after the poll timeout. The partitions are paused: the membership reads
 * nothing.
 *
 * <p>A live holder gives the lease up only when its work has stopped: the revocation waits (up to
 * the rebalance's own limit) for {@link #work()}'s lock, which the holder keeps while it works, and
 * the group assigns partition 0 to another member only after the revocation returned. A holder can
 * still overlap with its successor when the group gives up on it first: its heartbeats lost for the
 * session timeout (a network split, a frozen process: it learns of the loss only afterwards), or a
 * revocation that waited {@link #REVOKE_WAIT} for work that did not stop (a Kafka call or a model
 * load the work cannot interrupt). The fine-tuner asks again just before publishing and returns a
 * version another one published for the same request meanwhile, so the overlap costs a wasted run,
 * and a second version only if both publish in the same instant.
 */
final class KafkaLease implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(KafkaLease.class);

    /** How long a dead holder keeps the lease (the group's session timeout). */
    static final Duration SESSION_TIMEOUT = Duration.ofSeconds(10);
    /** How long a holder may work before it must let the lease go when asked (the poll timeout). */
    static final Duration REVOKE_WAIT = Duration.ofSeconds(60);

    private final KafkaConsumer<String, byte[]> consumer;
    private final TopicPartition first;
    private final ReentrantLock work = new ReentrantLock();
    private final Thread thread;
    private volatile boolean held;
    private volatile boolean running = true;
    private volatile String problem;
    private final java.util.concurrent.atomic.AtomicLong failures = new java.util.concurrent.atomic.AtomicLong();

    KafkaLease(LoopKafka kafka, String groupSuffix, String topic) {
        this.consumer = kafka.consumer(groupSuffix, Map.of(
                ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, (int) SESSION_TIMEOUT.toMillis(),
                ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 1000,
                ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, (int) REVOKE_WAIT.toMillis() + 30_000,
                // sticky: a member joining or leaving moves no partition that need not move, so a standby
                // starting does not interrupt the holder; cooperative: a partition is revoked from its
                // holder in one rebalance and assigned to another only in the next
                ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName()));
        this.first = new TopicPartition(topic, 0);
        this.thread = new Thread(this::run, "dualign-finetuner-lease");
        this.thread.setDaemon(true);
    }

    KafkaLease start() {
        thread.start();
        return this;
    }

    /** Whether this process holds the lease now. */
    boolean held() {
        return held;
    }

    /** Why this member cannot take part in the group now (its topic missing, the broker gone), or null. */
    String problem() {
        return problem;
    }

    /** Times the membership failed and was started again. */
    long failures() {
        return failures.get();
    }

    /** Held while working under the lease: a revocation waits for it. */
    ReentrantLock work() {
        return work;
    }

    private void run() {
        dev.dualign.service.Backoff backoff = new dev.dualign.service.Backoff();
        while (running) {
            long started = System.currentTimeMillis();
            try {
                member();
            } catch (org.apache.kafka.common.errors.WakeupException | org.apache.kafka.common.errors.InterruptException e) {
                break; // closing
            } catch (RuntimeException e) {
                if (!running) {
                    break;
                }
                release();
                consumer.unsubscribe();
                problem = e.getMessage();
                failures.incrementAndGet();
                long waitMs = backoff.after(System.currentTimeMillis() - started);
                LOG.error("fine-tuner lease: membership failed ({}); trying again in {} s", e.getMessage(), waitMs / 1000);
                if (!dev.dualign.service.Backoff.sleep(waitMs)) {
                    break;
                }
            }
        }
        held = false;
        consumer.close(Duration.ofSeconds(5)); // leaves the group: a standby takes over at once
    }

    private void member() {
        var info = consumer.partitionsFor(first.topic(), Duration.ofSeconds(30));
        if (info == null || info.isEmpty()) {
            throw new IllegalStateException("topic " + first.topic() + " does not exist");
        }
        problem = null;
        consumer.subscribe(List.of(first.topic()), new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                consumer.pause(parts);
                if (parts.contains(first)) {
                    held = true;
                    LOG.info("fine-tuner lease acquired ({} of group {}): this fine-tuner is active", first,
                            consumer.groupMetadata().groupId());
                }
            }

            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                if (parts.contains(first)) {
                    release();
                }
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> parts) {
                if (parts.contains(first)) {
                    release();
                }
            }
        });
        while (running) {
            consumer.poll(Duration.ofMillis(500));
        }
    }

    private void release() {
        if (!held) {
            return;
        }
        held = false;
        try {
            // the work sees held() false and stops; the group waits for this callback to return
            if (work.tryLock(REVOKE_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
                work.unlock();
                LOG.info("fine-tuner lease released: this fine-tuner stands by");
            } else {
                LOG.warn("fine-tuner lease released while a run was still going after {} s", REVOKE_WAIT.toSeconds());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        if (!running) {
            return;
        }
        running = false;
        consumer.wakeup();
        try {
            thread.join(15_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
