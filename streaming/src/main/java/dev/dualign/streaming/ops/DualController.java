package dev.dualign.streaming.ops;

import dev.dualign.connectors.flink.JsonTypeInfo;
import dev.dualign.core.control.ControlPolicy;
import dev.dualign.core.control.ControllerState;
import dev.dualign.core.control.Decision;
import dev.dualign.core.event.Alert;
import dev.dualign.core.event.DualUpdate;
import dev.dualign.core.event.FineTuneRequest;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.event.VersionEstimate;
import dev.dualign.streaming.JobSettings;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The dual controller's Flink shell: one logical instance per constraint set (the key). It keeps
 * the {@link ControllerState} and the reference samples awaiting the one-shot solve in keyed
 * RocksDB state, feeds each input to the mode's {@link ControlPolicy} (in {@code core}), and
 * publishes what it decides: a {@link DualUpdate}, a {@link FineTuneRequest} and alerts on side
 * outputs. Every wait the policy arms ends in a processing-time timer that runs its fallback.
 */
public final class DualController extends KeyedProcessFunction<String, ControllerInput, DualUpdate> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(DualController.class);

    public static final OutputTag<FineTuneRequest> FINE_TUNE =
            new OutputTag<>("fine-tune", JsonTypeInfo.forEvent(FineTuneRequest.class));
    public static final OutputTag<Alert> ALERTS = new OutputTag<>("controller-alerts", JsonTypeInfo.forEvent(Alert.class));

    private final JobSettings settings;
    private final String dataTopic;
    private transient dev.dualign.core.control.ControlSettings control;
    private transient ControlPolicy policy;
    private transient DecisionEvents events;
    private transient List<String> names;
    private transient ValueState<ControllerState> state;
    /**
     * Reference samples wait here only until the one-shot solve, then are cleared (in enforce mode:
     * cut to the sliding window's newest sets): the list cannot grow for ever.
     */
    private transient ListState<ScoredSample> reference;
    private transient ValueState<Long> referenceCount;
    /** The constraint names λ's positions refer to, so a changed configuration is noticed (once per key). */
    private transient ValueState<String> constraintNames;
    private transient Set<String> namesChecked;
    private transient LambdaGauges gauges;

    public DualController(JobSettings settings, String dataTopic) {
        this.settings = settings;
        this.dataTopic = dataTopic;
    }

    @Override
    public void open(OpenContext ctx) {
        control = settings.control();
        policy = ControlPolicy.of(control);
        events = new DecisionEvents(settings, dataTopic);
        names = settings.names();
        var rc = getRuntimeContext();
        state = rc.getState(new ValueStateDescriptor<>("controller", JsonTypeInfo.forRecord(ControllerState.class)));
        reference = rc.getListState(new ListStateDescriptor<>("reference", JsonTypeInfo.forEvent(ScoredSample.class)));
        referenceCount = rc.getState(new ValueStateDescriptor<>("reference-count", Types.LONG));
        constraintNames = rc.getState(new ValueStateDescriptor<>("constraint-names", Types.STRING));
        namesChecked = new HashSet<>();
        gauges = null;
    }

    @Override
    public void processElement(ControllerInput in, Context ctx, Collector<DualUpdate> out) throws Exception {
        ControllerState before = state.value();
        if (policy.movesLambda(before == null ? ControllerState.initial(names.size()) : before)) {
            gauges().received(in.samples().size() + (in.estimate() != null ? 1 : 0));
        }
        if (in.estimate() != null) {
            carryOut(policy.onEstimate(current(ctx.getCurrentKey()), in.estimate()), ctx, out);
        }
        for (ScoredSample x : in.samples()) { // one decision per sample, in the group's order
            ControllerState s = current(ctx.getCurrentKey());
            Decision d = Decision.stay(s);
            if (ResponseEvent.SOURCE_REFERENCE.equals(x.source())) {
                if (policy.wantsReference(s)) {
                    reference.add(x);
                    d = solveIfReady(s);
                }
            } else {
                d = policy.onLiveSample(s, x);
            }
            carryOut(d, ctx, out);
        }
    }

    /** A wait armed by the policy ended: its fallback (a stale timer, whose wait ended otherwise, does nothing). */
    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<DualUpdate> out) throws Exception {
        ControllerState s = state.value();
        if (s != null && s.deadline() > 0 && s.deadline() <= timestamp) {
            carryOut(policy.onDeadline(s, timestamp), ctx, out);
        }
    }

    private void carryOut(Decision d, Context ctx, Collector<DualUpdate> out) throws IOException {
        long now = ctx.timerService().currentProcessingTime();
        d.warning().ifPresent(LOG::warn);
        d.step().ifPresent(step -> {
            gauges().stepped();
            LOG.info("{} step {} on version {}: λ = {}", step.kind().key(), step.step(), step.version(), step.lambdaByName(names));
            double[] margins = control.marginsFor(d.state());
            out.collect(events.update(step, margins, now));
            if (step.fineTune()) {
                ctx.output(FINE_TUNE, events.request(step, margins, now));
            }
        });
        d.retry().ifPresent(r -> {
            LOG.warn("no version answered the last fine-tune request in time: re-sending it (attempt {})", r.attempt());
            ctx.output(FINE_TUNE, events.retry(r, d.state().step(), control.marginsFor(d.state()), now));
        });
        d.alerts().forEach(a -> {
            LOG.warn("alert {}: {}", a.kind(), a.detail());
            ctx.output(ALERTS, DecisionEvents.alert(a, now));
        });
        ControllerState next = policy.arm(d.state(), now); // every wait ends: see ControlPolicy.arm
        if (next.deadline() > 0 && next.deadline() != d.state().deadline()) {
            ctx.timerService().registerProcessingTimeTimer(next.deadline());
        }
        state.update(next);
        gauges().set(next.lambda());
    }

    private LambdaGauges gauges() {
        if (gauges == null) {
            gauges = new LambdaGauges(getRuntimeContext().getMetricGroup(), names, control.lambdaMax());
        }
        return gauges;
    }

    private Decision solveIfReady(ControllerState s) throws Exception {
        long held = referenceCount.value() == null ? 1 : referenceCount.value() + 1;
        referenceCount.update(held);
        if (!policy.mayBeReady(held)) {
            return Decision.stay(s); // the per-prompt scan reads the whole list: only once enough could be there
        }
        List<ScoredSample> all = new ArrayList<>();
        reference.get().forEach(all::add);
        var decision = policy.solveIfReady(s, all);
        if (decision.isPresent()) {
            List<ScoredSample> kept = policy.keep(s, all); // none, or a sliding window's newest sets
            reference.update(kept);
            referenceCount.update((long) kept.size());
        }
        return decision.orElse(Decision.stay(s));
    }

    /** The key's state; after the constraint list changed since it was saved, λ is carried over by name. */
    private ControllerState current(String key) throws IOException {
        ControllerState s = state.value();
        if (namesChecked.add(key)) { // once per key since open(), not per record
            String saved = constraintNames.value();
            ControllerState r = s == null ? ControllerState.initial(names.size()) : s.reconciled(saved, names);
            if (s != null && r != s) {
                LOG.info("constraints changed from {} to {} since the saved state: λ carried over by name ({})",
                        saved, names, Arrays.toString(r.lambda()));
            }
            constraintNames.update(String.join(",", names));
            return r;
        }
        return s == null ? ControllerState.initial(names.size()) : s;
    }
}
