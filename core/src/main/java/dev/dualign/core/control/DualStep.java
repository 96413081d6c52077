package dev.dualign.core.control;

import dev.dualign.core.dual.DualMode;
import dev.dualign.core.event.Estimate;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * λ moved: what the controller publishes (a {@code DualUpdate}) and the fine-tune it asks for.
 *
 * @param kind which rule moved λ
 * @param step the dual step number (0 for the one-shot solve)
 * @param version the policy version whose samples were measured
 * @param lambda the new λ, in configuration order
 * @param evidence per constraint, the estimate that moved λ
 */
public record DualStep(DualMode kind, long step, long version, double[] lambda, Map<String, Estimate> evidence) {
    public DualStep {
        lambda = lambda.clone();
        evidence = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(evidence));
    }

    /** λ by constraint name, in configuration order. */
    public Map<String, Double> lambdaByName(List<String> names) {
        Map<String, Double> m = new LinkedHashMap<>();
        for (int c = 0; c < lambda.length; c++) {
            m.put(names.get(c), lambda[c]);
        }
        return m;
    }
}
