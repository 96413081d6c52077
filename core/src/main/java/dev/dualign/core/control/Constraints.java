package dev.dualign.core.control;

import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code constraints} section: {@code NAME: b} (absolute) or
 * {@code NAME: {margin: δ, relative-to: reference}} (E g − E_ref g ≥ δ), in configuration order.
 *
 * @param margins utility name → margin (for a relative one: above the reference's mean)
 * @param relative the constraints whose margin is relative to the reference
 */
record Constraints(Map<String, Double> margins, List<String> relative) {
    static Constraints from(Config c) {
        Map<String, Double> constraints = new LinkedHashMap<>();
        List<String> relative = new ArrayList<>();
        Map<String, String> raw = c.withPrefix(ControlOptions.CONSTRAINTS_PREFIX);
        for (Map.Entry<String, String> e : raw.entrySet()) {
            // NAME: b (absolute), or NAME: {margin: δ, relative-to: reference} (E g − E_ref g ≥ δ)
            String key = ControlOptions.CONSTRAINTS_PREFIX + e.getKey();
            int dot = e.getKey().indexOf('.');
            String name = dot < 0 ? e.getKey() : e.getKey().substring(0, dot);
            String part = dot < 0 ? null : e.getKey().substring(dot + 1);
            if (!name.matches("[a-z][a-z0-9_-]*")) {
                throw new ConfigException(key, "a constraint is named by its utility (lower-case letters, digits, '-', '_')");
            }
            if (part == null && (raw.containsKey(name + ".margin") || raw.containsKey(name + ".relative-to"))) {
                throw new ConfigException(key, "give either a number or {margin: …, relative-to: reference}, not both");
            }
            if ("relative-to".equals(part)) {
                if (!e.getValue().equals("reference")) {
                    throw new ConfigException(key, "the only reference point is 'reference', got '" + e.getValue() + "'");
                }
                if (!raw.containsKey(name + ".margin")) {
                    throw new ConfigException(ControlOptions.CONSTRAINTS_PREFIX + name + ".margin", "is required with relative-to");
                }
                relative.add(name);
                continue;
            }
            if (part != null && !part.equals("margin")) {
                throw new ConfigException(key, "unknown; a constraint takes 'margin' and 'relative-to'");
            }
            try {
                double b = Double.parseDouble(e.getValue());
                if (!Double.isFinite(b)) {
                    throw new NumberFormatException();
                }
                constraints.put(name, b);
            } catch (NumberFormatException ex) {
                throw new ConfigException(key, "the margin must be a finite number, got '" + e.getValue() + "'");
            }
        }
        if (constraints.isEmpty()) {
            throw new ConfigException("constraints", "at least one constraint is needed, e.g. constraints: {harmless: 0.5}");
        }
        return new Constraints(constraints, relative);
    }
}
