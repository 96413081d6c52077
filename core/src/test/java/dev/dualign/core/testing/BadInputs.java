package dev.dualign.core.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Tuple;

/**
 * Bad and odd inputs for the fuzz tests ({@code *FuzzTest}): bytes that are not JSON, JSON of the
 * wrong shape, and a valid template with fields removed, retyped, or set to huge, negative,
 * non-finite, deeply nested or control-character values. Every generator starts from jqwik's seeded
 * randomness, so a failure is reported with its seed and the input itself.
 */
public final class BadInputs {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MARK = "@@raw@@";

    private BadInputs() {}

    /** A generated input: its bytes, shown as text in a counter-example. */
    public record Input(String kind, byte[] bytes) {
        public String text() {
            return new String(bytes, StandardCharsets.UTF_8);
        }

        @Override
        public String toString() {
            String t = text();
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < Math.min(t.length(), 600); i++) {
                char c = t.charAt(i);
                sb.append(c < 0x20 || c == 0x7f ? String.format("\\u%04x", (int) c) : String.valueOf(c));
            }
            return kind + "[" + bytes.length + " B]: " + sb + (t.length() > 600 ? "…" : "");
        }
    }

    /** Raw JSON texts of odd values: wrong types, extremes, non-finite spellings, control characters, nesting. */
    static final String[] ODD = {"null", "true", "false", "\"\"", "\" \"", "0", "-1", "-0", "-0.0", "1", "0.5", "2", "3", "-2147483649",
        "2147483648", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "18446744073709551617",
        "123456789012345678901234567890", "1e308", "-1e308", "1e309", "-1e309", "1e-400", "4.9e-324", "NaN", "-Infinity", "Infinity",
        "\"NaN\"", "\"Infinity\"", "\"1\"", "\"true\"", "\"null\"", "[]", "{}", "[null]", "[1,\"a\",{}]", "{\"a\":{\"b\":[]}}",
        "\"\\u0000\"", "\"\\u0000\\u001f\\u007f\"", "\"\\ud800\"", "\"\\udfff\\ud800\"", "\"\u202e\u200b\ufeff\"", "\"😀🚀 ünïcödé 中文\"",
        "\"\\\\\\\"\\\\\"", "\"<script>alert(1)</script>\"", "\"../../etc/passwd\"", "\"%00%2e%2e\"", "\"\\n\\r\\t\"", "1.0", "1e2",
        "0x10", "01", "+1", ".5", "'single'", "undefined", "\"user\"", "\"assistant\"", "\"system\"", "\"text\""};

    /** A JSON value raw text, chosen from {@link #ODD}, a long string, a deep nest, or a random string. */
    static String oddValue(Random r) {
        return switch (r.nextInt(10)) {
            case 0 -> "\"" + "a".repeat(r.nextInt(4) == 0 ? 70_000 + r.nextInt(1000) : 1 + r.nextInt(5000)) + "\"";
            case 1 -> nest(r, 1 + r.nextInt(r.nextBoolean() ? 50 : 3000));
            case 2 -> quote(randomString(r, 1 + r.nextInt(40)));
            case 3 -> Long.toString(r.nextLong());
            case 4 -> Double.toString(r.nextGaussian() * Math.pow(10, r.nextInt(40) - 20));
            default -> ODD[r.nextInt(ODD.length)];
        };
    }

    private static String nest(Random r, int depth) {
        boolean arrays = r.nextBoolean();
        String open = arrays ? "[" : "{\"a\":";
        String close = arrays ? "]" : "}";
        return open.repeat(depth) + "1" + close.repeat(depth);
    }

    /** Any code points: control characters, surrogates written alone, non-characters. */
    static String randomString(Random r, int length) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < length; i++) {
            switch (r.nextInt(4)) {
                case 0 -> sb.append((char) r.nextInt(0x20));
                case 1 -> sb.append((char) (0xd800 + r.nextInt(0x800)));
                case 2 -> sb.appendCodePoint(r.nextInt(0x110000));
                default -> sb.append((char) (0x20 + r.nextInt(0x5f)));
            }
        }
        return sb.toString();
    }

    static String quote(String s) {
        try {
            return JSON.writeValueAsString(s);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Bad records and bodies shaped after {@code valid}, a valid example (most refused before any
     * work), mixed with about one in fifteen unchanged valid ones.
     */
    public static Arbitrary<Input> around(ObjectNode valid) {
        String validText = valid.toString();
        Arbitrary<Input> mutated = Arbitraries.randomValue(r -> new Input("mutated", mutate(r, valid).getBytes(StandardCharsets.UTF_8)));
        Arbitrary<Input> typo = Arbitraries.randomValue(r -> new Input("typo", typo(r, validText)));
        Arbitrary<Input> truncated = Arbitraries.randomValue(r -> new Input("truncated",
                validText.substring(0, r.nextInt(validText.length())).getBytes(StandardCharsets.UTF_8)));
        Arbitrary<Input> topLevel = Arbitraries.randomValue(r -> new Input("top-level", oddValue(r).getBytes(StandardCharsets.UTF_8)));
        Arbitrary<Input> bytes = Arbitraries.bytes().array(byte[].class).ofMaxSize(300).map(b -> new Input("bytes", b));
        Arbitrary<Input> strings = Arbitraries.strings().all().ofMaxLength(200).map(s -> new Input("string", s.getBytes(StandardCharsets.UTF_8)));
        Arbitrary<Input> badUtf8 = Arbitraries.randomValue(r -> new Input("bad-utf8", badUtf8(r, validText)));
        Arbitrary<Input> duplicate = Arbitraries.randomValue(r -> new Input("duplicate-key", duplicateKey(r, valid)));
        Arbitrary<Input> same = Arbitraries.just(new Input("valid", validText.getBytes(StandardCharsets.UTF_8)));
        return Arbitraries.frequencyOf(Tuple.of(45, mutated), Tuple.of(8, typo), Tuple.of(8, truncated), Tuple.of(8, topLevel),
                Tuple.of(8, bytes), Tuple.of(8, strings), Tuple.of(5, badUtf8), Tuple.of(4, duplicate), Tuple.of(6, same));
    }

    /** The valid text with one to three characters replaced, inserted or deleted. */
    static byte[] typo(Random r, String text) {
        StringBuilder sb = new StringBuilder(text);
        for (int k = 1 + r.nextInt(3); k > 0 && sb.length() > 0; k--) {
            int at = r.nextInt(sb.length());
            String alphabet = "{}[]\":,\\ 0aZ\u0000\n-.eE";
            char c = alphabet.charAt(r.nextInt(alphabet.length()));
            switch (r.nextInt(3)) {
                case 0 -> sb.setCharAt(at, c);
                case 1 -> sb.insert(at, c);
                default -> sb.deleteCharAt(at);
            }
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    static byte[] badUtf8(Random r, String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        byte[][] bad = {{(byte) 0xff}, {(byte) 0xc3, 0x28}, {(byte) 0xed, (byte) 0xa0, (byte) 0x80}, {(byte) 0xf8, (byte) 0x88, (byte) 0x80},
            {(byte) 0xc0, (byte) 0xaf}, {0}};
        byte[] ins = bad[r.nextInt(bad.length)];
        int at = r.nextInt(b.length + 1);
        byte[] out = new byte[b.length + ins.length];
        System.arraycopy(b, 0, out, 0, at);
        System.arraycopy(ins, 0, out, at, ins.length);
        System.arraycopy(b, at, out, at + ins.length, b.length - at);
        return out;
    }

    static byte[] duplicateKey(Random r, ObjectNode valid) {
        List<String> names = new ArrayList<>();
        valid.fieldNames().forEachRemaining(names::add);
        String name = names.get(r.nextInt(names.size()));
        String text = valid.toString();
        return ("{" + quote(name) + ":" + oddValue(r) + "," + text.substring(1)).getBytes(StandardCharsets.UTF_8);
    }

    /** The valid object with one to three of its nodes (nested ones too) removed, replaced by odd values, or joined by unknown fields. */
    static String mutate(Random r, ObjectNode valid) {
        ObjectNode copy = valid.deepCopy();
        List<String> raws = new ArrayList<>();
        for (int k = 1 + r.nextInt(3); k > 0; k--) {
            List<JsonNode> containers = new ArrayList<>();
            collect(copy, containers);
            JsonNode c = containers.get(r.nextInt(containers.size()));
            int op = r.nextInt(10);
            if (c instanceof ObjectNode o) {
                List<String> names = new ArrayList<>();
                o.fieldNames().forEachRemaining(names::add);
                if (op < 2 && !names.isEmpty()) {
                    o.remove(names.get(r.nextInt(names.size())));
                } else if (op < 3 || names.isEmpty()) {
                    raws.add(oddValue(r));
                    o.set(r.nextBoolean() ? randomString(r, 1 + r.nextInt(8)) : "x" + r.nextInt(9), new TextNode(MARK + (raws.size() - 1)));
                } else {
                    raws.add(oddValue(r));
                    o.set(names.get(r.nextInt(names.size())), new TextNode(MARK + (raws.size() - 1)));
                }
            } else if (c instanceof ArrayNode a) {
                if (op < 2 && !a.isEmpty()) {
                    a.remove(r.nextInt(a.size()));
                } else if (op < 4 || a.isEmpty()) {
                    raws.add(oddValue(r));
                    a.add(new TextNode(MARK + (raws.size() - 1)));
                } else {
                    raws.add(oddValue(r));
                    a.set(r.nextInt(a.size()), new TextNode(MARK + (raws.size() - 1)));
                }
            }
        }
        String text = copy.toString();
        for (int i = raws.size() - 1; i >= 0; i--) {
            text = text.replace("\"" + MARK + i + "\"", raws.get(i));
        }
        return text;
    }

    private static void collect(JsonNode n, List<JsonNode> out) {
        if (n.isContainerNode()) {
            out.add(n);
            n.forEach(child -> collect(child, out));
        }
    }

    /** Outcomes counted per fuzzed target, printed as {@code fuzz: TARGET: N inputs, F failures, statuses {…}} for CI. */
    public static final class Tally {
        private final String target;
        private final AtomicLong inputs = new AtomicLong();
        private final AtomicLong failures = new AtomicLong();
        private final Map<String, AtomicLong> outcomes = new ConcurrentHashMap<>();
        private final long started = System.nanoTime();
        private volatile long last = started;

        public Tally(String target) {
            this.target = target;
        }

        public void count(String outcome, boolean failed) {
            inputs.incrementAndGet();
            if (failed) {
                failures.incrementAndGet();
            }
            outcomes.computeIfAbsent(outcome, k -> new AtomicLong()).incrementAndGet();
            last = System.nanoTime();
        }

        public long inputs() {
            return inputs.get();
        }

        public long failures() {
            return failures.get();
        }

        public String line() {
            Map<String, Long> o = new TreeMap<>();
            outcomes.forEach((k, v) -> o.put(k, v.get()));
            return String.format("fuzz: %s: %d inputs, %d failures, outcomes %s, %.1f s", target, inputs.get(), failures.get(), o,
                    (last - started) / 1e9);
        }

        public void print() {
            System.out.println(line());
        }
    }
}
