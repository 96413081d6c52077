package dev.dualign.streaming.ops;

import dev.dualign.connectors.flink.JsonTypeInfo;
import dev.dualign.core.dual.DualProblem;
import dev.dualign.core.dual.DualSolution;
import dev.dualign.core.dual.DualSolver;
import dev.dualign.core.dual.InfeasibleException;
import dev.dualign.core.dual.ProjectedSubgradient;
import dev.dualign.core.event.DualUpdate;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.FineTuneRequest;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.streaming.JobSettings;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The dual controller: one logical instance per constraint set (the key), λ and the step counter
 * in keyed state. Modes:
 * <ul>
 *   <li>{@code one-shot}: once enough reference samples are in, solve the empirical dual exactly
 *       (MoCAN) and ask for one fine-tune with λ*.
 *   <li>{@code iterative} (CAID): warm-start at the one-shot λ* when reference samples exist, then
 *       for the awaited policy version, once its estimate is tight (n ≥ n_min, half-width ≤ ε
 *       for every constraint, or a violation shown with confidence), take one projected subgradient step with that version's estimate
 *       and ask for the next version. Older versions never move λ.
 *   <li>{@code primal-dual}: a step every mini-batch of live samples, whatever their version
 *       (the Safe-RLHF-style baseline).
 *   <li>{@code monitor}: no steps, no requests (alerts come from the estimator).
 * </ul>
 * λ stays in [0, λ_max]; a non-finite estimate is refused and logged, never stored.
 */
