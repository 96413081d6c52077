package dev.dualign.serving;

import dev.dualign.core.dual.DualMode;
import dev.dualign.core.event.Alert;
import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.core.event.DualUpdate;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.event.DeploymentDecision;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.VersionEstimate;
import dev.dualign.core.stats.RunningStats;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the loop has done, for people: per policy version the job's latest estimate of reward, KL
 * and every utility with its interval (from {@code dualign.estimates}: the server estimates
 * nothing itself), the λ path (from {@code dualign.dual}), the λ each version was trained with,
 * alerts and the version timeline. Where a {@link GroundTruth} is given (a simulation) it also
 * keeps the true values of each version's served responses from {@code dualign.scored}, so a run
 * can be checked against the truth. The dashboard, the status line and the demo's summary all read
 * this one object.
 */
public final class LoopMonitor {
    private static final int MAX_POINTS = 2000;
    /** Bounds the job writes when an estimate has no interval yet (n &lt; 2). */
    private static final double NO_BOUND = 1e299;

    private final DualMode mode;
    private final Map<String, Double> margins;
    private final GroundTruth groundTruth;
    private final Bands bands;
    private final long started = System.currentTimeMillis();
    private final Map<Long, VersionEstimate> estimated = new TreeMap<>();
    private final Map<Long, Map<String, RunningStats>> truth = new TreeMap<>();
    /** True values of the reference's samples (reference sampling, or enforcement's candidates), where known. */
    private final Map<String, RunningStats> referenceTruth = new LinkedHashMap<>();
    private final List<Map<String, Object>> lambdaPath = new ArrayList<>();
    private final List<Map<String, Object>> alerts = new ArrayList<>();
    private final List<Map<String, Object>> decisions = new ArrayList<>();
    private final List<PolicyServer.VersionEvent> timeline = new ArrayList<>();
    private final Map<Long, Map<String, Double>> trainedLambda = new TreeMap<>();
    private final List<long[]> throughput = new ArrayList<>(); // {t, scored so far}
    private long scored;
    private long referenceSamples;
    /** Dead letters on the loop's dead-letter topic since start, and when the recent ones came. */
    private long deadLetters;
    private final java.util.ArrayDeque<Long> recentDeadLetters = new java.util.ArrayDeque<>();
    private final List<Map<String, Object>> lastDeadLetters = new ArrayList<>();
    /** The fine-tuner's state when it runs in this process; null elsewhere. */
    private java.util.function.Supplier<String> fineTuner;
    private PolicyServer.Deployment deployment = new PolicyServer.Deployment(0, -1, 0);

    /**
     * What the job's interval bands are, in words for their labels: the constraints' (the kind
     * {@code dual.interval} names) and the reward's and KL's (always normal), at {@code dual.confidence}.
     */
    public record Bands(String constraints, String others) {
        /** Bands at {@code confidence}; the constraints' anytime-valid when {@code anytimeValid}. */
        public static Bands of(double confidence, boolean anytimeValid) {
            String level = String.format(java.util.Locale.ROOT, "%s %%", new java.math.BigDecimal(100 * confidence)
                    .round(new java.math.MathContext(4)).stripTrailingZeros().toPlainString());
            return new Bands(level + (anytimeValid ? " anytime-valid (Bernstein) band" : " normal band"), level + " normal band");
        }
    }

    /**
     * @param groundTruth the true utilities of a response where they are known (the synthetic
     *     world); {@link GroundTruth#NONE} for a real chatbot
     * @param bands what the job's intervals are, for the dashboard's labels
     */
    public LoopMonitor(DualMode mode, Map<String, Double> margins, GroundTruth groundTruth, Bands bands) {
        this.mode = mode;
        this.margins = new LinkedHashMap<>(margins);
        this.groundTruth = groundTruth;
        this.bands = bands;
        trainedLambda.put(0L, zeros());
    }

    private Map<String, Double> zeros() {
        Map<String, Double> z = new LinkedHashMap<>();
        margins.keySet().forEach(k -> z.put(k, 0.0));
        return z;
    }

    /** A scored response: counted, and its true values kept for its version when they are known. */
    public synchronized void onScored(ScoredSample s) {
        scored++;
        if (ResponseEvent.SOURCE_SAMPLE.equals(s.source())) {
            return; // drawn for the policy dataset, never served: not a version's true values
        }
        boolean ref = ResponseEvent.SOURCE_REFERENCE.equals(s.source());
        if (ref) {
            referenceSamples++;
        }
        long v = s.policyVersion() == null ? 0 : s.policyVersion();
        groundTruth.of(s.prompt(), s.response()).ifPresent(t -> {
            Map<String, RunningStats> st = ref ? referenceTruth : truth.computeIfAbsent(v, k -> new LinkedHashMap<>());
            t.forEach((name, x) -> {
                if (name.equals(VersionEstimate.REWARD) || margins.containsKey(name)) {
                    st.computeIfAbsent(name, k -> new RunningStats()).add(x);
                }
            });
        });
    }

