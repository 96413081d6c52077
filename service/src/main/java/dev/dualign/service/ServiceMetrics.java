package dev.dualign.service;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.DoubleSupplier;
import java.util.function.Supplier;

/**
 * The policy server's and the fine-tuner's Prometheus metrics, in the text exposition format
 * (version 0.0.4), served at {@code /metrics}: operators watch Prometheus and Grafana, not logs.
 * Counters, gauges (read when scraped), histograms with fixed buckets and summaries read elsewhere
 * (count and sum only, e.g. the JVM's garbage collections); labels carry the version, the outcome
 * or the event, never the metric's name. No client library: a handful of series, and the server
 * already has an HTTP endpoint to serve them from.
 *
 * <p>The format's rules are enforced where a metric is registered, so a wrong one fails at once
 * (in a test) rather than being dropped by a scraper: names match {@code [a-zA-Z_:][a-zA-Z0-9_:]*},
 * label names {@code [a-zA-Z_][a-zA-Z0-9_]*} (not {@code __…}), a counter's name ends in
 * {@code _total} and nothing else's does (a count registered as a gauge is a mistake that
 * {@code rate()} would not notice), and one name is one family of one type.
 */
public final class ServiceMetrics {
    /** The exposition format's media type, for {@code /metrics}. */
    public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
    /** Chat latency buckets, seconds. */
    public static final double[] LATENCY_BUCKETS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    /** Fine-tune duration buckets, seconds. */
    public static final double[] DURATION_BUCKETS = {5, 10, 20, 30, 60, 120, 300, 600};

    private record Family(String type, String help, Map<String, Object> series) {}

    /** A histogram series: cumulative bucket counts, sum and count. */
    private static final class Histogram {
        final double[] bounds;
        final long[] counts;
        double sum;
        long count;

        Histogram(double[] bounds) {
            this.bounds = bounds;
            this.counts = new long[bounds.length];
        }
    }

    private static final java.util.regex.Pattern NAME = java.util.regex.Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
    private static final java.util.regex.Pattern LABEL = java.util.regex.Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");
    /** The sample names a histogram or summary adds to its family's name. */
    private static final List<String> SUFFIXES = List.of("_bucket", "_count", "_sum");

    private final Map<String, Family> families = new LinkedHashMap<>();

    /** Adds 1 to a counter. */
    public void inc(String name, String help, Map<String, String> labels) {
        add(name, help, labels, 1);
    }

    /** Adds {@code by} (≥ 0) to a counter. */
    public synchronized void add(String name, String help, Map<String, String> labels, double by) {
        Map<String, Object> series = family(name, "counter", help).series();
        series.merge(labelText(labels), by, (a, b) -> (Double) a + (Double) b);
    }

    /** A gauge read at every scrape. */
    public synchronized void gauge(String name, String help, Map<String, String> labels, DoubleSupplier value) {
        family(name, "gauge", help).series().put(labelText(labels), value);
    }

    /** A family of gauges whose label sets are only known when scraped (e.g. one per version). */
    public synchronized void gauges(String name, String help, Supplier<Map<Map<String, String>, Double>> values) {
        family(name, "gauge", help).series().put("", values);
    }

    /**
     * A family of counters whose label sets are only known when scraped (e.g. answers per version):
     * values that only grow, so Prometheus's {@code rate} and {@code increase} read them right.
     */
    public synchronized void counters(String name, String help, Supplier<Map<Map<String, String>, Double>> values) {
        family(name, "counter", help).series().put("", values);
    }

    /** A counter whose value lives elsewhere (an {@code AtomicLong} the service already keeps). */
    public synchronized void counter(String name, String help, Map<String, String> labels, DoubleSupplier value) {
        family(name, "counter", help).series().put(labelText(labels), value);
    }

    /**
     * A family of summaries without quantiles whose count and sum live elsewhere (e.g. each garbage
     * collector's collections and seconds): {@code NAME_count} and {@code NAME_sum} per label set,
     * values as {@code {count, sum}}.
     */
    public synchronized void summaries(String name, String help, Supplier<Map<Map<String, String>, double[]>> values) {
        family(name, "summary", help).series().put("", new Summaries(values));
    }

    private record Summaries(Supplier<Map<Map<String, String>, double[]>> values) {}

    /** Records one observation in a histogram with the given bucket bounds (the first call fixes them). */
    public synchronized void observe(String name, String help, double[] buckets, double value) {
        Histogram h = (Histogram) family(name, "histogram", help).series().computeIfAbsent("", k -> new Histogram(buckets));
        for (int i = 0; i < h.bounds.length; i++) {
            if (value <= h.bounds[i]) {
                h.counts[i]++;
            }
        }
        h.sum += value;
        h.count++;
    }

