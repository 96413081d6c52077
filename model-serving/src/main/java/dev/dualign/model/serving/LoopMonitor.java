package dev.dualign.model.serving;

import dev.dualign.core.event.Alert;
import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.core.event.DualUpdate;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.stats.ConfidenceBounds;
import dev.dualign.core.stats.Interval;
import dev.dualign.core.stats.RunningStats;
import dev.dualign.model.world.Oracle;
import dev.dualign.model.world.World;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the loop has done, for people: per policy version the running estimate of reward, KL and
 * every utility with its confidence interval (from {@code dualign.scored}), the λ path (from
 * {@code dualign.dual}), the λ each version was trained with, alerts and the version timeline.
 * When prompts come from the synthetic world it also keeps the oracle's true values of each
 * version's served responses, so a run can be checked against the truth. The dashboard, the
 * status line and the demo's summary all read this one object.
 */
public final class LoopMonitor {
    public static final String REWARD = "reward";
    public static final String KL = "kl";
    private static final int MAX_POINTS = 2000;

    private final String mode;
    private final Map<String, Double> margins;
    private final double alpha;
    private final java.util.function.Function<RunningStats, Interval> constraintInterval;
    private final long started = System.currentTimeMillis();
    private final Map<Long, VersionStats> versions = new TreeMap<>();
    private final List<Map<String, Object>> lambdaPath = new ArrayList<>();
    private final List<Map<String, Object>> alerts = new ArrayList<>();
    private final List<PolicyServer.VersionEvent> timeline = new ArrayList<>();
    private final Map<Long, Map<String, Double>> trainedLambda = new TreeMap<>();
    private final List<long[]> throughput = new ArrayList<>(); // {t, scored so far}
    private long scored;
    private long referenceSamples;
    private PolicyServer.Deployment deployment = new PolicyServer.Deployment(0, -1, 0);

    private static final class VersionStats {
        final Map<String, RunningStats> estimated = new LinkedHashMap<>();
        final Map<String, RunningStats> truth = new LinkedHashMap<>();
    }

    /**
     * @param confidence level of the intervals shown (the job's {@code dual.confidence})
     */
    public LoopMonitor(String mode, Map<String, Double> margins, double confidence) {
        this(mode, margins, confidence, null);
    }

    /**
     * @param constraintInterval the interval for the constrained utilities, e.g. the anytime-valid
     *     empirical-Bernstein one when {@code dual.interval: bernstein}: the canary judge looks at it
     *     after every poll, so only an anytime-valid interval keeps its error rate at the nominal
     *     level; null: the normal interval
     */
    public LoopMonitor(String mode, Map<String, Double> margins, double confidence,
            java.util.function.Function<RunningStats, Interval> constraintInterval) {
        this.mode = mode;
        this.margins = new LinkedHashMap<>(margins);
        this.alpha = 1 - confidence;
        this.constraintInterval = constraintInterval != null ? constraintInterval : r -> ConfidenceBounds.normal(r, alpha);
        trainedLambda.put(0L, zeros());
    }

    private Interval interval(String name, RunningStats r) {
        return margins.containsKey(name) ? constraintInterval.apply(r) : ConfidenceBounds.normal(r, alpha);
    }

    private Map<String, Double> zeros() {
        Map<String, Double> z = new LinkedHashMap<>();
        margins.keySet().forEach(k -> z.put(k, 0.0));
        return z;
    }

