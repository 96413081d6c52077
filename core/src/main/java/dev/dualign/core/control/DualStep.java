package dev.dualign.core.control;

import dev.dualign.core.dual.StepKind;
import dev.dualign.core.event.Estimate;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * λ moved: what the controller publishes (a {@code DualUpdate}) and the fine-tune it asks for.
 *
 * @param kind which rule produced λ
 * @param step the dual step number (0 for λ(0): the one-shot solve or the initial value)
 * @param version the policy version whose samples were measured
 * @param lambda the new λ, in configuration order
 * @param evidence per constraint, the estimate that moved λ (empty for {@link StepKind#INIT})
 * @param atLambdaMax the constraints whose λ hit λ_max: their margin may be unreachable
 * @param fineTune whether to ask for a fine-tune with this λ (primal-dual asks only when no request
 *     is outstanding)
 */
public record DualStep(StepKind kind, long step, long version, double[] lambda, Map<String, Estimate> evidence,
        List<String> atLambdaMax, boolean fineTune) {
    public DualStep(StepKind kind, long step, long version, double[] lambda, Map<String, Estimate> evidence,
            List<String> atLambdaMax) {
        this(kind, step, version, lambda, evidence, atLambdaMax, true);
    }

    public DualStep {
        lambda = lambda.clone();
        evidence = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(evidence));
        atLambdaMax = List.copyOf(atLambdaMax);
    }

    /** λ by constraint name, in configuration order. */
    public Map<String, Double> lambdaByName(List<String> names) {
        return byName(names, lambda);
    }

    /** {@code lambda} (in configuration order) by constraint name. */
    public static Map<String, Double> byName(List<String> names, double[] lambda) {
        Map<String, Double> m = new LinkedHashMap<>();
        for (int c = 0; c < lambda.length; c++) {
            m.put(names.get(c), lambda[c]);
        }
        return m;
    }
}
