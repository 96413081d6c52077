package dev.dualign.streaming.ops;

import dev.dualign.connectors.flink.JsonTypeInfo;
import dev.dualign.core.event.DeadLetter;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.model.Devices;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.model.scorer.ScorerSet;
import dev.dualign.streaming.JobSettings;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.Meter;
import org.apache.flink.metrics.MeterView;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Scores responses in micro-batches: records gather in keyed list state (so a checkpoint holds
 * them and none is lost on restart) and are scored in one DJL call per scorer when the batch is
 * full or {@code scoring.max-wait-ms} after its first record. A scorer failure or a non-finite
 * score sends the batch's records to the dead-letter output with the reason; the job goes on.
 * The scorers are loaded per subtask in {@code open()} and closed in {@code close()}.
 */
public final class ScoreBatcher extends KeyedProcessFunction<Integer, ResponseEvent, ScoredSample> {
    private static final long serialVersionUID = 1L;

    public static final OutputTag<DeadLetter> DEAD_LETTERS =
            new OutputTag<>("scoring-dead-letters", JsonTypeInfo.forEvent(DeadLetter.class));

    /** Metric names. */
    public static final String METRIC_SCORED = "scoredRecords";
    public static final String METRIC_SCORED_RATE = "scoredRecordsPerSecond";
    public static final String METRIC_BATCH_SIZE = "batchSize";
    public static final String METRIC_LATENCY = "scoringLatencyMs";
    public static final String METRIC_DEAD = "deadLetters";

    private final JobSettings settings;
    private final String sourceTopic;
    private transient ScorerSet scorers;
    private transient ListState<ResponseEvent> buffer;
    private transient ValueState<Integer> count;
    private transient ValueState<Long> timer;
    private transient Counter scored;
    private transient Counter dead;
    private transient Histogram batchSizes;
    private transient Histogram latency;

    public ScoreBatcher(JobSettings settings, String sourceTopic) {
        this.settings = settings;
        this.sourceTopic = sourceTopic;
    }

    @Override
    public void open(OpenContext ctx) {
        // state is per batching bucket (the key); it holds at most one batch, so it cannot grow
        buffer = getRuntimeContext().getListState(new ListStateDescriptor<>(BUFFER_STATE, JsonTypeInfo.forEvent(ResponseEvent.class)));
        count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.INT));
        timer = getRuntimeContext().getState(new ValueStateDescriptor<>("timer", Types.LONG));
        scorers = ScorerSet.open(new ModelRegistry(Path.of(settings.registry()), 5), settings.names(),
                Devices.resolve(settings.device()));
        var group = getRuntimeContext().getMetricGroup();
        scored = group.counter(METRIC_SCORED);
        group.meter(METRIC_SCORED_RATE, new MeterView(scored));
        dead = group.counter(METRIC_DEAD);
        batchSizes = group.histogram(METRIC_BATCH_SIZE, new DescriptiveStatisticsHistogram(500));
        latency = group.histogram(METRIC_LATENCY, new DescriptiveStatisticsHistogram(500));
    }

    /** Where a flushed batch goes: the main output, the dead letters, and the timer to cancel. */
    interface Sink {
        void scored(ScoredSample s);

        void dead(DeadLetter d);

        void deleteTimer(long time);
    }

    private static Sink sink(Context ctx, Collector<ScoredSample> out) {
        return new Sink() {
            @Override
            public void scored(ScoredSample s) {
                out.collect(s);
            }

            @Override
            public void dead(DeadLetter d) {
                ctx.output(DEAD_LETTERS, d);
            }

            @Override
            public void deleteTimer(long time) {
                ctx.timerService().deleteProcessingTimeTimer(time);
            }
        };
    }

    /** The name of the buffer state, so the operator can find every key with a pending batch. */
    static final String BUFFER_STATE = "buffer";

    @Override
    public void processElement(ResponseEvent e, Context ctx, Collector<ScoredSample> out) throws Exception {
        buffer.add(e);
        int n = count.value() == null ? 1 : count.value() + 1;
        count.update(n);
        if (n >= settings.batchSize()) {
            flush(sink(ctx, out));
        } else if (timer.value() == null) {
            long at = ctx.timerService().currentProcessingTime() + settings.maxWaitMs();
            ctx.timerService().registerProcessingTimeTimer(at);
            timer.update(at);
        }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<ScoredSample> out) throws Exception {
        flush(sink(ctx, out));
    }

    /** Scores and clears the current key's pending batch. */
    void flush(Sink out) throws Exception {
        List<ResponseEvent> batch = new ArrayList<>();
        for (ResponseEvent e : buffer.get()) {
            batch.add(e);
        }
        buffer.clear();
        count.clear();
        Long t = timer.value();
        if (t != null) {
            out.deleteTimer(t);
            timer.clear();
        }
        if (batch.isEmpty()) {
            return;
        }
        batchSizes.update(batch.size());
        long t0 = System.nanoTime();
        Map<String, double[]> scores;
        try {
            scores = scorers.score(batch.stream().map(e -> new Scorer.PromptResponse(e.prompt(), e.response())).toList());
        } catch (RuntimeException ex) {
            for (ResponseEvent e : batch) {
                deadLetter(out, e, "scorer failed: " + ex);
            }
            return;
        }
        latency.update((System.nanoTime() - t0) / 1_000_000);
        for (int i = 0; i < batch.size(); i++) {
            ResponseEvent e = batch.get(i);
            double reward = Double.NaN;
            Map<String, Double> utilities = new LinkedHashMap<>();
            String bad = null;
            for (Map.Entry<String, double[]> s : scores.entrySet()) {
                double v = s.getValue()[i];
                if (!Double.isFinite(v)) {
                    bad = "non-finite " + s.getKey() + " score " + v;
                    break;
                }
                if (s.getKey().equals(VersionEstimate.REWARD)) {
                    reward = v;
                } else {
                    utilities.put(s.getKey(), v);
                }
            }
            if (bad != null) {
                deadLetter(out, e, bad);
            } else {
                scored.inc();
                out.scored(e.scored(reward, utilities));
            }
        }
    }

    private void deadLetter(Sink out, ResponseEvent e, String reason) {
        dead.inc();
        out.dead(DeadLetter.of(sourceTopic, -1, -1, e.toJsonBytes(), reason, System.currentTimeMillis()));
    }

    @Override
    public void close() {
        if (scorers != null) {
            scorers.close();
        }
    }
}
