package dev.dualign.streaming.ops;

import dev.dualign.core.control.CanaryRule;
import dev.dualign.core.event.DeploymentDecision;
import dev.dualign.core.event.DualUpdate;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.VersionEstimate;
import dev.dualign.streaming.JobSettings;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.functions.co.KeyedBroadcastProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Keyed by constraint set (one key: every version's estimate comes to the same place, like the
 * controller's), so that a canary is judged beside the stable version: applies
 * {@link CanaryRule#judgeVersion} to each version's anytime-valid bounds (it looks at every
 * estimate, so a fixed-n interval would be optional stopping) and publishes a
 * {@link DeploymentDecision} when the verdict becomes promote or rollback, once per verdict. A
 * version newer than the stable one is also tested on reward against the stable version's reward
 * bound (decision 27); the stable version is the newest this judge promoted, else the oldest version
 * it has seen ({@link CanaryRule#stableVersion}). The job decides; policy servers carry the decision
 * out for their canary. State: per version the action last published and the latest reward bound
 * (four numbers), the newest promoted and oldest seen version, and the margins the controller
 * publishes (broadcast: a margin relative to the reference is known only once the controller has
 * measured it).
 */
public final class CanaryJudge extends KeyedBroadcastProcessFunction<String, VersionEstimate, DualUpdate, DeploymentDecision> {
    private static final long serialVersionUID = 1L;
    static final String SOURCE = "job estimate, anytime-valid";
    /** The margins the controller last published (broadcast state): name → absolute margin. */
    public static final MapStateDescriptor<String, Double> MARGINS = new MapStateDescriptor<>("margins", Types.STRING,
            Types.DOUBLE);

    private final JobSettings settings;
    /** Per version, the action last published for it, so each verdict goes out once. */
    private transient MapState<Long, String> published;
    /** Per version, its latest anytime-valid reward bound as [mean, lo, hi, n]. */
    private transient MapState<Long, double[]> rewards;
    private transient ValueState<Long> newestPromoted;
    private transient ValueState<Long> oldestSeen;

    public CanaryJudge(JobSettings settings) {
        this.settings = settings;
    }

    @Override
    public void open(OpenContext ctx) {
        published = getRuntimeContext().getMapState(new MapStateDescriptor<>("published-decisions", Types.LONG, Types.STRING));
        rewards = getRuntimeContext().getMapState(new MapStateDescriptor<>("reward-bounds", Types.LONG,
                PrimitiveArrayTypeInfo.DOUBLE_PRIMITIVE_ARRAY_TYPE_INFO));
        newestPromoted = getRuntimeContext().getState(new ValueStateDescriptor<>("newest-promoted", Types.LONG));
        oldestSeen = getRuntimeContext().getState(new ValueStateDescriptor<>("oldest-seen", Types.LONG));
    }

    /** The key: every estimate of this job's constraint set is judged in one place. */
    public static String keyOf(JobSettings settings) {
        return settings.constraintSet();
    }

    @Override
    public void processBroadcastElement(DualUpdate u, Context ctx, Collector<DeploymentDecision> out) throws Exception {
        if (!u.margins().isEmpty()) {
            ctx.getBroadcastState(MARGINS).putAll(u.margins());
        }
    }

    @Override
    public void processElement(VersionEstimate e, ReadOnlyContext ctx, Collector<DeploymentDecision> out) throws Exception {
        long version = e.policyVersion();
        Estimate reward = e.bounds().get(VersionEstimate.REWARD);
        if (reward != null) {
            rewards.put(version, new double[] {reward.mean(), reward.lo(), reward.hi(), reward.n()});
        }
        if (oldestSeen.value() == null || version < oldestSeen.value()) {
            oldestSeen.update(version);
        }
        Map<String, Double> margins = settings.absoluteMargins();
        if (margins == null) {
            margins = new LinkedHashMap<>();
            for (String name : settings.names()) {
                Double b = ctx.getBroadcastState(MARGINS).get(name);
                if (b == null) {
                    return; // a relative margin not resolved yet: nothing to judge against, hold
                }
                margins.put(name, b);
            }
        }
        Long stable = CanaryRule.stableVersion(newestPromoted.value(), oldestSeen.value());
        double[] s = stable == null ? null : rewards.get(stable);
        Estimate stableReward = s == null ? null : new Estimate(s[0], s[1], s[2], (long) s[3]);
        CanaryRule.CanaryDecision d = CanaryRule.judgeVersion(margins, version, e.bounds(), settings.control().nMin(), SOURCE,
                stable, stableReward, settings.control().canaryRewardMargin());
        DeploymentDecision.Action action = switch (d.verdict()) {
            case PROMOTE -> DeploymentDecision.Action.PROMOTE;
            case ROLLBACK -> DeploymentDecision.Action.ROLLBACK;
            case HOLD -> null;
        };
        if (action == null || action.key().equals(published.get(version))) {
            return;
        }
        published.put(version, action.key());
        if (action == DeploymentDecision.Action.PROMOTE && (newestPromoted.value() == null || version > newestPromoted.value())) {
            newestPromoted.update(version);
        }
        Map<String, Estimate> evidence = new LinkedHashMap<>();
        settings.names().stream().filter(e.bounds()::containsKey).forEach(n -> evidence.put(n, e.bounds().get(n)));
        if (reward != null && stable != null && version > stable) {
            evidence.put(VersionEstimate.REWARD, reward); // the reward test was part of this decision
        }
        out.collect(new DeploymentDecision(version, action, d.reason(), evidence, System.currentTimeMillis(),
                settings.scorers()));
    }
}