    /** A scored response: served ones ({@code source=policy}) count towards their version. */
    public synchronized void onScored(ScoredSample s) {
        scored++;
        if ("reference".equals(s.source())) {
            referenceSamples++;
            return;
        }
        long v = s.policyVersion() == null ? 0 : s.policyVersion();
        VersionStats st = versions.computeIfAbsent(v, k -> new VersionStats());
        st.estimated.computeIfAbsent(REWARD, k -> new RunningStats()).add(s.reward());
        for (String name : margins.keySet()) {
            Double u = s.utilities().get(name);
            if (u != null && Double.isFinite(u)) {
                st.estimated.computeIfAbsent(name, k -> new RunningStats()).add(u);
            }
        }
        if (s.logprob() != null && s.refLogprob() != null) {
            st.estimated.computeIfAbsent(KL, k -> new RunningStats()).add(s.logprob() - s.refLogprob());
        }
        World.Prompt p = synthetic(s.prompt());
        if (p != null) {
            Oracle.Scores truth = Oracle.score(p.intent(), s.response());
            st.truth.computeIfAbsent(REWARD, k -> new RunningStats()).add(truth.reward());
            for (String name : margins.keySet()) {
                try {
                    st.truth.computeIfAbsent(name, k -> new RunningStats()).add(truth.get(name));
                } catch (IllegalArgumentException unknown) {
                    // a utility the synthetic world has no oracle for
                }
            }
        }
    }

    private static World.Prompt synthetic(String prompt) {
        try {
            return new World.Prompt(World.intentOf(prompt), prompt);
        } catch (RuntimeException notFromTheWorld) {
            return null;
        }
    }

