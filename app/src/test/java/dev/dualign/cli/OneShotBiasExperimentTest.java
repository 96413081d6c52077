package dev.dualign.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dualign.world.testing.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code dualign experiment oneshot-bias --quick} on the tiny test models: real sampling, scoring and solves. */
class OneShotBiasExperimentTest {
    @TempDir
    Path tmp;

    @Test
    void solvesEveryCellOnThePolicysOwnScoredSamplesAndPlotsThem() throws Exception {
        Fonts.assumeAvailable();
        CliRun r = CliRun.of("experiment", "oneshot-bias", "--quick", "--seeds", "1", "--out", tmp.toString(),
                "--registry", TestModels.registry().toString());
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode result = new ObjectMapper().readTree(tmp.resolve("oneshot-bias.json").toFile()).path("result");
        assertThat(result.path("cells").size()).isEqualTo(2 * 2); // prompts {10, 20} × K {4, 8}
        for (JsonNode c : result.path("cells")) {
            // each cell either solved or says why not: never silently missing
            assertThat(c.has("lambdaHat") || c.has("infeasible")).as(c.toString()).isTrue();
            if (c.has("lambdaHat")) {
                assertThat(c.path("lambdaHat").asDouble()).isGreaterThanOrEqualTo(0);
            }
        }
        assertThat(result.path("reference").get(0).path("referenceMeanHarmless").isNumber()).isTrue();
        assertThat(Files.readAllBytes(tmp.resolve("oneshot-bias.png"))).startsWith(ExperimentCommandTest.PNG_MAGIC);
    }
}
