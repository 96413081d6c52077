package dev.dualign.streaming.ops;

import dev.dualign.core.event.VersionEstimate;
import dev.dualign.core.event.ScoredSample;

/** What the dual controller consumes: a version's estimate, or one sample (reference, or live for primal-dual). */
public record ControllerInput(VersionEstimate estimate, ScoredSample sample) {
    public static ControllerInput of(VersionEstimate e) {
        return new ControllerInput(e, null);
    }

    public static ControllerInput of(ScoredSample s) {
        return new ControllerInput(null, s);
    }
}
