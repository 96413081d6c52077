package dev.dualign.core.dual;

import java.util.List;

/**
 * The margin cannot be met by any reweighting of the sampled responses: even the best response of
 * every prompt falls short on average. Reported as such, never as a huge λ (docs/mathematics.md, §6).
 */
public class InfeasibleException extends RuntimeException {
    private final List<String> constraints;

    public InfeasibleException(List<String> constraints, String detail) {
        super("infeasible constraint" + (constraints.size() > 1 ? "s " : " ") + String.join(", ", constraints)
                + ": " + detail);
        this.constraints = List.copyOf(constraints);
    }

    /** Names of the constraints that cannot be met. */
    public List<String> constraints() {
        return constraints;
    }
}
