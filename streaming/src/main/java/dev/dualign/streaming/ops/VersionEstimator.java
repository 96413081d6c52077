package dev.dualign.streaming.ops;

import dev.dualign.connectors.flink.JsonTypeInfo;
import dev.dualign.core.event.Alert;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.stats.ConfidenceBounds;
import dev.dualign.core.stats.Interval;
import dev.dualign.core.stats.RunningStats;
import dev.dualign.streaming.JobSettings;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Keyed by policy version: a mergeable running estimate (mean and confidence interval) of each
 * constraint utility, the reward and the KL, published every {@code dual.estimate-every}
 * samples. When a version's interval for a constraint lies wholly below its margin an
 * {@link Alert} goes out, once, until the version recovers. State is one small record per
 * version, so it grows with the number of versions, not of samples.
 */
public final class VersionEstimator extends KeyedProcessFunction<Long, ScoredSample, VersionEstimate> {
    private static final long serialVersionUID = 1L;

    public static final OutputTag<Alert> ALERTS = new OutputTag<>("alerts", JsonTypeInfo.forEvent(Alert.class));

    private final JobSettings settings;
    private transient ValueState<EstimatorState> state;
    private transient Map<String, Double> gauges;
    private transient Set<Long> registered;
    private transient MetricGroup metrics;
    private transient org.apache.flink.metrics.Histogram inclusionLatency;

    /** Milliseconds from a response's timestamp to its inclusion in its version's estimate. */
    public static final String METRIC_INCLUSION_LATENCY = "inclusionLatencyMs";

    public VersionEstimator(JobSettings settings) {
        this.settings = settings;
    }

    @Override
    public void open(OpenContext ctx) {
        state = getRuntimeContext().getState(new ValueStateDescriptor<>("estimator", JsonTypeInfo.forRecord(EstimatorState.class)));
        gauges = new ConcurrentHashMap<>();
        registered = new java.util.HashSet<>();
        metrics = getRuntimeContext().getMetricGroup();
        inclusionLatency = metrics.histogram(METRIC_INCLUSION_LATENCY,
                new org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram(10_000));
    }

    @Override
    public void processElement(ScoredSample s, Context ctx, Collector<VersionEstimate> out) throws Exception {
        EstimatorState st = state.value();
        Map<String, StatsState> stats = st == null ? new HashMap<>() : new HashMap<>(st.stats());
        Set<String> alerted = st == null ? new TreeSet<>() : new TreeSet<>(st.alerted());
        add(stats, VersionEstimate.REWARD, s.reward());
        for (String name : settings.names()) {
            add(stats, name, s.utility(name));
        }
        if (s.logprob() != null && s.refLogprob() != null) {
            add(stats, VersionEstimate.KL, s.logprob() - s.refLogprob());
        }
        if (s.timestamp() != null && s.timestamp() > 0) {
            inclusionLatency.update(Math.max(0, System.currentTimeMillis() - s.timestamp()));
        }
        int since = (st == null ? 0 : st.sinceEmit()) + 1;
        if (since >= settings.estimateEvery()) {
            since = 0;
            VersionEstimate e = estimate(ctx.getCurrentKey(), stats);
            out.collect(e);
            alerts(ctx, e, alerted);
            publishGauges(ctx.getCurrentKey(), e);
        }
        state.update(new EstimatorState(stats, alerted, since));
    }

    private static void add(Map<String, StatsState> stats, String name, double x) {
        RunningStats r = stats.getOrDefault(name, StatsState.EMPTY).toStats();
        r.add(x);
        stats.put(name, StatsState.of(r));
    }

    VersionEstimate estimate(long version, Map<String, StatsState> stats) {
        Map<String, Estimate> out = new LinkedHashMap<>();
        long n = 0;
        double alpha = 1 - settings.confidence();
        for (Map.Entry<String, StatsState> e : stats.entrySet()) {
            RunningStats r = e.getValue().toStats();
            Interval i;
            if (settings.anytimeValid() && settings.constraints().containsKey(e.getKey())) {
                i = ConfidenceBounds.empiricalBernstein(clipped(r), alpha, settings.rangeLo(), settings.rangeHi(), 1);
            } else {
                i = ConfidenceBounds.normal(r, alpha);
            }
            if (!Double.isFinite(i.lo()) || !Double.isFinite(i.hi())) {
                i = new Interval(i.mean(), -1e300, 1e300, i.n()); // n < 2: no interval yet
            }
            out.put(e.getKey(), Estimate.of(i));
            n = Math.max(n, r.n());
        }
        return new VersionEstimate(version, out, n);
    }

    /** The anytime-valid interval needs observations inside the declared range. */
    private RunningStats clipped(RunningStats r) {
        if (r.min() >= settings.rangeLo() && r.max() <= settings.rangeHi()) {
            return r;
        }
        return RunningStats.of(r.n(), Math.max(settings.rangeLo(), Math.min(settings.rangeHi(), r.mean())), r.m2(),
                Math.max(settings.rangeLo(), r.min()), Math.min(settings.rangeHi(), r.max()));
    }

    private void alerts(Context ctx, VersionEstimate e, Set<String> alerted) {
        for (Map.Entry<String, Double> c : settings.constraints().entrySet()) {
            Estimate est = e.estimates().get(c.getKey());
            if (est == null) {
                continue;
            }
            boolean below = est.hi() < c.getValue();
            if (below && alerted.add(c.getKey())) {
                ctx.output(ALERTS, new Alert(e.policyVersion(), c.getKey(), est, c.getValue(), System.currentTimeMillis()));
            } else if (!below) {
                alerted.remove(c.getKey());
            }
        }
    }

    private void publishGauges(long version, VersionEstimate e) {
        e.estimates().forEach((name, est) -> {
            gauges.put(version + "/" + name + "/mean", est.mean());
            gauges.put(version + "/" + name + "/lo", est.lo());
            gauges.put(version + "/" + name + "/hi", est.hi());
        });
        if (registered.add(version)) {
            MetricGroup g = metrics.addGroup("version", Long.toString(version));
            for (String name : e.estimates().keySet()) {
                MetricGroup m = g.addGroup("estimate", name);
                for (String part : new String[] {"mean", "lo", "hi"}) {
                    String k = version + "/" + name + "/" + part;
                    m.gauge(part, (Gauge<Double>) () -> gauges.getOrDefault(k, Double.NaN));
                }
            }
        }
    }
}
