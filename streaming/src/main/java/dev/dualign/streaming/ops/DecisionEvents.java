package dev.dualign.streaming.ops;

import dev.dualign.core.control.Decision;
import dev.dualign.core.control.DualStep;
import dev.dualign.core.dual.DualMode;
import dev.dualign.core.event.Alert;
import dev.dualign.core.event.DualUpdate;
import dev.dualign.core.event.FineTuneRequest;
import dev.dualign.streaming.JobSettings;
import java.util.List;

/** The events that carry a controller {@link Decision} out: a plain mapping, kept out of the Flink shell. */
final class DecisionEvents {
    private final JobSettings settings;
    private final List<String> names;
    private final String dataTopic;

    DecisionEvents(JobSettings settings, String dataTopic) {
        this.settings = settings;
        this.names = settings.names();
        this.dataTopic = dataTopic;
    }

    /** @param margins the absolute margins now, or null while a relative one is unresolved */
    DualUpdate update(DualStep step, double[] margins, long now) {
        return new DualUpdate(settings.constraintSet(), step.lambdaByName(names), step.evidence(), settings.control().mode(), step.kind(),
                step.step(), step.version(), step.atLambdaMax(), margins == null ? null : DualStep.byName(names, margins), now,
                settings.scorers());
    }

    /**
     * The fine-tune a step asks for: from the version it measured, on that version's samples, with the
     * mode, β, margins and the evidence it was decided on. The stable version and the dataset file are
     * not the controller's to know: they stay absent.
     *
     * @param margins the absolute margins now, or null while a relative one is unresolved
     */
    FineTuneRequest request(DualStep step, double[] margins, long now) {
        return new FineTuneRequest(settings.constraintSet() + "-" + step.kind().key() + "-" + step.step(),
                step.lambdaByName(names), step.version(), dataTopic, step.version(), null, null, now)
                .decidedBy(fineTuningMode(), settings.control().beta(), byName(margins), step.evidence());
    }

    /**
     * The same request again, under a new id so the fine-tuner does not take it for one it handled. The
     * evidence of the first is not kept in the controller's state, so a retry carries none.
     */
    FineTuneRequest retry(Decision.Retry r, long step, double[] margins, long now) {
        return new FineTuneRequest(settings.constraintSet() + "-retry-" + step + "-" + r.attempt(),
                DualStep.byName(names, r.lambda()), r.baseVersion(), dataTopic, r.baseVersion(), null, null, now)
                .decidedBy(fineTuningMode(), settings.control().beta(), byName(margins), null);
    }

    /** The mode as a request's step; only the fine-tuning modes ask for one, so null never shows on a request today. */
    private DualMode fineTuningMode() {
        DualMode m = settings.control().mode();
        return m == DualMode.MONITOR || m == DualMode.ENFORCE ? null : m;
    }

    private java.util.Map<String, Double> byName(double[] margins) {
        return margins == null ? null : DualStep.byName(names, margins);
    }

    static Alert alert(Decision.ControlAlert a, long now) {
        return Alert.of(Alert.Kind.valueOf(a.kind().name()), a.version(), a.constraint(), a.detail(), now);
    }
}