    /** A record on the dead-letter topic (from the job, the server or the fine-tuner): counted, the latest listed. */
    public synchronized void onDeadLetter(dev.dualign.core.event.DeadLetter d, long now) {
        deadLetters++;
        recentDeadLetters.addLast(now);
        while (!recentDeadLetters.isEmpty() && now - recentDeadLetters.peekFirst() > 60_000) {
            recentDeadLetters.removeFirst();
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("t", d.timestamp());
        m.put("source", d.sourceTopic());
        m.put("reason", d.error().length() > 200 ? d.error().substring(0, 200) + "…" : d.error());
        lastDeadLetters.add(m);
        if (lastDeadLetters.size() > 20) {
            lastDeadLetters.remove(0);
        }
    }

    /** Shows the fine-tuner's state (when it runs in the same process as the server). */
    public synchronized void showFineTuner(java.util.function.Supplier<String> status) {
        this.fineTuner = status;
    }

    /** The job's estimate of a version: the latest one is shown. */
    public synchronized void onEstimate(VersionEstimate e) {
        estimated.put(e.policyVersion(), e);
        if (!e.scorers().isEmpty()) {
            scorers = e.scorers();
        }
    }

    /** The scorer versions of the newest estimate or λ (empty until one names them). */
    private Map<String, Long> scorers = Map.of();

    /** A deployment decision of the job, for the dashboard's list. */
    public synchronized void onDecision(DeploymentDecision d) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("t", d.timestamp());
        m.put("version", d.policyVersion());
        m.put("action", d.action());
        m.put("reason", d.reason());
        m.put("scorers", d.scorers());
        decisions.add(m);
    }

