package dev.dualign.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dualign.core.dual.BisectionDual;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DualCommandTest {
    @TempDir
    Path dir;

    private CliRun run(String... args) {
        return CliRun.of(args);
    }

    private Path write(List<String> lines) throws IOException {
        Path f = dir.resolve("samples-" + System.nanoTime() + ".jsonl");
        Files.write(f, lines, StandardCharsets.UTF_8);
        return f;
    }

    private static String line(String prompt, double r, String... utilities) {
        StringBuilder u = new StringBuilder();
        for (int i = 0; i < utilities.length; i += 2) {
            u.append(i == 0 ? "" : ",").append('"').append(utilities[i]).append("\":").append(utilities[i + 1]);
        }
        return String.format(Locale.ROOT, "{\"promptId\":\"%s\",\"reward\":%.17g,\"utilities\":{%s},\"response\":\"ignored\"}",
                prompt, r, u);
    }

    @Test
    void shouldAgreeWithIndependentSolverOnRaggedShuffledGroupsWithOneConstraint() throws IOException {
        Random rnd = new Random(5);
        double beta = 0.01;
        double margin = 300;
        BisectionDual ref = new BisectionDual(beta, margin);
        List<String> lines = new ArrayList<>();
        for (int x = 0; x < 50; x++) {
            int n = 1 + rnd.nextInt(10);
            for (int j = 0; j < n; j++) {
                double r = 1000 * rnd.nextGaussian(); // scores ≫ β
                double g = -0.5 * r + 1000 * rnd.nextGaussian();
                ref.add("p" + x, r, g);
                lines.add(line("p" + x, r, "harmless", String.format(Locale.ROOT, "%.17g", g)));
            }
        }
        Collections.shuffle(lines, rnd); // lines of one prompt need not be adjacent
        CliRun r = run("dual", "--samples", write(lines).toString(), "--beta", "0.01", "--margin", "harmless=300");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode json = r.json();
        double expected = ref.solve1();
        assertThat(expected).isPositive();
        assertThat(json.path("lambda").path("harmless").asDouble()).isCloseTo(expected, within(1e-6));
        assertThat(json.path("expected").path("harmless").asDouble()).isCloseTo(margin, within(1e-4));
        assertThat(json.path("prompts").asInt()).isEqualTo(50);
        assertThat(json.path("samples").asInt()).isEqualTo(lines.size());
        assertThat(json.has("dual")).isTrue();
        assertThat(json.has("reward")).isTrue();
        assertThat(json.has("interval")).isFalse();
    }

    @Test
    void shouldAgreeWithIndependentSolverWithTwoConstraintsAndReportABootstrapInterval() throws IOException {
        Random rnd = new Random(9);
        double beta = 0.5;
        List<double[]> rows = new ArrayList<>();
        for (int x = 0; x < 80; x++) {
            int n = 2 + rnd.nextInt(7);
            for (int j = 0; j < n; j++) {
                double rew = rnd.nextGaussian();
                rows.add(new double[] {x, rew, -0.7 * rew + rnd.nextGaussian(), -0.3 * rew + 0.5 * rnd.nextGaussian()});
            }
        }
        double b1 = rows.stream().mapToDouble(v -> v[2]).average().orElseThrow() + 0.3;
        double b2 = rows.stream().mapToDouble(v -> v[3]).average().orElseThrow() + 0.15;
        BisectionDual ref = new BisectionDual(beta, b1, b2);
        List<String> lines = new ArrayList<>();
        for (double[] v : rows) {
            ref.add("q" + (int) v[0], v[1], v[2], v[3]);
            lines.add(line("q" + (int) v[0], v[1], "harmless", String.format(Locale.ROOT, "%.17g", v[2]),
                    "humour", String.format(Locale.ROOT, "%.17g", v[3])));
        }
        Collections.shuffle(lines, rnd);
        Path f = write(lines);
        CliRun r = run("dual", "--samples", f.toString(), "--beta", "0.5",
                "--margin", "harmless=" + b1, "--margin", "humour=" + b2, "--bootstrap", "50");
        assertThat(r.code()).as(r.err()).isZero();
        double[] expected = ref.solve2();
        JsonNode json = r.json();
        assertThat(expected[0]).isPositive();
        assertThat(expected[1]).isPositive();
        assertThat(json.path("lambda").path("harmless").asDouble()).isCloseTo(expected[0], within(1e-6));
        assertThat(json.path("lambda").path("humour").asDouble()).isCloseTo(expected[1], within(1e-6));
        JsonNode ci = json.path("interval").path("harmless");
        assertThat(ci.path("lo").asDouble()).isLessThanOrEqualTo(expected[0]);
        assertThat(ci.path("hi").asDouble()).isGreaterThanOrEqualTo(expected[0]);
        assertThat(json.path("interval").has("humour")).isTrue();
        assertThat(json.path("bootstrap").path("resamples").asInt()).isEqualTo(50);
        // some prompts have 2 to 7 samples: no finite-K extrapolation, and it says so
        assertThat(json.path("finiteK").path("note").asText()).contains("fewer than 8 samples");
        assertThat(json.path("finiteK").has("bias")).isFalse();
    }

    @Test
    void shouldExitTwoNamingFileLineAndFieldOnBadInput() throws IOException {
        Path f = write(List.of(line("p", 1, "harmless", "0.1"), "", "{\"promptId\":\"p\",\"reward\":\"high\",\"utilities\":{\"harmless\":0}}"));
        CliRun r = run("dual", "--samples", f.toString(), "--beta", "1", "--margin", "harmless=0");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains(f + ":3").contains("reward");
        assertThat(r.out()).isEmpty();

        Path broken = write(List.of("{not json"));
        CliRun r2 = run("dual", "--samples", broken.toString(), "--beta", "1", "--margin", "harmless=0");
        assertThat(r2.code()).isEqualTo(2);
        assertThat(r2.err()).contains(broken + ":1").contains("not valid JSON");
    }

    @Test
    void shouldTreatAUtilityNamedByAMarginButMissingAsBadInput() throws IOException {
        Path f = write(List.of(line("p", 1, "harmless", "0.1"), line("p", 2, "humour", "0.1")));
        CliRun r = run("dual", "--samples", f.toString(), "--beta", "1", "--margin", "harmless=0");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains(f + ":2").contains("utilities.harmless");
    }

    @Test
    void shouldExitTwoOnMissingFileOrBadOptions() throws IOException {
        assertThat(run("dual", "--samples", dir.resolve("nope.jsonl").toString(), "--beta", "1", "--margin", "h=0").code())
                .isEqualTo(2);
        Path f = write(List.of(line("p", 1, "h", "0.1")));
        CliRun negBeta = run("dual", "--samples", f.toString(), "--beta", "-1", "--margin", "h=0");
        assertThat(negBeta.code()).isEqualTo(2);
        assertThat(negBeta.err()).contains("--beta");
        CliRun badMargin = run("dual", "--samples", f.toString(), "--beta", "1", "--margin", "h=lots");
        assertThat(badMargin.code()).isEqualTo(2);
        assertThat(badMargin.err()).contains("--margin h=lots");
        assertThat(run("dual", "--samples", f.toString(), "--beta", "1").code()).isEqualTo(2); // picocli: missing option
    }

    @Test
    void shouldExitThreeNamingTheInfeasibleConstraint() throws IOException {
        Path f = write(List.of(line("p", 1, "harmless", "0.1", "humour", "0"), line("p", 0, "harmless", "0.4", "humour", "0")));
        CliRun r = run("dual", "--samples", f.toString(), "--beta", "1", "--margin", "harmless=0.5", "--margin", "humour=-1");
        assertThat(r.code()).isEqualTo(3);
        assertThat(r.err()).contains("infeasible").contains("harmless").doesNotContain("humour:");
        assertThat(r.out()).isEmpty();
    }

    @Test
    void shouldListCommandsInHelp() {
        CliRun r = run("--help");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("dual").contains("demo").contains("bench");
        CliRun d = run("dual", "--help");
        assertThat(d.code()).isZero();
        assertThat(d.out()).contains("--samples").contains("--margin").contains("--bootstrap");
    }
}
