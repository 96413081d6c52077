package dev.dualign.streaming.ops;

import dev.dualign.core.control.Decision;
import dev.dualign.core.control.DualStep;
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

    /** The fine-tune a step asks for: from the version it measured, on that version's samples. */
    FineTuneRequest request(DualStep step, long now) {
        return new FineTuneRequest(settings.constraintSet() + "-" + step.kind().key() + "-" + step.step(),
                step.lambdaByName(names), step.version(), dataTopic, step.version(), null, null, now);
    }

    /** The same request again, under a new id so the fine-tuner does not take it for one it handled. */
    FineTuneRequest retry(Decision.Retry r, long step, long now) {
        return new FineTuneRequest(settings.constraintSet() + "-retry-" + step + "-" + r.attempt(),
                DualStep.byName(names, r.lambda()), r.baseVersion(), dataTopic, r.baseVersion(), null, null, now);
    }

    static Alert alert(Decision.ControlAlert a, long now) {
        return Alert.of(Alert.Kind.valueOf(a.kind().name()), a.version(), a.constraint(), a.detail(), now);
    }
}
