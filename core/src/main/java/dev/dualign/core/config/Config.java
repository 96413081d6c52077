package dev.dualign.core.config;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The loaded configuration: nested YAML flattened to dotted keys, checked at load time against the
 * known options so an unknown key or an invalid value fails at start-up naming the key. Keys under
 * a pass-through prefix (e.g. {@code kafka.properties.}) are handed to a client as they are.
 */
public final class Config implements Serializable {
    private static final long serialVersionUID = 1L;

    private final Map<String, Object> values;

    private Config(Map<String, Object> values) {
        this.values = values;
    }

    /** An empty configuration: every option at its default. */
    public static Config defaults() {
        return new Config(Map.of());
    }

    /**
     * Loads {@code file}, refusing unknown keys and invalid values.
     *
     * @param known every option the application understands
     * @param passThroughPrefixes prefixes whose keys are accepted unchecked
     */
    public static Config load(Path file, Collection<ConfigOption<?>> known, Collection<String> passThroughPrefixes) {
        Object tree;
        try {
            tree = new ObjectMapper(new YAMLFactory()).readValue(Files.readAllBytes(file), Object.class);
        } catch (NoSuchFileException e) {
            throw new ConfigException("configuration file " + file + " does not exist", e);
        } catch (IOException e) {
            throw new ConfigException("configuration file " + file + " is not valid YAML: " + e.getMessage(), e);
        }
        Map<String, Object> flat = new TreeMap<>();
        if (tree != null) {
            if (!(tree instanceof Map<?, ?> m)) {
                throw new ConfigException("configuration file " + file + " must hold a mapping of keys", (Throwable) null);
            }
            flatten("", m, flat, passThroughPrefixes);
        }
        return of(flat, known, passThroughPrefixes);
    }

    /** Builds from already-flat keys (command-line overrides, tests) with the same checks. */
    public static Config of(Map<String, ?> flat, Collection<ConfigOption<?>> known, Collection<String> passThroughPrefixes) {
        Map<String, ConfigOption<?>> byKey = new LinkedHashMap<>();
        for (ConfigOption<?> o : known) {
            byKey.put(o.key(), o);
        }
        for (Map.Entry<String, ?> e : flat.entrySet()) {
            String key = e.getKey();
            ConfigOption<?> opt = byKey.get(key);
            if (opt != null) {
                opt.parse(e.getValue()); // fail now, not in the middle of a stream
            } else if (passThroughPrefixes.stream().noneMatch(key::startsWith)) {
                throw new ConfigException(key, "unknown key" + suggestion(key, byKey.keySet()));
            }
        }
        return new Config(Map.copyOf(new TreeMap<>(flat)));
    }

    /** A copy with {@code overrides} applied and checked. */
    public Config with(Map<String, ?> overrides, Collection<ConfigOption<?>> known, Collection<String> passThrough) {
        Map<String, Object> merged = new TreeMap<>(values);
        merged.putAll(overrides);
        return of(merged, known, passThrough);
    }

    /** A copy without the keys under {@code prefix}, e.g. to replace every configured constraint. */
    public Config withoutPrefix(String prefix) {
        Map<String, Object> kept = new TreeMap<>(values);
        kept.keySet().removeIf(k -> k.startsWith(prefix));
        return new Config(Map.copyOf(kept));
    }

    public <T> T get(ConfigOption<T> option) {
        return option.parse(values.get(option.key()));
    }

    /** The keys set explicitly (file, environment, command line), with their raw values, in key order. */
    public Map<String, Object> explicit() {
        return new TreeMap<>(values);
    }

    public boolean isSet(ConfigOption<?> option) {
        return values.containsKey(option.key());
    }

    /** Every key under {@code prefix}, with the prefix removed, as strings. */
    public Map<String, String> withPrefix(String prefix) {
        Map<String, String> out = new TreeMap<>();
        values.forEach((k, v) -> {
            if (k.startsWith(prefix)) {
                out.put(k.substring(prefix.length()), String.valueOf(v));
            }
        });
        return out;
    }

    private static void flatten(String prefix, Map<?, ?> m, Map<String, Object> out, Collection<String> passThrough) {
        for (Map.Entry<?, ?> e : m.entrySet()) {
            String key = prefix + e.getKey();
            Object v = e.getValue();
            boolean underPassThrough = passThrough.stream().anyMatch((key + ".")::startsWith);
            if (v instanceof Map<?, ?> nested) {
                flatten(key + ".", nested, out, passThrough);
            } else if (v instanceof List<?> && !underPassThrough) {
                throw new ConfigException(key, "lists are not supported here; use a mapping or a comma-separated string");
            } else if (v != null) {
                out.put(key, v);
            }
        }
    }

    private static String suggestion(String key, Collection<String> known) {
        String best = null;
        int bestDist = Integer.MAX_VALUE;
        for (String k : known) {
            int d = distance(key, k);
            if (d < bestDist) {
                bestDist = d;
                best = k;
            }
        }
        return best != null && bestDist <= 3 ? " (did you mean '" + best + "'?)" : "";
    }

    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                cur[j] = Math.min(Math.min(cur[j - 1], prev[j]) + 1, prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