    public synchronized void onDual(DualUpdate u) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("t", u.timestamp());
        p.put("lambda", new LinkedHashMap<>(u.lambda()));
        p.put("step", u.step());
        p.put("mode", u.mode());
        p.put("policyVersion", u.policyVersion());
        lambdaPath.add(p);
        if (lambdaPath.size() > MAX_POINTS) {
            lambdaPath.remove(1); // keep the first point: where λ started
        }
    }

    public synchronized void onCheckpoint(CheckpointEvent c) {
        trainedLambda.put(c.version(), new LinkedHashMap<>(c.lambda()));
    }

    public synchronized void onAlert(Alert a) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("t", a.timestamp());
        m.put("version", a.policyVersion());
        m.put("constraint", a.constraint());
        m.put("estimate", a.estimate());
        m.put("margin", a.margin());
        alerts.add(m);
    }

    public synchronized void onVersionEvent(PolicyServer.VersionEvent e, PolicyServer.Deployment now) {
        timeline.add(e);
        deployment = now;
    }

    public synchronized void onDeployment(PolicyServer.Deployment now) {
        deployment = now;
    }

    /** The estimate of each constraint's utility for {@code version}, once it has {@code nMin} samples. */
    public synchronized Map<String, Estimate> estimates(long version, int nMin) {
        VersionStats st = versions.get(version);
        Map<String, Estimate> out = new LinkedHashMap<>();
        if (st == null) {
            return out;
        }
        for (String name : margins.keySet()) {
            RunningStats r = st.estimated.get(name);
            if (r != null && r.n() >= Math.max(2, nMin)) {
                out.put(name, Estimate.of(interval(name, r)));
            }
        }
        return out;
    }

    public synchronized List<Double> latestLambda() {
        if (lambdaPath.isEmpty()) {
            return List.of();
        }
        @SuppressWarnings("unchecked")
        Map<String, Double> l = (Map<String, Double>) lambdaPath.get(lambdaPath.size() - 1).get("lambda");
        return List.copyOf(l.values());
    }

    public synchronized int dualUpdates() {
        return lambdaPath.size();
    }

    public synchronized long scored() {
        return scored;
    }

    /** The state the dashboard polls and the summary is made of. */
    public synchronized Map<String, Object> state() {
        long now = System.currentTimeMillis();
        double rate = scoredPerSecond(now);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("mode", mode);
        m.put("margins", margins);
        m.put("startedAt", started);
        m.put("now", now);
        m.put("scored", scored);
        m.put("referenceSamples", referenceSamples);
        m.put("scoredPerSecond", rate);
        m.put("deployment", deployment);
        m.put("lambdaPath", new ArrayList<>(lambdaPath));
        m.put("versions", versionList());
        m.put("timeline", new ArrayList<>(timeline));
        m.put("alerts", new ArrayList<>(alerts));
        return m;
    }

    /** Scored records per second over the last ten seconds or so (between calls of this method). */
    private double scoredPerSecond(long now) {
        throughput.add(new long[] {now, scored});
        while (throughput.size() > 2 && now - throughput.get(0)[0] > 10_000) {
            throughput.remove(0);
        }
        long[] first = throughput.get(0);
        return now > first[0] ? (scored - first[1]) * 1000.0 / (now - first[0]) : 0;
    }

    /** The JSON summary: mode, margins, the λ path and every version's estimated and true values. */
    public synchronized Map<String, Object> summary() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("mode", mode);
        m.put("margins", margins);
        m.put("startedAt", started);
        List<Map<String, Object>> path = new ArrayList<>();
        for (Map<String, Object> p : lambdaPath) {
            Map<String, Object> point = new LinkedHashMap<>();
            point.put("t", p.get("t"));
            point.put("lambda", p.get("lambda"));
            path.add(point);
        }
        m.put("lambdaPath", path);
        m.put("versions", versionList());
        m.put("timeline", new ArrayList<>(timeline));
        return m;
    }

    private List<Map<String, Object>> versionList() {
        List<Map<String, Object>> out = new ArrayList<>();
        java.util.Set<Long> all = new java.util.TreeSet<>(versions.keySet());
        all.addAll(trainedLambda.keySet());
        for (long v : all) {
            VersionStats st = versions.get(v);
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("version", v);
            e.put("lambda", trainedLambda.getOrDefault(v, Map.of()));
            Map<String, Object> est = new LinkedHashMap<>();
            Map<String, Object> truth = new LinkedHashMap<>();
            if (st != null) {
                st.estimated.forEach((name, r) -> {
                    Interval i = interval(name, r);
                    Map<String, Object> x = new LinkedHashMap<>();
                    x.put("mean", i.mean());
                    x.put("lo", Double.isFinite(i.lo()) ? i.lo() : null);
                    x.put("hi", Double.isFinite(i.hi()) ? i.hi() : null);
                    x.put("n", i.n());
                    est.put(name, x);
                });
                st.truth.forEach((name, r) -> truth.put(name, r.mean()));
            }
            e.put("estimated", est);
            e.put("true", truth);
            out.add(e);
        }
        return out;
    }

    /** One line for the console: λ, each recent version's estimates against the margins, throughput. */
    public synchronized String statusLine() {
        StringBuilder b = new StringBuilder();
        b.append(String.format("[%4ds] ", (System.currentTimeMillis() - started) / 1000));
        List<Double> l = latestLambda();
        b.append("λ=").append(l.isEmpty() ? "–" : l.stream().map(x -> String.format("%.3f", x)).toList());
        b.append(String.format("  serving v%d", deployment.stable()));
        if (deployment.canary() >= 0) {
            b.append(String.format(" + canary v%d (%.0f%%)", deployment.canary(), 100 * deployment.canaryFraction()));
        }
        int shown = 0;
        List<Long> vs = new ArrayList<>(versions.keySet());
        for (int i = vs.size() - 1; i >= 0 && shown < 3; i--, shown++) {
            long v = vs.get(i);
            b.append("  | v").append(v);
            for (String name : margins.keySet()) {
                RunningStats r = versions.get(v).estimated.get(name);
                if (r != null) {
                    Interval iv = interval(name, r);
                    String mark = iv.lo() >= margins.get(name) ? "✓" : iv.hi() < margins.get(name) ? "✗" : "?";
                    b.append(String.format(" %s %.3f±%.3f%s(b=%.2f,n=%d)", name, iv.mean(),
                            Double.isFinite(iv.halfWidth()) ? iv.halfWidth() : Double.NaN, mark, margins.get(name), iv.n()));
                }
            }
        }
        b.append(String.format("  | %.0f scored/s", scoredPerSecond(System.currentTimeMillis())));
        return b.toString();
    }
}
