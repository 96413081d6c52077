package dev.dualign.streaming.ops;

import dev.dualign.core.event.VersionEstimate;
import dev.dualign.connectors.flink.JsonTypeInfo;
import dev.dualign.core.event.DeadLetter;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.event.Words;
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
import java.util.concurrent.ScheduledFuture;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.MeterView;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.tasks.ProcessingTimeService;
import org.apache.flink.util.OutputTag;

/**
 * Scores responses in micro-batches: one DJL call per scorer when {@code scoring.batch-size}
 * responses are waiting or {@code scoring.max-wait-ms} after the first. The batch lives in memory
 * and goes into operator state at each checkpoint, so a restart loses none of it, and no keyed
 * state is touched per record. At the end of a bounded input the pending batch is scored (Flink
 * drops processing-time timers that have not fired when a job finishes). A scorer failure or a
 * non-finite score sends the batch's records to {@link #DEAD_LETTERS} with the reason, and so does a
 * response longer than {@code scoring.max-words} ({@link Words}); the job goes on. The scorers are
 * loaded per subtask in {@code open()} and closed in {@code close()}.
 */
public final class ScoreBatchOperator extends AbstractStreamOperator<ScoredSample>
        implements OneInputStreamOperator<ResponseEvent, ScoredSample>, BoundedOneInput,
        ProcessingTimeService.ProcessingTimeCallback {
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
    private transient List<ResponseEvent> buffer;
    private transient ListState<ResponseEvent> checkpointed;
    private transient ScheduledFuture<?> timer;
    private transient ScorerSet scorers;
    private transient Counter scored;
    private transient Counter dead;
    private transient Histogram batchSizes;
    private transient Histogram latency;

    public ScoreBatchOperator(JobSettings settings, String sourceTopic) {
        this.settings = settings;
        this.sourceTopic = sourceTopic;
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        checkpointed = context.getOperatorStateStore()
                .getListState(new ListStateDescriptor<>("pending-batch", JsonTypeInfo.forRecord(ResponseEvent.class)));
        buffer = new ArrayList<>();
        for (ResponseEvent e : checkpointed.get()) {
            buffer.add(e); // restored: scored with the next batch
        }
    }

    @Override
    public void open() throws Exception {
        super.open();
        DjlCheck.require(getUserCodeClassloader());
        ai.djl.Device device;
        try {
            device = Devices.resolve(settings.device());
        } catch (RuntimeException e) {
            throw DjlCheck.explain(e);
        }
        registry = new ModelRegistry(Path.of(settings.registry()));
        // the versions pinned when the job was built: a failover or another subtask never picks up a
        // scorer published meanwhile (one estimate, one set of scorers)
        scorers = settings.scorers().isEmpty() ? ScorerSet.open(registry, settings.names(), device)
                : ScorerSet.open(registry, settings.names(), device, settings.scorers());
        pinInRegistry();
        var group = getMetricGroup();
        scored = group.counter(METRIC_SCORED);
        group.meter(METRIC_SCORED_RATE, new MeterView(scored));
        dead = group.counter(METRIC_DEAD);
        batchSizes = group.histogram(METRIC_BATCH_SIZE, new DescriptiveStatisticsHistogram(500));
        latency = group.histogram(METRIC_LATENCY, new DescriptiveStatisticsHistogram(500));
        if (!buffer.isEmpty()) {
            schedule();
        }
    }

    /**
     * Pins this run's scorer versions in the registry, so that pruning keeps them while it runs; a pin
     * expires after {@link ModelRegistry#PIN_TTL_MS}, so it is rewritten at most daily while scoring.
     */
    private void pinInRegistry() {
        lastPinned = System.currentTimeMillis();
        try {
            scorers.versions().forEach((name, v) -> registry.pin(name, settings.scorerPinHolder(), List.of(v)));
        } catch (RuntimeException e) {
            LOG.warn("cannot pin the scorer versions {} in the registry: pruning may remove them ({})", scorers.versions(), e.toString());
        }
    }

    private transient long lastPinned;
    private transient ModelRegistry registry;

    @Override
    public void processElement(StreamRecord<ResponseEvent> record) {
        ResponseEvent e = record.getValue();
        java.util.Optional<String> tooLong = Words.tooLong(e.prompt(), e.response(), settings.maxWords());
        if (tooLong.isPresent()) {
            deadLetter(e, tooLong.get());
            return;
        }
        buffer.add(e);
        if (buffer.size() >= settings.batchSize()) {
            flush();
        } else if (timer == null) {
            schedule();
        }
    }

    private void schedule() {
        ProcessingTimeService time = getProcessingTimeService();
        timer = time.registerTimer(time.getCurrentProcessingTime() + settings.maxWaitMs(), this);
    }

    @Override
    public void onProcessingTime(long time) {
        timer = null;
        flush();
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        checkpointed.update(new ArrayList<>(buffer));
    }

    @Override
    public void endInput() {
        flush();
    }

    private void flush() {
        if (System.currentTimeMillis() - lastPinned > 24 * 3600_000L) {
            pinInRegistry(); // a live run's pin must outlive the registry's pin TTL
        }
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
        if (buffer.isEmpty()) {
            return;
        }
        List<ResponseEvent> batch = buffer;
        buffer = new ArrayList<>();
        batchSizes.update(batch.size());
        long t0 = System.nanoTime();
        Map<String, double[]> scores;
        try {
            // always at the full batch size: a response's scores must not depend on the batch it
            // landed in, or a replay after a failure (batches cut at other moments) changes λ
            scores = scorers.score(batch.stream().map(Scorer.PromptResponse::of).toList(),
                    settings.batchSize());
        } catch (RuntimeException ex) {
            for (ResponseEvent e : batch) {
                deadLetter(e, "scorer failed: " + ex);
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
                deadLetter(e, bad);
            } else {
                scored.inc();
                output.collect(new StreamRecord<>(e.scored(reward, utilities)));
            }
        }
    }

    private void deadLetter(ResponseEvent e, String reason) {
        dead.inc();
        output.collect(DEAD_LETTERS, new StreamRecord<>(
                DeadLetter.of(sourceTopic, -1, -1, e.toJsonBytes(), reason, System.currentTimeMillis())));
    }

    @Override
    public void close() throws Exception {
        if (scorers != null) {
            scorers.close();
        }
        super.close();
    }
}