public final class DualController extends KeyedProcessFunction<String, ControllerInput, DualUpdate> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(DualController.class);

    public static final OutputTag<FineTuneRequest> FINE_TUNE =
            new OutputTag<>("fine-tune", JsonTypeInfo.forEvent(FineTuneRequest.class));

    private final JobSettings settings;
    private final String dataTopic;
    private transient ValueState<ControllerState> state;
    private transient ListState<ScoredSample> reference;
    private transient ValueState<Long> referenceCount;
    private transient double[] lambdaGauge;
    /** The constraint names λ's positions refer to, comma-joined, so a changed configuration is noticed. */
    private transient ValueState<String> constraintNames;
    private transient String joinedNames;
    /** Keys whose saved constraint names were compared since open(): once each, not per record. */
    private transient java.util.Set<String> namesChecked;

    public DualController(JobSettings settings, String dataTopic) {
        this.settings = settings;
        this.dataTopic = dataTopic;
    }

    @Override
    public void open(OpenContext ctx) {
        state = getRuntimeContext().getState(new ValueStateDescriptor<>("controller", JsonTypeInfo.forRecord(ControllerState.class)));
        // reference samples wait here only until the one-shot solve, then are cleared
        reference = getRuntimeContext().getListState(new ListStateDescriptor<>("reference", JsonTypeInfo.forEvent(ScoredSample.class)));
        referenceCount = getRuntimeContext().getState(new ValueStateDescriptor<>("reference-count",
                org.apache.flink.api.common.typeinfo.Types.LONG));
        constraintNames = getRuntimeContext().getState(new ValueStateDescriptor<>("constraint-names",
                org.apache.flink.api.common.typeinfo.Types.STRING));
        joinedNames = String.join(",", settings.names());
        namesChecked = new java.util.HashSet<>();
        lambdaGauge = null; // registered by the subtask that owns the constraint set, on its first record
    }

    private void registerGauges() {
        lambdaGauge = new double[settings.names().size()];
        var group = getRuntimeContext().getMetricGroup().addGroup("lambda");
        for (int c = 0; c < lambdaGauge.length; c++) {
            int idx = c;
            group.gauge(settings.names().get(c), (Gauge<Double>) () -> lambdaGauge[idx]);
        }
    }

    private ControllerState current(String key) throws java.io.IOException {
        ControllerState s = state.value();
        List<String> names = settings.names();
        int k = names.size();
        if (s == null) {
            constraintNames.update(joinedNames);
            namesChecked.add(key);
            return new ControllerState(new double[k], 0, -1, -1, false, new double[k], 0, -1);
        }
        if (!namesChecked.add(key)) {
            return s; // the saved names were compared once for this key since the operator opened
        }
        String saved = constraintNames.value();
        if (saved == null && s.lambda().length == k) {
            constraintNames.update(joinedNames); // state from before the names were kept: same shape
            return s;
        }
        if (joinedNames.equals(saved)) {
            return s;
        }
        // λ is kept in configuration order: after the constraints changed, carry it over by name,
        // never by position (a reordered or shorter list would give one constraint another's λ)
        List<String> old = saved == null ? List.of() : List.of(saved.split(","));
        double[] lambda = new double[k];
        for (int c = 0; c < k; c++) {
            int i = old.indexOf(names.get(c));
            lambda[c] = i >= 0 && i < s.lambda().length ? s.lambda()[i] : 0.0;
        }
        LOG.info("constraints changed from {} to {} since the saved state: λ carried over by name ({}), new ones start at 0",
                saved == null ? "an unrecorded list of " + s.lambda().length : old, names, java.util.Arrays.toString(lambda));
        constraintNames.update(joinedNames);
        return new ControllerState(lambda, s.step(), s.awaiting(), s.lastStepped(), s.oneShotDone(), new double[k], 0,
                s.latestVersion());
    }

    @Override
    public void processElement(ControllerInput in, Context ctx, Collector<DualUpdate> out) throws Exception {
        ControllerState s = current(ctx.getCurrentKey());
        String mode = settings.mode();
        if (in.sample() != null) {
            ScoredSample x = in.sample();
            if (x.source() != null && x.source().equals("reference")) {
                if ((mode.equals("one-shot") || mode.equals("iterative")) && !s.oneShotDone()) {
                    reference.add(x);
                    s = maybeSolve(s, ctx, out);
                }
            } else if (mode.equals("primal-dual")) {
                s = primalDual(s, x, ctx, out);
            }
        } else if (in.estimate() != null && mode.equals("iterative")) {
            s = iterative(s, in.estimate(), ctx, out);
        }
        state.update(s);
        if (lambdaGauge == null) {
            registerGauges();
        }
        System.arraycopy(s.lambda(), 0, lambdaGauge, 0, lambdaGauge.length);
    }

    private ControllerState maybeSolve(ControllerState s, Context ctx, Collector<DualUpdate> out) throws Exception {
        // the per-prompt scan reads the whole list: do it only once enough samples could be there
        long count = referenceCount.value() == null ? 1 : referenceCount.value() + 1;
        referenceCount.update(count);
        if (count < (long) settings.oneShotPrompts() * settings.oneShotSamplesPerPrompt()) {
            return s;
        }
        Map<String, Integer> perPrompt = new HashMap<>();
        List<ScoredSample> all = new ArrayList<>();
        for (ScoredSample x : reference.get()) {
            all.add(x);
            perPrompt.merge(x.promptId(), 1, Integer::sum);
        }
        long ready = perPrompt.values().stream().filter(n -> n >= settings.oneShotSamplesPerPrompt()).count();
        if (ready < settings.oneShotPrompts()) {
            return s;
        }
        DualProblem.Builder b = DualProblem.builder(settings.beta()).constraints(settings.constraints());
        for (ScoredSample x : all) {
            b.add(x);
        }
        reference.clear();
        referenceCount.clear();
        try {
            DualSolution sol = new DualSolver(1e-9, 500, settings.lambdaMax()).solve(b.build());
            double[] lambda = sol.lambda().clone();
            Map<String, Estimate> est = new LinkedHashMap<>();
            for (int c = 0; c < lambda.length; c++) {
                est.put(settings.names().get(c), new Estimate(sol.expected()[c], sol.expected()[c], sol.expected()[c], sol.samples()));
            }
            LOG.info("one-shot dual solved on {} prompts / {} samples: λ* = {}", sol.prompts(), sol.samples(), sol.lambdaByName());
            ControllerState next = new ControllerState(lambda, s.step(), s.awaiting(), s.lastStepped(), true, s.batchSums(),
                    s.batchCount(), s.latestVersion());
            emit(next, 0, Math.max(0, s.latestVersion()), est, "one-shot", ctx, out);
            return next;
        } catch (InfeasibleException e) {
            // reported as such, never as a huge λ
            LOG.error("one-shot dual: {}", e.getMessage());
            return new ControllerState(s.lambda(), s.step(), s.awaiting(), s.lastStepped(), true, s.batchSums(), s.batchCount(),
                    s.latestVersion());
        }
    }

    private ControllerState iterative(ControllerState s, VersionEstimate e, Context ctx, Collector<DualUpdate> out) {
        long v = e.policyVersion();
        long latest = Math.max(s.latestVersion(), v);
        long awaiting = s.awaiting();
        if (awaiting >= 0 && v < awaiting) {
            return withLatest(s, latest); // an older version never moves λ
        }
        if (v > awaiting) {
            awaiting = v; // a newer deployment than the one awaited
        }
        if (v == s.lastStepped() || !tight(e)) {
            return new ControllerState(s.lambda(), s.step(), awaiting, s.lastStepped(), s.oneShotDone(), s.batchSums(),
                    s.batchCount(), latest);
        }
        double[] g = new double[settings.names().size()];
        Map<String, Estimate> est = new LinkedHashMap<>();
        for (int c = 0; c < g.length; c++) {
            Estimate x = e.estimates().get(settings.names().get(c));
            g[c] = x.mean();
            est.put(settings.names().get(c), x);
            if (!Double.isFinite(g[c])) {
                LOG.warn("refusing a non-finite estimate of {} for version {}", settings.names().get(c), v);
                return withLatest(s, latest);
            }
        }
        double[] lambda = step(s.lambda(), g, s.step() + 1);
        ControllerState next = new ControllerState(lambda, s.step() + 1, v + 1, v, s.oneShotDone(), s.batchSums(), s.batchCount(),
                latest);
        emit(next, next.step(), v, est, "iterative", ctx, out);
        return next;
    }

    private ControllerState primalDual(ControllerState s, ScoredSample x, Context ctx, Collector<DualUpdate> out) {
        double[] sums = s.batchSums().clone();
        for (int c = 0; c < sums.length; c++) {
            sums[c] += x.utility(settings.names().get(c));
        }
        int count = s.batchCount() + 1;
        long latest = Math.max(s.latestVersion(), x.policyVersion() == null ? 0 : x.policyVersion());
        if (count < settings.primalDualBatch()) {
            return new ControllerState(s.lambda(), s.step(), s.awaiting(), s.lastStepped(), s.oneShotDone(), sums, count, latest);
        }
        double[] g = new double[sums.length];
        Map<String, Estimate> est = new LinkedHashMap<>();
        for (int c = 0; c < g.length; c++) {
            g[c] = sums[c] / count;
            est.put(settings.names().get(c), new Estimate(g[c], g[c], g[c], count));
        }
        double[] lambda = step(s.lambda(), g, s.step() + 1);
        ControllerState next = new ControllerState(lambda, s.step() + 1, s.awaiting(), latest, s.oneShotDone(),
                new double[sums.length], 0, latest);
        emit(next, next.step(), latest, est, "primal-dual", ctx, out);
        return next;
    }

    private double[] step(double[] lambda, double[] g, long t) {
        return new ProjectedSubgradient(settings.eta(), settings.schedule(), settings.lambdaMax())
                .step(lambda, g, settings.margins(), t);
    }

    /**
     * Ready to move λ: for every constraint the estimate is tight (n ≥ n_min, half-width ≤ ε) or
     * already shows a violation with confidence (its interval lies wholly below the margin, on at
     * least one estimate's worth of samples). The second case lets λ react to a version that is
     * rolled back before it could collect n_min samples: the direction of the step is then certain.
     */
    private boolean tight(VersionEstimate e) {
        for (String name : settings.names()) {
            Estimate x = e.estimates().get(name);
            if (x == null) {
                return false;
            }
            boolean tight = x.n() >= settings.nMin() && (x.hi() - x.lo()) / 2 <= settings.epsilon();
            boolean violated = x.n() >= Math.min(settings.nMin(), settings.estimateEvery()) && x.hi() < settings.constraints().get(name);
            if (!tight && !violated) {
                return false;
            }
        }
        return true;
    }

    private void emit(ControllerState s, long step, long version, Map<String, Estimate> est, String mode, Context ctx,
            Collector<DualUpdate> out) {
        Map<String, Double> lambda = new LinkedHashMap<>();
        for (int c = 0; c < s.lambda().length; c++) {
            lambda.put(settings.names().get(c), s.lambda()[c]);
        }
        long now = System.currentTimeMillis();
        out.collect(new DualUpdate(settings.constraintSet(), lambda, est, mode, step, version, now));
        ctx.output(FINE_TUNE, new FineTuneRequest(settings.constraintSet() + "-" + mode + "-" + step, lambda, version, dataTopic,
                version, null, null, now));
    }

    private static ControllerState withLatest(ControllerState s, long latest) {
        return new ControllerState(s.lambda(), s.step(), s.awaiting(), s.lastStepped(), s.oneShotDone(), s.batchSums(),
                s.batchCount(), latest);
    }
}
