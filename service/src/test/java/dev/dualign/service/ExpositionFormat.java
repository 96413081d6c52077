package dev.dualign.service;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A reader of the Prometheus text exposition format (0.0.4) that lists every rule a text breaks,
 * written from the format's description rather than from {@link ServiceMetrics}, so the two can
 * disagree: every sample belongs to a family whose {@code # TYPE} came before it; a family's TYPE
 * comes once and its samples in one block; counters end in {@code _total}; names and label names
 * are well formed; label values escape only {@code \\}, {@code \"} and {@code \n}; values are
 * numbers; no series appears twice; a histogram's buckets carry {@code le} and end at {@code +Inf}.
 */
final class ExpositionFormat {
    private static final Pattern NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
    private static final Pattern LABEL_NAME = Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");
    private static final Set<String> TYPES = Set.of("counter", "gauge", "histogram", "summary", "untyped");

    /** One sample: its name, labels (unescaped values) and value. */
    record Sample(String name, Map<String, String> labels, double value) {}

    final List<String> problems = new ArrayList<>();
    final Map<String, String> types = new LinkedHashMap<>();
    final List<Sample> samples = new ArrayList<>();

    static ExpositionFormat read(String text) {
        ExpositionFormat f = new ExpositionFormat();
        f.parse(text);
        return f;
    }

    /** The value of the one sample named {@code name} with exactly {@code labels}; NaN when absent. */
    double value(String name, Map<String, String> labels) {
        return samples.stream().filter(s -> s.name().equals(name) && s.labels().equals(labels))
                .mapToDouble(Sample::value).findFirst().orElse(Double.NaN);
    }

    private void parse(String text) {
        if (!text.isEmpty() && !text.endsWith("\n")) {
            problems.add("the text does not end with a line feed");
        }
        Set<String> closed = new HashSet<>(); // families whose block has ended
        Set<String> helped = new HashSet<>();
        Set<String> series = new HashSet<>();
        String current = null;
        int n = 0;
        for (String line : text.split("\n", -1)) {
            n++;
            if (line.isEmpty()) {
                continue;
            }
            String at = "line " + n + " '" + line + "': ";
            if (line.startsWith("#")) {
                String[] p = line.split(" ", 4);
                if (p.length >= 3 && (p[1].equals("TYPE") || p[1].equals("HELP"))) {
                    String family = p[2];
                    if (!NAME.matcher(family).matches()) {
                        problems.add(at + "bad metric name");
                    }
                    if (!family.equals(current)) {
                        if (current != null) {
                            closed.add(current);
                        }
                        if (closed.contains(family)) {
                            problems.add(at + "family " + family + " appears in two places");
                        }
                        current = family;
                    }
                    if (p[1].equals("TYPE")) {
                        String type = p.length > 3 ? p[3] : "";
                        if (!TYPES.contains(type)) {
                            problems.add(at + "unknown type " + type);
                        }
                        if (types.put(family, type) != null) {
                            problems.add(at + "second TYPE for " + family);
                        }
                        if (type.equals("counter") && !family.endsWith("_total")) {
                            problems.add(at + "counter " + family + " does not end in _total");
                        }
                    } else if (!helped.add(family)) {
                        problems.add(at + "second HELP for " + family);
                    }
                }
                continue;
            }
            Sample s = sample(line, at);
            if (s == null) {
                continue;
            }
            String family = familyOf(s.name(), current);
            if (family == null) {
                problems.add(at + "sample with no TYPE before it for its family");
                continue;
            }
            if (!series.add(s.name() + new java.util.TreeMap<>(s.labels()))) {
                problems.add(at + "series appears twice");
            }
            if (s.name().endsWith("_bucket") && types.get(family).equals("histogram") && !s.labels().containsKey("le")) {
                problems.add(at + "histogram bucket without le");
            }
            samples.add(s);
        }
        for (Map.Entry<String, String> t : types.entrySet()) {
            if (t.getValue().equals("histogram") && samples.stream().noneMatch(
                    s -> s.name().equals(t.getKey() + "_bucket") && "+Inf".equals(s.labels().get("le")))) {
                problems.add("histogram " + t.getKey() + " has no +Inf bucket");
            }
        }
    }

    /** The family a sample name belongs to, given the family whose block it is in. */
    private String familyOf(String name, String current) {
        if (current == null || !types.containsKey(current)) {
            return null;
        }
        String type = types.get(current);
        if (name.equals(current)) {
            return type.equals("histogram") ? null : current; // a histogram has only _bucket, _count, _sum
        }
        List<String> suffixes = switch (type) {
            case "histogram" -> List.of("_bucket", "_count", "_sum");
            case "summary" -> List.of("_count", "_sum");
            default -> List.of();
        };
        return suffixes.stream().anyMatch(x -> name.equals(current + x)) ? current : null;
    }

    private Sample sample(String line, String at) {
        Matcher m = Pattern.compile("^([^{\\s]+)(\\{(.*)})?\\s+(\\S+)(\\s+-?\\d+)?$").matcher(line);
        if (!m.matches()) {
            problems.add(at + "not a sample line");
            return null;
        }
        String name = m.group(1);
        if (!NAME.matcher(name).matches()) {
            problems.add(at + "bad metric name");
        }
        Map<String, String> labels = m.group(3) == null ? Map.of() : labels(m.group(3), at);
        double value;
        switch (m.group(4)) {
            case "+Inf" -> value = Double.POSITIVE_INFINITY;
            case "-Inf" -> value = Double.NEGATIVE_INFINITY;
            case "NaN" -> value = Double.NaN;
            default -> {
                try {
                    value = Double.parseDouble(m.group(4));
                } catch (NumberFormatException e) {
                    problems.add(at + "value is not a number");
                    return null;
                }
            }
        }
        return new Sample(name, labels, value);
    }

    /** {@code a="x",b="y\"z"} (a trailing comma is allowed) to its names and unescaped values. */
    private Map<String, String> labels(String text, String at) {
        Map<String, String> out = new LinkedHashMap<>();
        int i = 0;
        while (i < text.length()) {
            int eq = text.indexOf('=', i);
            if (eq < 0 || eq + 1 >= text.length() || text.charAt(eq + 1) != '"') {
                problems.add(at + "label without =\"value\"");
                return out;
            }
            String name = text.substring(i, eq);
            if (!LABEL_NAME.matcher(name).matches() || name.startsWith("__")) {
                problems.add(at + "bad label name '" + name + "'");
            }
            StringBuilder value = new StringBuilder();
            int j = eq + 2;
            boolean closedQuote = false;
            while (j < text.length()) {
                char c = text.charAt(j);
                if (c == '\\') {
                    char next = j + 1 < text.length() ? text.charAt(j + 1) : ' ';
                    switch (next) {
                        case '\\' -> value.append('\\');
                        case '"' -> value.append('"');
                        case 'n' -> value.append('\n');
                        default -> problems.add(at + "bad escape \\" + next + " in label " + name);
                    }
                    j += 2;
                } else if (c == '"') {
                    closedQuote = true;
                    j++;
                    break;
                } else {
                    value.append(c);
                    j++;
                }
            }
            if (!closedQuote) {
                problems.add(at + "unterminated value of label " + name);
                return out;
            }
            if (out.put(name, value.toString()) != null) {
                problems.add(at + "label " + name + " twice");
            }
            if (j < text.length()) {
                if (text.charAt(j) != ',') {
                    problems.add(at + "label values not separated by a comma");
                    return out;
                }
                j++;
            }
            i = j;
        }
        return out;
    }
}
