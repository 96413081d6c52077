package dev.dualign.streaming.ops;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.tasks.ProcessingTimeService;

/**
 * The first phase of two-phase aggregation: groups records by a key (a policy version, a
 * constraint set) on every upstream subtask and emits each group as one list when it holds
 * {@code maxSize} records or {@code maxWaitMs} after the first. A keyed operator behind it then
 * reads one record per list instead of one per sample, so a key that carries most of the traffic
 * (the stable version) no longer sends every sample through one subtask. Everything pending is
 * emitted before each checkpoint barrier and at the end of input, so a snapshot never holds a
 * partial group and a restart neither loses nor repeats one: no state is needed.
 */
public final class MicroBatcher<T> extends AbstractStreamOperator<List<T>>
        implements OneInputStreamOperator<T, List<T>>, BoundedOneInput, ProcessingTimeService.ProcessingTimeCallback {
    private static final long serialVersionUID = 1L;

    /** Lists emitted, and records in them (their ratio is the reduction in records the keyed side reads). */
    public static final String METRIC_BATCHES = "batches";
    public static final String METRIC_RECORDS = "batchedRecords";

    private final KeySelector<T, ?> group;
    private final int maxSize;
    private final long maxWaitMs;
    private transient Map<Object, List<T>> pending;
    private transient ScheduledFuture<?> timer;
    private transient Counter batches;
    private transient Counter records;

    public MicroBatcher(KeySelector<T, ?> group, int maxSize, long maxWaitMs) {
        if (maxSize < 1 || maxWaitMs < 1) {
            throw new IllegalArgumentException("maxSize and maxWaitMs must be ≥ 1");
        }
        this.group = group;
        this.maxSize = maxSize;
        this.maxWaitMs = maxWaitMs;
    }

    @Override
    public void open() throws Exception {
        super.open();
        pending = new LinkedHashMap<>();
        batches = getMetricGroup().counter(METRIC_BATCHES);
        records = getMetricGroup().counter(METRIC_RECORDS);
    }

    @Override
    public void processElement(StreamRecord<T> record) throws Exception {
        T value = record.getValue();
        Object key = group.getKey(value);
        List<T> list = pending.computeIfAbsent(key, k -> new ArrayList<>());
        list.add(value);
        if (list.size() >= maxSize) {
            pending.remove(key);
            emit(list);
        } else if (timer == null) {
            ProcessingTimeService time = getProcessingTimeService();
            timer = time.registerTimer(time.getCurrentProcessingTime() + maxWaitMs, this);
        }
    }

    @Override
    public void onProcessingTime(long time) {
        timer = null;
        flush();
    }

    /** Pending groups go downstream ahead of the barrier: the snapshot is taken with nothing held back. */
    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        flush();
    }

    @Override
    public void endInput() {
        flush();
    }

    private void flush() {
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
        List<List<T>> all = new ArrayList<>(pending.values());
        pending.clear();
        all.forEach(this::emit);
    }

    private void emit(List<T> list) {
        batches.inc();
        records.inc(list.size());
        output.collect(new StreamRecord<>(list));
    }
}
