package dev.dualign.core.control;

import java.util.Optional;

/**
 * What a controller rule decided on one piece of evidence: the next state, the step to publish when
 * λ moved, and a warning for the operator's log when evidence was refused.
 */
public record Decision(ControllerState state, Optional<DualStep> step, Optional<String> warning) {
    /** Nothing to publish. */
    public static Decision stay(ControllerState state) {
        return new Decision(state, Optional.empty(), Optional.empty());
    }

    public static Decision stepped(ControllerState state, DualStep step) {
        return new Decision(state, Optional.of(step), Optional.empty());
    }

    public static Decision refused(ControllerState state, String why) {
        return new Decision(state, Optional.empty(), Optional.of(why));
    }
}