    public synchronized void onDual(DualUpdate u) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("t", u.timestamp());
        p.put("lambda", new LinkedHashMap<>(u.lambda()));
        p.put("step", u.step());
        p.put("mode", u.mode());
        p.put("kind", u.kind());
        p.put("policyVersion", u.policyVersion());
        if (!u.scorers().isEmpty()) {
            scorers = u.scorers();
        }
        if (!u.margins().isEmpty()) {
            margins.putAll(u.margins()); // a relative margin, resolved by the controller
            p.put("margins", new LinkedHashMap<>(u.margins()));
        }
        if (!u.atLambdaMax().isEmpty()) {
            p.put("atLambdaMax", u.atLambdaMax());
        }
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
        m.put("kind", a.kind());
        m.put("detail", a.detail());
        alerts.add(m);
    }

    public synchronized void onVersionEvent(PolicyServer.VersionEvent e, PolicyServer.Deployment now) {
        timeline.add(e);
        deployment = now;
    }

    public synchronized void onDeployment(PolicyServer.Deployment now) {
        deployment = now;
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
        m.put("margins", knownMargins());
        m.put("scorers", scorers);
        m.put("bands", bands);
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
        m.put("decisions", new ArrayList<>(decisions));
        while (!recentDeadLetters.isEmpty() && now - recentDeadLetters.peekFirst() > 60_000) {
            recentDeadLetters.removeFirst();
        }
        Map<String, Object> dlq = new LinkedHashMap<>();
        dlq.put("total", deadLetters);
        dlq.put("lastMinute", recentDeadLetters.size());
        dlq.put("latest", new ArrayList<>(lastDeadLetters));
        m.put("deadLetters", dlq);
        m.put("fineTuner", fineTuner == null ? null : fineTuner.get());
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

    /** The margins, a relative one not yet resolved as null (JSON has no NaN). */
    private Map<String, Double> knownMargins() {
        Map<String, Double> out = new LinkedHashMap<>();
        margins.forEach((k, v) -> out.put(k, Double.isNaN(v) ? null : v));
        return out;
    }

    /** The JSON summary: mode, margins, the λ path and every version's estimated and true values. */
    public synchronized Map<String, Object> summary() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("mode", mode);
        m.put("margins", knownMargins());
        m.put("scorers", scorers);
        m.put("startedAt", started);
        List<Map<String, Object>> path = new ArrayList<>();
        for (Map<String, Object> p : lambdaPath) {
            Map<String, Object> point = new LinkedHashMap<>();
            point.put("t", p.get("t"));
            point.put("lambda", p.get("lambda"));
            point.put("kind", p.get("kind")); // what produced this λ, and on which version's samples
            point.put("step", p.get("step"));
            point.put("policyVersion", p.get("policyVersion"));
            if (p.containsKey("atLambdaMax")) {
                point.put("atLambdaMax", p.get("atLambdaMax"));
            }
            path.add(point);
        }
        m.put("lambdaPath", path);
        Map<String, Object> serving = new LinkedHashMap<>();
        serving.put("stable", deployment.stable());
        serving.put("canary", deployment.canary());
        m.put("deployment", serving); // where the run ended
        m.put("versions", versionList());
        Map<String, Object> reference = new LinkedHashMap<>();
        reference.put("samples", referenceSamples);
        Map<String, Object> refTrue = new LinkedHashMap<>();
        referenceTruth.forEach((name, r) -> refTrue.put(name, r.mean()));
        reference.put("true", refTrue); // what the reference itself achieves, from its own samples
        m.put("reference", reference);
        m.put("timeline", new ArrayList<>(timeline));
        return m;
    }

    private List<Map<String, Object>> versionList() {
        List<Map<String, Object>> out = new ArrayList<>();
        java.util.Set<Long> all = new java.util.TreeSet<>(estimated.keySet());
        all.addAll(trainedLambda.keySet());
        for (long v : all) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("version", v);
            e.put("lambda", trainedLambda.getOrDefault(v, Map.of()));
            Map<String, Object> est = new LinkedHashMap<>();
            VersionEstimate ve = estimated.get(v);
            if (ve != null) {
                e.put("scorers", ve.scorers()); // the estimate is of these scorers' readings
                ve.estimates().forEach((name, i) -> {
                    Map<String, Object> x = new LinkedHashMap<>();
                    x.put("mean", i.mean());
                    x.put("lo", bounded(i.lo()));
                    x.put("hi", bounded(i.hi()));
                    x.put("n", i.n());
                    est.put(name, x);
                });
            }
            Map<String, Object> t = new LinkedHashMap<>();
            truth.getOrDefault(v, Map.of()).forEach((name, r) -> t.put(name, r.mean()));
            e.put("estimated", est);
            e.put("true", t);
            if (!margins.isEmpty() && margins.keySet().stream().allMatch(t::containsKey)
                    && margins.values().stream().allMatch(Double::isFinite)) {
                // judged by the oracle, not by an estimate: a simulation's check that the margins really hold
                e.put("meetsTrueMargins", margins.entrySet().stream().allMatch(b -> (Double) t.get(b.getKey()) >= b.getValue()));
            }
            out.add(e);
        }
        return out;
    }

    private static Double bounded(double x) {
        return Double.isFinite(x) && Math.abs(x) < NO_BOUND ? x : null;
    }

    /** One line for the console: λ, each recent version's estimates against the margins, throughput. */
    public synchronized String statusLine() {
        StringBuilder b = new StringBuilder();
        b.append(String.format("[%4ds] ", (System.currentTimeMillis() - started) / 1000));
        List<Double> l = latestLambda();
        b.append("λ=").append(l.isEmpty() ? "–" : l.stream().map(x -> String.format("%.3f", x)).toList());
        b.append(String.format("  serving v%d%s", deployment.stable(), mode.enforcesAtInference() ? " enforced" : ""));
        if (deployment.canary() >= 0) {
            b.append(String.format(" + canary v%d (%.0f%%)", deployment.canary(), 100 * deployment.canaryFraction()));
        }
        int shown = 0;
        List<Long> vs = new ArrayList<>(estimated.keySet());
        for (int i = vs.size() - 1; i >= 0 && shown < 3; i--, shown++) {
            long v = vs.get(i);
            b.append("  | v").append(v);
            for (String name : margins.keySet()) {
                Estimate iv = estimated.get(v).estimates().get(name);
                if (iv != null) {
                    String mark = iv.lo() >= margins.get(name) ? "✓" : iv.hi() < margins.get(name) ? "✗" : "?";
                    Double lo = bounded(iv.lo());
                    Double hi = bounded(iv.hi());
                    double half = lo == null || hi == null ? Double.NaN : (hi - lo) / 2;
                    b.append(String.format(" %s %.3f±%.3f%s(b=%.2f,n=%d)", name, iv.mean(), half, mark, margins.get(name),
                            iv.n()));
                }
            }
        }
        b.append(String.format("  | %.0f scored/s", scoredPerSecond(System.currentTimeMillis())));
        return b.toString();
    }
}
