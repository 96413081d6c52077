package dev.dualign.streaming.ops;

import dev.dualign.core.event.VersionEstimate;
import dev.dualign.connectors.flink.JsonTypeInfo;
import dev.dualign.core.event.Alert;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.stats.ConfidenceBounds;
import dev.dualign.core.stats.ConfidenceSequence;
import dev.dualign.core.stats.Interval;
import dev.dualign.core.stats.RunningStats;
import dev.dualign.streaming.JobSettings;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.List;
import java.util.Set;
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
 * samples, with the anytime-valid confidence sequences every decision reads: one per constraint and
 * one for the reward (the canary's reward test against the stable version, decision 27). It reads the groups of samples each upstream subtask made ({@link MicroBatcher}), one
 * state read and write per group, and adds their samples in order: on the same samples in the
 * same order the estimates are those of one sample per record, exactly. When a version's interval for a constraint lies wholly below its margin an
 * {@link Alert} goes out, once, until the version recovers. State is one small record per
 * version, so it grows with the number of versions, not of samples.
 */
public final class VersionEstimator extends KeyedProcessFunction<Long, List<EstimatorSample>, VersionEstimate> {
    private static final long serialVersionUID = 1L;

    public static final OutputTag<Alert> ALERTS = new OutputTag<>("alerts", JsonTypeInfo.forEvent(Alert.class));

    private final JobSettings settings;
    /**
     * Per version: [n, mean, m2, min, max] for each tracked name, then sinceEmit, then one alert
     * flag per constraint, then the {@link ConfidenceSequence#SLOTS} numbers of each constraint's
     * {@link ConfidenceSequence}, then those of the reward's (each at α/(m + 2): its bets are tuned to
     * the level it is read at).
     */
    private transient ValueState<double[]> state;
    private transient List<String> tracked;
    private transient Map<String, Double> gauges;
    private transient Set<Long> registered;
    private transient MetricGroup metrics;
    private transient org.apache.flink.metrics.Histogram inclusionLatency;

    /** Milliseconds from a response's timestamp to its inclusion in its version's estimate. */
    public static final String METRIC_INCLUSION_LATENCY = "inclusionLatencyMs";
    /** Constraint observations clipped to [dual.range-lo, dual.range-hi] for the anytime-valid interval. */
    public static final String METRIC_CLIPPED = "clippedObservations";
    private transient org.apache.flink.metrics.Counter clipped;
    /** Rewards clipped to [dual.reward-range-lo, dual.reward-range-hi] for the reward's anytime-valid sequence. */
    public static final String METRIC_CLIPPED_REWARDS = "clippedRewards";
    private transient org.apache.flink.metrics.Counter clippedRewards;

    public VersionEstimator(JobSettings settings) {
        this.settings = settings;
    }

    @Override
    public void open(OpenContext ctx) {
        tracked = new java.util.ArrayList<>(List.of(VersionEstimate.REWARD, VersionEstimate.KL));
        tracked.addAll(settings.names());
        // a primitive array: read and written on every sample, so its (de)serialization must be cheap.
        // Its slots are positional, so the state's name carries the layout: after the constraints
        // change, a restored job starts the estimates afresh instead of reading one utility's
        // statistics as another's. The scorer versions are in it too: an estimate is of one set of
        // scorers, so a restart that scores with a newer one starts a new series instead of mixing two.
        state = getRuntimeContext().getState(new ValueStateDescriptor<>("estimator[" + String.join(",", tracked) + "]+betting-cs+reward-cs"
                + scorerTag(settings.scorers()),
                org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo.DOUBLE_PRIMITIVE_ARRAY_TYPE_INFO));
        gauges = new ConcurrentHashMap<>();
        registered = new java.util.HashSet<>();
        metrics = getRuntimeContext().getMetricGroup();
        clipped = metrics.counter(METRIC_CLIPPED);
        clippedRewards = metrics.counter(METRIC_CLIPPED_REWARDS);
        inclusionLatency = metrics.histogram(METRIC_INCLUSION_LATENCY,
                new org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram(10_000));
    }

    /** The scorer versions as a state-name suffix ({@code @reward=1,harmless=2}); empty when none are pinned. */
    static String scorerTag(Map<String, Long> scorers) {
        StringBuilder b = new StringBuilder();
        scorers.forEach((n, v) -> b.append(b.length() == 0 ? "@" : ",").append(n).append('=').append(v));
        return b.toString();
    }

    /** The group's key: the version of its samples (a {@link MicroBatcher} groups by version). */
    public static long versionOf(List<EstimatorSample> group) {
        return group.get(0).version();
    }

    @Override
    public void processElement(List<EstimatorSample> group, Context ctx, Collector<VersionEstimate> out) throws Exception {
        int k = tracked.size();
        int m = settings.names().size();
        int csAt = 5 * k + 1 + m;
        double[] st = state.value();
        if (st == null) {
            st = new double[csAt + ConfidenceSequence.SLOTS * (m + 1)]; // the reward's sequence last
            for (int i = 0; i < k; i++) {
                st[5 * i + 3] = Double.POSITIVE_INFINITY;
                st[5 * i + 4] = Double.NEGATIVE_INFINITY;
            }
        }
        for (EstimatorSample s : group) {
            if (s.version() != ctx.getCurrentKey()) {
                throw new IllegalArgumentException("a group of version " + ctx.getCurrentKey() + " holds a sample of version "
                        + s.version());
            }
            add(st, s, ctx, out);
        }
        state.update(st);
    }

    /** One sample into the version's state; an estimate (and its alerts) every {@code dual.estimate-every} samples. */
    private void add(double[] st, EstimatorSample s, Context ctx, Collector<VersionEstimate> out) {
        int k = tracked.size();
        int sinceAt = 5 * k;
        int alertAt = sinceAt + 1;
        int m = settings.names().size();
        int csAt = alertAt + m;
        add(st, 0, s.reward());
        if (ConfidenceSequence.add(st, rewardAt(csAt), settings.rewardRangeLo(), settings.rewardRangeHi(), alphaEach(), s.reward())) {
            clippedRewards.inc();
        }
        if (!Double.isNaN(s.kl())) {
            add(st, 1, s.kl());
        }
        double[] u = s.utilities();
        for (int c = 0; c < m; c++) {
            add(st, 2 + c, bounded(u[c]));
            if (ConfidenceSequence.add(st, csAt + ConfidenceSequence.SLOTS * c, settings.rangeLo(), settings.rangeHi(), alphaEach(), u[c])
                    && !settings.anytimeValid()) {
                clipped.inc(); // counted once: bounded() counted it already in bernstein mode
            }
        }
        if (s.timestamp() > 0) {
            inclusionLatency.update(Math.max(0, System.currentTimeMillis() - s.timestamp()));
        }
        st[sinceAt] += 1;
        if (st[sinceAt] >= settings.control().estimateEvery()) {
            st[sinceAt] = 0;
            Map<String, StatsState> stats = new LinkedHashMap<>();
            for (int i = 0; i < k; i++) {
                if (st[5 * i] > 0) {
                    stats.put(tracked.get(i), new StatsState((long) st[5 * i], st[5 * i + 1], st[5 * i + 2], st[5 * i + 3],
                            st[5 * i + 4]));
                }
            }
            Map<String, ConfidenceSequence> sequences = new LinkedHashMap<>();
            for (int c = 0; c < m; c++) {
                sequences.put(settings.names().get(c), sequence(st, csAt, c));
            }
            sequences.put(VersionEstimate.REWARD, ConfidenceSequence.restore(settings.rewardRangeLo(), settings.rewardRangeHi(),
                    alphaEach(), st, rewardAt(csAt)));
            VersionEstimate e = estimate(ctx.getCurrentKey(), stats, sequences);
            out.collect(e);
            alerts(ctx, e, st, alertAt);
            publishGauges(ctx.getCurrentKey(), e);
        }
    }

    /**
     * A constraint observation as the interval needs it: the anytime-valid (Bernstein) interval holds
     * only for observations in [dual.range-lo, dual.range-hi], and the scorers' heads are unbounded,
     * so each one outside is clipped when it is added (and counted in {@link #METRIC_CLIPPED}). The
     * estimate is then of E[clip(g)], as the guarantee states. The normal interval takes them as they are.
     */
    private double bounded(double x) {
        if (!settings.anytimeValid() || (x >= settings.rangeLo() && x <= settings.rangeHi())) {
            return x;
        }
        clipped.inc();
        return Math.max(settings.rangeLo(), Math.min(settings.rangeHi(), x));
    }

    /** Welford's update of the statistics at slot {@code i} (the same arithmetic as RunningStats). */
    private static void add(double[] st, int i, double x) {
        if (!Double.isFinite(x)) {
            throw new IllegalArgumentException("refusing non-finite observation " + x);
        }
        int o = 5 * i;
        double n = st[o] + 1;
        double d = x - st[o + 1];
        st[o] = n;
        st[o + 1] += d / n;
        st[o + 2] += d * (x - st[o + 1]);
        st[o + 3] = Math.min(st[o + 3], x);
        st[o + 4] = Math.max(st[o + 4], x);
    }

    /**
     * The level of each sequence: α/(m + 2), so that what a canary decision reads holds together
     * (a union bound over the canary's m constraints and its reward, and the stable version's
     * reward); the controller and the alerts read m of them, which is within α too.
     */
    private double alphaEach() {
        return (1 - settings.confidence()) / (settings.names().size() + 2);
    }

    /** Where the reward's sequence starts: after the m constraints' ones. */
    private int rewardAt(int csAt) {
        return csAt + ConfidenceSequence.SLOTS * settings.names().size();
    }

    private ConfidenceSequence sequence(double[] st, int csAt, int c) {
        return ConfidenceSequence.restore(settings.rangeLo(), settings.rangeHi(), alphaEach(), st, csAt + ConfidenceSequence.SLOTS * c);
    }

    /**
     * The display intervals ({@code dual.interval} at this n) and the decision bounds: each
     * constraint's confidence sequence and the reward's (under {@link VersionEstimate#REWARD}), each at
     * α/(m + 2), so that all a canary decision reads hold together at every look.
     */
    VersionEstimate estimate(long version, Map<String, StatsState> stats, Map<String, ConfidenceSequence> sequences) {
        Map<String, Estimate> bounds = new LinkedHashMap<>();
        sequences.forEach((name, cs) -> {
            if (cs.n() > 0) {
                bounds.put(name, Estimate.of(cs.interval()));
            }
        });
        Map<String, Estimate> out = new LinkedHashMap<>();
        long n = 0;
        double alpha = 1 - settings.confidence();
        for (Map.Entry<String, StatsState> e : stats.entrySet()) {
            RunningStats r = e.getValue().toStats();
            if (r.n() == 0) {
                continue; // unknown (the KL of a chatbot that gives no log-probabilities): absent, never 0
            }
            Interval i;
            if (settings.anytimeValid() && settings.constraints().containsKey(e.getKey())) {
                // observations were clipped into the range when added: the bound's assumption holds
                i = ConfidenceBounds.empiricalBernstein(r, alpha, settings.rangeLo(), settings.rangeHi(), 1);
            } else {
                i = ConfidenceBounds.normal(r, alpha);
            }
            if (!Double.isFinite(i.lo()) || !Double.isFinite(i.hi())) {
                i = new Interval(i.mean(), -1e300, 1e300, i.n()); // n < 2: no interval yet
            }
            out.put(e.getKey(), Estimate.of(i));
            n = Math.max(n, r.n());
        }
        return new VersionEstimate(version, out, bounds, n, settings.scorers());
    }

    /** The anytime-valid interval needs observations inside the declared range. */
    private void alerts(Context ctx, VersionEstimate e, double[] st, int alertAt) {
        List<String> names = settings.names();
        for (int c = 0; c < names.size(); c++) {
            if (settings.control().relativeToReference().contains(names.get(c))) {
                continue; // its margin is known to the controller and the judge only: a rollback says it
            }
            Estimate est = e.bounds().get(names.get(c)); // looked at on every estimate: the anytime-valid bound
            double margin = settings.constraints().get(names.get(c));
            if (est == null) {
                continue;
            }
            boolean below = est.hi() < margin;
            gauges.put(e.policyVersion() + "/" + names.get(c) + "/violating", below ? 1.0 : 0.0);
            if (below && st[alertAt + c] == 0) {
                st[alertAt + c] = 1; // once per version and constraint until it recovers
                ctx.output(ALERTS, new Alert(e.policyVersion(), names.get(c), est, margin, System.currentTimeMillis()));
            } else if (!below) {
                st[alertAt + c] = 0;
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
                if (settings.constraints().containsKey(name)) {
                    // 1 while the version's anytime-valid bound is wholly below the margin (an alert rule watches it)
                    String k = version + "/" + name + "/violating";
                    m.gauge("violating", (Gauge<Double>) () -> gauges.getOrDefault(k, 0.0));
                }
            }
        }
    }
}
