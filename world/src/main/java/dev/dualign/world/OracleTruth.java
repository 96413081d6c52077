package dev.dualign.world;

import dev.dualign.serving.GroundTruth;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/** The synthetic world's oracle as the loop's ground truth: known exactly for the world's own prompts. */
public final class OracleTruth implements GroundTruth {
    @Override
    public Optional<Map<String, Double>> of(String prompt, String response) {
        Intent intent;
        try {
            intent = World.intentOf(prompt);
        } catch (RuntimeException notFromTheWorld) {
            return Optional.empty();
        }
        Oracle.Scores s = Oracle.score(intent, response);
        Map<String, Double> m = new LinkedHashMap<>();
        m.put(Oracle.REWARD, s.reward());
        for (String u : Oracle.UTILITIES) {
            m.put(u, s.get(u));
        }
        return Optional.of(m);
    }
}
