package dev.dualign.core.event;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Strict readers for one JSON object: each accessor either returns a valid value or throws an
 * {@link InvalidEventException} that names the field. Unknown fields are never looked at, so new
 * producers can add fields without breaking old consumers.
 */
public final class JsonFields {
    private final JsonNode node;

    public JsonFields(JsonNode node) {
        if (node == null || !node.isObject()) {
            throw new InvalidEventException(null, "expected a JSON object, got "
                    + (node == null ? "nothing" : node.getNodeType().toString().toLowerCase()));
        }
        this.node = node;
    }

    public boolean has(String field) {
        JsonNode v = node.get(field);
        return v != null && !v.isNull();
    }

    public String requireText(String field) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            throw new InvalidEventException(field, "is required");
        }
        if (!v.isTextual()) {
            throw new InvalidEventException(field, "must be a string, got " + kind(v));
        }
        if (v.asText().isEmpty()) {
            throw new InvalidEventException(field, "must not be empty");
        }
        return v.asText();
    }

    /** A string that may be empty (prompt and response texts). */
    public String requireString(String field) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            throw new InvalidEventException(field, "is required");
        }
        if (!v.isTextual()) {
            throw new InvalidEventException(field, "must be a string, got " + kind(v));
        }
        return v.asText();
    }

    public JsonFields requireObject(String field) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            throw new InvalidEventException(field, "is required");
        }
        if (!v.isObject()) {
            throw new InvalidEventException(field, "must be an object, got " + kind(v));
        }
        return new JsonFields(v);
    }

    /** An object of name to nested object, each read by {@code reader(fieldPath, fields)}. */
    public <V> Map<String, V> requireObjectMap(String field, java.util.function.BiFunction<String, JsonFields, V> reader) {
        JsonFields outer = requireObject(field);
        Map<String, V> out = new LinkedHashMap<>();
        Iterator<Map.Entry<String, JsonNode>> it = outer.node.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            String path = field + "." + e.getKey();
            if (!e.getValue().isObject()) {
                throw new InvalidEventException(path, "must be an object, got " + kind(e.getValue()));
            }
            out.put(e.getKey(), reader.apply(path, new JsonFields(e.getValue())));
        }
        return out;
    }

    /** An optional object of name to integer. */
    public Map<String, Long> optionalLongMap(String field) {
        if (!has(field)) {
            return null;
        }
        JsonFields outer = requireObject(field);
        Map<String, Long> out = new LinkedHashMap<>();
        Iterator<String> names = outer.node.fieldNames();
        while (names.hasNext()) {
            String name = names.next();
            try {
                out.put(name, outer.requireLong(name));
            } catch (InvalidEventException e) {
                throw new InvalidEventException(field + "." + name, "must be an integer");
            }
        }
        return out;
    }

    /**
     * An optional array of objects, each read by {@code reader(elementPath, fields)}; absent or empty
     * reads as null.
     */
    public <V> java.util.List<V> optionalObjectList(String field, java.util.function.BiFunction<String, JsonFields, V> reader) {
        if (!has(field)) {
            return null;
        }
        JsonNode v = node.get(field);
        if (!v.isArray()) {
            throw new InvalidEventException(field, "must be an array of objects, got " + kind(v));
        }
        java.util.List<V> out = new java.util.ArrayList<>();
        for (int i = 0; i < v.size(); i++) {
            String path = field + "[" + i + "]";
            if (!v.get(i).isObject()) {
                throw new InvalidEventException(path, "must be an object, got " + kind(v.get(i)));
            }
            out.add(reader.apply(path, new JsonFields(v.get(i))));
        }
        return out.isEmpty() ? null : out;
    }

    /** An optional array of non-empty strings; absent means empty. */
    public java.util.List<String> optionalTextList(String field) {
        if (!has(field)) {
            return java.util.List.of();
        }
        JsonNode v = node.get(field);
        if (!v.isArray()) {
            throw new InvalidEventException(field, "must be an array of strings, got " + kind(v));
        }
        java.util.List<String> out = new java.util.ArrayList<>();
        for (int i = 0; i < v.size(); i++) {
            if (!v.get(i).isTextual() || v.get(i).asText().isEmpty()) {
                throw new InvalidEventException(field + "[" + i + "]", "must be a non-empty string");
            }
            out.add(v.get(i).asText());
        }
        return out;
    }

    public String optionalText(String field) {
        return has(field) ? requireText(field) : null;
    }

    public double requireFinite(String field) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            throw new InvalidEventException(field, "is required");
        }
        return finite(field, v);
    }

    public Double optionalFinite(String field) {
        return has(field) ? requireFinite(field) : null;
    }

    public long requireLong(String field) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            throw new InvalidEventException(field, "is required");
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw new InvalidEventException(field, "must be an integer, got " + kind(v));
        }
        return v.asLong();
    }

    public Long optionalLong(String field) {
        return has(field) ? requireLong(field) : null;
    }

    /** An object of name to finite number; names must be non-empty. */
    public Map<String, Double> requireNumberMap(String field) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            throw new InvalidEventException(field, "is required");
        }
        if (!v.isObject()) {
            throw new InvalidEventException(field, "must be an object of name to number, got " + kind(v));
        }
        Map<String, Double> out = new LinkedHashMap<>();
        Iterator<Map.Entry<String, JsonNode>> it = v.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().isEmpty()) {
                throw new InvalidEventException(field, "has an empty name");
            }
            out.put(e.getKey(), finite(field + "." + e.getKey(), e.getValue()));
        }
        return out;
    }

    public Map<String, Double> optionalNumberMap(String field) {
        return has(field) ? requireNumberMap(field) : null;
    }

    private static double finite(String field, JsonNode v) {
        if (v.isNumber()) {
            double d = v.asDouble();
            if (!Double.isFinite(d)) {
                throw new InvalidEventException(field, "must be a finite number, got " + v.asText());
            }
            return d;
        }
        if (v.isTextual() && isNonFiniteWord(v.asText())) {
            throw new InvalidEventException(field, "must be a finite number, got " + v.asText());
        }
        throw new InvalidEventException(field, "must be a number, got " + kind(v));
    }

    private static boolean isNonFiniteWord(String s) {
        String t = s.trim().toLowerCase();
        return t.equals("nan") || t.contains("infinity") || t.equals("inf") || t.equals("-inf");
    }

    private static String kind(JsonNode v) {
        return v.getNodeType().toString().toLowerCase();
    }
}
