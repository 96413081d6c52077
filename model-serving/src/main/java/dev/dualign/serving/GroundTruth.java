package dev.dualign.serving;

import java.util.Map;
import java.util.Optional;

/**
 * The true reward and utilities of a response, where a simulation knows them (the synthetic
 * world's oracle), so a run can be checked against the truth and not only estimated. A real
 * chatbot has none: {@link #NONE}.
 */
@FunctionalInterface
public interface GroundTruth {
    GroundTruth NONE = (prompt, response) -> Optional.empty();

    /** Name → true value ({@code reward} and each utility known), or empty when unknown for this prompt. */
    Optional<Map<String, Double>> of(String prompt, String response);
}
