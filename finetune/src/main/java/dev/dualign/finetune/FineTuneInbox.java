package dev.dualign.finetune;

import dev.dualign.core.event.Events;
import dev.dualign.core.event.FineTuneRequest;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.service.LoopKafka;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A fine-tune session's input: the requests on {@code dualign.control} from the committed offsets
 * on, and the most recent scored traffic on {@code dualign.scored}, buffered as training data.
 */
final class FineTuneInbox {
    private static final Logger LOG = LoggerFactory.getLogger(FineTuneService.class); // logs as FineTuneService did

    /** A request read but not yet handled, and where it was read (to commit or dead-letter it). */
    record Pending(FineTuneRequest request, TopicPartition partition, long offset, byte[] raw) {}

    private final LoopKafka kafka;
    private final KafkaConsumer<String, byte[]> consumer;
    private final int bufferSize;
    private final ArrayDeque<ScoredSample> buffer = new ArrayDeque<>();
    private long received;

    /** Assigns {@code consumer} both topics: requests from the committed offsets, traffic from the last buffer's worth. */
    FineTuneInbox(LoopKafka kafka, KafkaConsumer<String, byte[]> consumer, int bufferSize) {
        this.kafka = kafka;
        this.consumer = consumer;
        this.bufferSize = bufferSize;
        List<TopicPartition> control = partitions(consumer, kafka.control());
        List<TopicPartition> scored = partitions(consumer, kafka.scored());
        List<TopicPartition> all = new ArrayList<>(control);
        all.addAll(scored);
        consumer.assign(all);
        Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(new java.util.HashSet<>(control));
        for (TopicPartition tp : control) {
            OffsetAndMetadata c = committed.get(tp);
            if (c != null) {
                consumer.seek(tp, c.offset());
            } else {
                consumer.seekToBeginning(List.of(tp));
            }
        }
        // training data: the most recent scored samples, up to the buffer size
        Map<TopicPartition, Long> ends = consumer.endOffsets(scored);
        Map<TopicPartition, Long> begins = consumer.beginningOffsets(scored);
        for (TopicPartition tp : scored) {
            consumer.seek(tp, Math.max(begins.get(tp), ends.get(tp) - bufferSize / scored.size()));
        }
    }

    /**
     * Polls once: scored samples go into the buffer, requests are added to {@code pending}, and an
     * unreadable request goes to {@code invalid} with the reason. Whether a request came.
     */
    boolean poll(List<Pending> pending, BiConsumer<ConsumerRecord<String, byte[]>, String> invalid) {
        boolean requested = false;
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
            if (r.topic().equals(kafka.scored())) {
                try {
                    buffer.addLast(Events.parse(ScoredSample.class, r.value()));
                    received++;
                    if (buffer.size() > bufferSize) {
                        buffer.removeFirst();
                    }
                } catch (RuntimeException e) {
                    LOG.debug("ignoring an unreadable scored record at {}:{}", r.partition(), r.offset());
                }
            } else {
                TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                try {
                    pending.add(new Pending(Events.parse(FineTuneRequest.class, r.value()), tp, r.offset(), r.value()));
                    requested = true;
                } catch (RuntimeException e) {
                    invalid.accept(r, "invalid fine-tune request: " + e.getMessage());
                }
            }
        }
        return requested;
    }

    /** Scored samples received in this session so far. */
    long received() {
        return received;
    }

    /** A copy of the buffered training data. */
    List<ScoredSample> trainingData() {
        return List.copyOf(buffer);
    }

    /** Commits the request at {@code offset}: a restart resumes after it. */
    void commit(TopicPartition tp, long offset) {
        Map<TopicPartition, OffsetAndMetadata> m = new HashMap<>();
        m.put(tp, new OffsetAndMetadata(offset + 1));
        consumer.commitSync(m);
    }

    private static List<TopicPartition> partitions(KafkaConsumer<String, byte[]> c, String topic) {
        List<PartitionInfo> info = c.partitionsFor(topic, Duration.ofSeconds(30));
        if (info == null || info.isEmpty()) {
            throw new IllegalStateException("topic " + topic + " does not exist");
        }
        return info.stream().map(i -> new TopicPartition(topic, i.partition())).toList();
    }
}
