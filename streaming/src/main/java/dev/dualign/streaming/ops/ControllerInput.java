package dev.dualign.streaming.ops;

import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.event.VersionEstimate;
import java.util.List;

/**
 * What the dual controller consumes: a version's estimate, or samples (reference, or live for
 * primal-dual) in the order one upstream subtask grouped them ({@link MicroBatcher}), so the one
 * controller subtask reads a record per group, not per sample.
 */
public record ControllerInput(VersionEstimate estimate, List<ScoredSample> samples) {
    public ControllerInput {
        samples = samples == null ? List.of() : List.copyOf(samples);
    }

    public static ControllerInput of(VersionEstimate e) {
        return new ControllerInput(e, null);
    }

    public static ControllerInput of(ScoredSample s) {
        return new ControllerInput(null, List.of(s));
    }

    public static ControllerInput of(List<ScoredSample> group) {
        return new ControllerInput(null, group);
    }
}
