package dev.dualign.connectors.flink;

import dev.dualign.core.event.DeadLetter;
import dev.dualign.core.event.Event;
import dev.dualign.core.event.Events;
import dev.dualign.core.event.InvalidEventException;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Turns raw Kafka records into events. Never throws into the job: empty, oversized, non-JSON,
 * invalid or non-finite records become {@link DeadLetter}s on the {@link #DEAD_LETTERS} side output
 * with the reason and the original bytes, and are counted in the {@code deadLetters} metric.
 */
public final class ParseOrDeadLetter<T extends Event> extends ProcessFunction<RawRecord, T> {
    private static final long serialVersionUID = 1L;

    /** Side output of the records that could not be parsed. */
    public static final OutputTag<DeadLetter> DEAD_LETTERS =
            new OutputTag<>("dead-letters", JsonTypeInfo.forEvent(DeadLetter.class));

    /** Metric names, in the operator's metric group. */
    public static final String METRIC_DEAD_LETTERS = "deadLetters";
    public static final String METRIC_PARSED = "parsedRecords";

    private final Class<T> type;
    private final int maxRecordBytes;
    private transient Counter deadLetters;
    private transient Counter parsed;

    public ParseOrDeadLetter(Class<T> type, int maxRecordBytes) {
        this.type = type;
        this.maxRecordBytes = maxRecordBytes;
    }

    @Override
    public void open(OpenContext ctx) {
        deadLetters = getRuntimeContext().getMetricGroup().counter(METRIC_DEAD_LETTERS);
        parsed = getRuntimeContext().getMetricGroup().counter(METRIC_PARSED);
    }

    @Override
    public void processElement(RawRecord r, Context ctx, Collector<T> out) {
        String error = null;
        T event = null;
        if (r.value == null || r.value.length == 0) {
            error = "empty record";
        } else if (r.value.length > maxRecordBytes) {
            error = "record of " + r.value.length + " bytes exceeds kafka.max-record-bytes = " + maxRecordBytes;
        } else {
            try {
                event = Events.parse(type, r.value);
            } catch (InvalidEventException e) {
                error = "invalid " + type.getSimpleName() + ": " + e.getMessage();
            } catch (RuntimeException e) {
                error = "unreadable " + type.getSimpleName() + ": " + e;
            }
        }
        if (event != null) {
            parsed.inc();
            out.collect(event);
        } else {
            deadLetters.inc();
            byte[] kept = r.value == null ? new byte[0] : r.value;
            ctx.output(DEAD_LETTERS, DeadLetter.of(r.topic, r.partition, r.offset, kept, error, System.currentTimeMillis()));
        }
    }
}
