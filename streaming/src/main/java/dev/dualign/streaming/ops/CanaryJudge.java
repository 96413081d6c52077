package dev.dualign.streaming.ops;

import dev.dualign.connectors.flink.JsonTypeInfo;
import dev.dualign.core.control.CanaryRule;
import dev.dualign.core.event.DeploymentDecision;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.VersionEstimate;
import dev.dualign.streaming.JobSettings;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import dev.dualign.core.event.DualUpdate;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.streaming.api.functions.co.KeyedBroadcastProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Keyed by policy version: applies {@link CanaryRule} to each of the version's anytime-valid
 * bounds (it looks at every estimate, so a fixed-n interval would be optional stopping) and
 * publishes a {@link DeploymentDecision} when the verdict becomes promote or rollback, once per
 * verdict. The job decides; policy servers carry the decision out for their canary. State is one
 * short string per version, and the margins the controller publishes (broadcast: a margin relative
 * to the reference is known only once the controller has measured it).
 */
public final class CanaryJudge extends KeyedBroadcastProcessFunction<Long, VersionEstimate, DualUpdate, DeploymentDecision> {
    private static final long serialVersionUID = 1L;
    static final String SOURCE = "job estimate, anytime-valid";
    /** The margins the controller last published (broadcast state): name → absolute margin. */
    public static final MapStateDescriptor<String, Double> MARGINS = new MapStateDescriptor<>("margins", Types.STRING,
            Types.DOUBLE);

    private final JobSettings settings;
    /** The action last published for this version, so each verdict goes out once. */
    private transient ValueState<String> published;

    public CanaryJudge(JobSettings settings) {
        this.settings = settings;
    }

    @Override
    public void open(OpenContext ctx) {
        published = getRuntimeContext().getState(new ValueStateDescriptor<>("published-decision", Types.STRING));
    }

    @Override
    public void processBroadcastElement(DualUpdate u, Context ctx, Collector<DeploymentDecision> out) throws Exception {
        if (!u.margins().isEmpty()) {
            ctx.getBroadcastState(MARGINS).putAll(u.margins());
        }
    }

    @Override
    public void processElement(VersionEstimate e, ReadOnlyContext ctx, Collector<DeploymentDecision> out) throws Exception {
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
        CanaryRule.CanaryDecision d = CanaryRule.judge(margins, e.bounds(), settings.control().nMin(), SOURCE);
        DeploymentDecision.Action action = switch (d.verdict()) {
            case PROMOTE -> DeploymentDecision.Action.PROMOTE;
            case ROLLBACK -> DeploymentDecision.Action.ROLLBACK;
            case HOLD -> null;
        };
        if (action == null || action.key().equals(published.value())) {
            return;
        }
        published.update(action.key());
        Map<String, Estimate> evidence = new LinkedHashMap<>();
        settings.names().stream().filter(e.bounds()::containsKey).forEach(n -> evidence.put(n, e.bounds().get(n)));
        out.collect(new DeploymentDecision(e.policyVersion(), action, d.reason(), evidence, System.currentTimeMillis()));
    }
}