    private Family family(String name, String type, String help) {
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("metric name '" + name + "' is not [a-zA-Z_:][a-zA-Z0-9_:]*");
        }
        if (type.equals("counter") != name.endsWith("_total")) {
            throw new IllegalArgumentException(type.equals("counter") ? "counter " + name + " must end in _total"
                    : "a " + type + " named " + name + " reads as a counter (_total): register counts as counters");
        }
        if (!families.containsKey(name)) { // a histogram's NAME_count is not also a family of its own
            for (Map.Entry<String, Family> e : families.entrySet()) {
                boolean otherHasSamples = e.getValue().type().equals("histogram") || e.getValue().type().equals("summary");
                boolean thisHasSamples = type.equals("histogram") || type.equals("summary");
                for (String suffix : SUFFIXES) {
                    if ((otherHasSamples && name.equals(e.getKey() + suffix)) || (thisHasSamples && e.getKey().equals(name + suffix))) {
                        throw new IllegalArgumentException("metric " + name + " collides with the samples of " + e.getKey());
                    }
                }
            }
        }
        Family f = families.computeIfAbsent(name, n -> new Family(type, help, new LinkedHashMap<>()));
        if (!f.type().equals(type)) {
            throw new IllegalArgumentException("metric " + name + " is a " + f.type() + ", not a " + type);
        }
        return f;
    }

    /** Everything, in the text exposition format. */
    @SuppressWarnings("unchecked")
    public synchronized String scrape() {
        StringBuilder out = new StringBuilder();
        for (Map.Entry<String, Family> e : families.entrySet()) {
            String name = e.getKey();
            Family f = e.getValue();
            out.append("# HELP ").append(name).append(' ').append(f.help().replace("\\", "\\\\").replace("\n", "\\n")).append('\n');
            out.append("# TYPE ").append(name).append(' ').append(f.type()).append('\n');
            for (Map.Entry<String, Object> s : f.series().entrySet()) {
                Object v = s.getValue();
                if (v instanceof Summaries sm) {
                    for (Map.Entry<Map<String, String>, double[]> g : sm.values().get().entrySet()) {
                        line(out, name + "_count", labelText(g.getKey()), g.getValue()[0]);
                        line(out, name + "_sum", labelText(g.getKey()), g.getValue()[1]);
                    }
                } else if (v instanceof Histogram h) {
                    for (int i = 0; i < h.bounds.length; i++) {
                        line(out, name + "_bucket", "{le=\"" + number(h.bounds[i]) + "\"}", h.counts[i]);
                    }
                    line(out, name + "_bucket", "{le=\"+Inf\"}", h.count);
                    line(out, name + "_sum", "", h.sum);
                    line(out, name + "_count", "", h.count);
                } else if (v instanceof Supplier<?> many) {
                    for (Map.Entry<Map<String, String>, Double> g : ((Map<Map<String, String>, Double>) many.get()).entrySet()) {
                        line(out, name, labelText(g.getKey()), g.getValue());
                    }
                } else if (v instanceof DoubleSupplier d) {
                    line(out, name, s.getKey(), d.getAsDouble());
                } else {
                    line(out, name, s.getKey(), (Double) v);
                }
            }
        }
        return out.toString();
    }

    private static void line(StringBuilder out, String name, String labels, double value) {
        out.append(name).append(labels).append(' ').append(number(value)).append('\n');
    }

    private static String number(double v) {
        if (Double.isNaN(v)) {
            return "NaN";
        }
        if (Double.isInfinite(v)) {
            return v > 0 ? "+Inf" : "-Inf";
        }
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : String.format(Locale.ROOT, "%s", v);
    }

    static String labelText(Map<String, String> labels) {
        if (labels == null || labels.isEmpty()) {
            return "";
        }
        for (String k : labels.keySet()) {
            if (!LABEL.matcher(k).matches() || k.startsWith("__")) {
                throw new IllegalArgumentException("label name '" + k + "' is not [a-zA-Z_][a-zA-Z0-9_]* or is reserved (__)");
            }
        }
        List<String> parts = new ArrayList<>();
        // sorted by name: one label set is one series whatever map it came in (Map.of's order varies by JVM)
        new java.util.TreeMap<>(labels).forEach((k, v) -> parts.add(k + "=\"" + v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\""));
        return "{" + String.join(",", parts) + "}";
    }
}
