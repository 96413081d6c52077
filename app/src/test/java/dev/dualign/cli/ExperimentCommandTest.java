package dev.dualign.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code dualign experiment}: a result file with its provenance and a real PNG, deterministic per seed. */
class ExperimentCommandTest {
    @TempDir
    Path tmp;

    static final byte[] PNG_MAGIC = {(byte) 0x89, 'P', 'N', 'G'};

    @Test
    void canaryWritesItsNumbersAndItsPlotAndRepeatsThemForTheSameSeed() throws Exception {
        Fonts.assumeAvailable();
        CliRun r = CliRun.of("experiment", "canary", "--quick", "--seeds", "1", "--out", tmp.toString());
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode doc = new ObjectMapper().readTree(tmp.resolve("canary.json").toFile());
        assertThat(doc.path("command").asText()).isEqualTo("bin/dualign experiment canary --seeds 1 --quick");
        assertThat(doc.path("machine").path("cores").asInt()).isPositive();
        JsonNode cells = doc.path("result").path("cells");
        assertThat(cells.size()).isEqualTo(3 * 8); // three bounds × (7 means + the worst case)
        assertThat(doc.path("result").path("hold").size()).isEqualTo(4); // the hold cells: 4 means, the job's sequence
        assertThat(doc.path("result").path("hold").get(2).path("p95Samples").asDouble()).isPositive();
        byte[] png = Files.readAllBytes(tmp.resolve("canary.png"));
        assertThat(png).startsWith(PNG_MAGIC);
        assertThat(png.length).isGreaterThan(10_000);

        Path again = tmp.resolve("again");
        assertThat(CliRun.of("experiment", "canary", "--quick", "--seeds", "1", "--out", again.toString()).code()).isZero();
        JsonNode twice = new ObjectMapper().readTree(again.resolve("canary.json").toFile()).path("result");
        assertThat(twice.path("cells")).isEqualTo(cells);
        assertThat(twice.path("hold")).isEqualTo(doc.path("result").path("hold"));
    }

    @Test
    void lambdaCiReportsBothIntervalsAtEachK() throws Exception {
        Fonts.assumeAvailable();
        CliRun r = CliRun.of("experiment", "lambda-ci", "--quick", "--seeds", "1", "--out", tmp.toString());
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode cells = new ObjectMapper().readTree(tmp.resolve("lambda-ci.json").toFile()).path("result").path("cells");
        assertThat(cells.size()).isEqualTo(3 * 2);
        for (JsonNode c : cells) {
            assertThat(c.path("coverageAtK").asDouble()).isBetween(0.0, 1.0);
            assertThat(c.path("meanLambdaHat").asDouble()).isGreaterThan(c.path("meanLambdaStar").asDouble());
        }
        assertThat(Files.readAllBytes(tmp.resolve("lambda-ci.png"))).startsWith(PNG_MAGIC);
    }

    @Test
    void helpListsEveryExperimentWithItsLine() {
        CliRun r = CliRun.of("experiment", "--help");
        assertThat(r.code()).isZero();
        dev.dualign.app.experiment.Experiments.all().forEach((name, e) ->
                assertThat(r.out()).as(name).containsPattern("(?m)^\\s+" + java.util.regex.Pattern.quote(name) + "\\s+\\S"));
    }

    @Test
    void anUnknownNameIsABadInputThatListsTheKnownOnes() {
        CliRun r = CliRun.of("experiment", "nope", "--out", tmp.toString());
        assertThat(r.code()).isEqualTo(Dualign.EXIT_BAD_INPUT);
        assertThat(r.err()).contains("unknown experiment 'nope'").contains("canary").contains("lambda-ci");
    }
}
