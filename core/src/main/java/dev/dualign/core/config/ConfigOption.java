package dev.dualign.core.config;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * One typed setting: its key in {@code conf/dualign.yaml} (dotted path), its default, a
 * description and a validity check. Modules gather theirs in one {@code *Options} class.
 *
 * <pre>{@code
 * static final ConfigOption<Integer> PARTITIONS = ConfigOption.integer("kafka.partitions", 1)
 *         .check(v -> v >= 1, "an integer ≥ 1").describe("Partitions of each topic created.");
 * }</pre>
 */
public final class ConfigOption<T> {
    private final String key;
    private final T defaultValue;
    private final Function<Object, T> parser;
    private final String typeName;
    private final Predicate<T> check;
    private final String checkDescription;
    private final String description;

    private ConfigOption(String key, T defaultValue, Function<Object, T> parser, String typeName, Predicate<T> check,
            String checkDescription, String description) {
        this.key = Objects.requireNonNull(key);
        this.defaultValue = defaultValue;
        this.parser = parser;
        this.typeName = typeName;
        this.check = check;
        this.checkDescription = checkDescription;
        this.description = description;
    }

    public static ConfigOption<String> string(String key, String defaultValue) {
        return new ConfigOption<>(key, defaultValue, v -> v instanceof String s ? s : scalarString(v), "a string",
                v -> true, null, "");
    }

    public static ConfigOption<Integer> integer(String key, int defaultValue) {
        return new ConfigOption<>(key, defaultValue, v -> Math.toIntExact(toLong(v)), "an integer", v -> true, null, "");
    }

    public static ConfigOption<Long> longInteger(String key, long defaultValue) {
        return new ConfigOption<>(key, defaultValue, ConfigOption::toLong, "an integer", v -> true, null, "");
    }

    public static ConfigOption<Double> number(String key, double defaultValue) {
        return new ConfigOption<>(key, defaultValue, ConfigOption::toDouble, "a finite number", v -> true, null, "");
    }

    public static ConfigOption<Boolean> bool(String key, boolean defaultValue) {
        return new ConfigOption<>(key, defaultValue, v -> {
            if (v instanceof Boolean b) {
                return b;
            }
            String s = String.valueOf(v).trim().toLowerCase();
            if (s.equals("true") || s.equals("false")) {
                return Boolean.parseBoolean(s);
            }
            throw new IllegalArgumentException();
        }, "true or false", v -> true, null, "");
    }

    /** A string restricted to {@code choices}. */
    public static ConfigOption<String> choice(String key, String defaultValue, String... choices) {
        List<String> allowed = Arrays.asList(choices);
        return new ConfigOption<>(key, defaultValue, v -> scalarString(v), "one of " + allowed, allowed::contains,
                "one of " + allowed, "");
    }

    public ConfigOption<T> check(Predicate<T> predicate, String whatIsValid) {
        return new ConfigOption<>(key, defaultValue, parser, typeName, check.and(predicate), whatIsValid, description);
    }

    public ConfigOption<T> describe(String text) {
        return new ConfigOption<>(key, defaultValue, parser, typeName, check, checkDescription, text);
    }

    public String key() {
        return key;
    }

    public T defaultValue() {
        return defaultValue;
    }

    public String description() {
        return description;
    }

    /** Parses and checks a raw YAML value; throws naming the key. */
    public T parse(Object raw) {
        if (raw == null) {
            return defaultValue;
        }
        T value;
        try {
            value = parser.apply(raw);
        } catch (RuntimeException e) {
            throw new ConfigException(key, "must be " + typeName + ", got '" + raw + "'");
        }
        if (!check.test(value)) {
            throw new ConfigException(key, "must be " + (checkDescription == null ? typeName : checkDescription)
                    + ", got '" + raw + "'");
        }
        return value;
    }

    private static String scalarString(Object v) {
        if (v instanceof java.util.Map || v instanceof java.util.Collection) {
            throw new IllegalArgumentException();
        }
        return String.valueOf(v);
    }

    private static long toLong(Object v) {
        if (v instanceof Integer || v instanceof Long || v instanceof Short) {
            return ((Number) v).longValue();
        }
        if (v instanceof String s) {
            return Long.parseLong(s.trim());
        }
        throw new IllegalArgumentException();
    }

    private static double toDouble(Object v) {
        double d = v instanceof Number n ? n.doubleValue() : Double.parseDouble(String.valueOf(v).trim());
        if (!Double.isFinite(d)) {
            throw new IllegalArgumentException();
        }
        return d;
    }

    @Override
    public String toString() {
        return key;
    }
}
