package dev.dualign.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dualign.app.experiment.Experiments;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code --seeds} is a list of seeds: {@code 11} is seed 11 alone, {@code 1,2,3} what a count of 3 was. */
class ExperimentSeedsTest {
    @TempDir
    Path tmp;

    @Test
    void parsesAListASingleSeedAndSpaces() {
        assertThat(Experiments.parseSeeds("11,12,13")).containsExactly(11, 12, 13);
        assertThat(Experiments.parseSeeds("11")).containsExactly(11);
        assertThat(Experiments.parseSeeds(" 3, 1 ")).containsExactly(3, 1);
        assertThat(Experiments.formatSeeds(List.of(1, 2, 3))).isEqualTo("1,2,3");
    }

    @Test
    void rejectsWhatIsNotAListOfDistinctPositiveSeeds() {
        assertThatThrownBy(() -> Experiments.parseSeeds("a")).hasMessageContaining("'a'").hasMessageContaining("not an integer");
        assertThatThrownBy(() -> Experiments.parseSeeds("1,,2")).hasMessageContaining("not an integer");
        assertThatThrownBy(() -> Experiments.parseSeeds("0")).hasMessageContaining("seed 0").hasMessageContaining("≥ 1");
        assertThatThrownBy(() -> Experiments.parseSeeds("-2")).hasMessageContaining("≥ 1");
        assertThatThrownBy(() -> Experiments.parseSeeds("1,2,1")).hasMessageContaining("seed 1 appears twice");
        assertThatThrownBy(() -> Experiments.parseSeeds(" ")).hasMessageContaining("got nothing");
        assertThatThrownBy(() -> Experiments.parseSeeds("99999999999")).hasMessageContaining("not an integer");
    }

    @ParameterizedTest
    @ValueSource(strings = {"x", "1,,2", "0", "-1", "1,1", "", "3.5", "1;2"})
    void aBadListIsAUsageErrorNamingTheOption(String bad) {
        CliRun r = CliRun.of("experiment", "canary", "--seeds", bad, "--out", tmp.toString());
        assertThat(r.code()).isEqualTo(Dualign.EXIT_BAD_INPUT);
        assertThat(r.err()).contains("--seeds").contains("Invalid value");
        assertThat(tmp.resolve("canary.json")).doesNotExist();
    }

    @Test
    void aSingleNumberIsThatSeedAloneAndGivesTheSameNumbersAsThatSeedInAList() throws Exception {
        Fonts.assumeAvailable();
        CliRun one = CliRun.of("experiment", "lambda-ci", "--quick", "--seeds", "2", "--out", tmp.resolve("one").toString());
        assertThat(one.code()).as(one.err()).isZero();
        CliRun two = CliRun.of("experiment", "lambda-ci", "--quick", "--seeds", "1,2", "--out", tmp.resolve("two").toString());
        assertThat(two.code()).as(two.err()).isZero();
        JsonNode alone = new ObjectMapper().readTree(tmp.resolve("one/lambda-ci.json").toFile());
        JsonNode both = new ObjectMapper().readTree(tmp.resolve("two/lambda-ci.json").toFile());
        assertThat(alone.path("seeds").toString()).isEqualTo("[2]");
        assertThat(alone.path("command").asText()).endsWith("--seeds 2 --quick");
        List<JsonNode> seed2 = new ArrayList<>();
        both.path("result").path("cells").forEach(c -> {
            if (c.path("seed").asInt() == 2) {
                seed2.add(c);
            }
        });
        List<JsonNode> cells = new ArrayList<>();
        alone.path("result").path("cells").forEach(c -> {
            assertThat(c.path("seed").asInt()).isEqualTo(2);
            cells.add(c);
        });
        assertThat(cells).isNotEmpty().isEqualTo(seed2);
    }

    @Test
    void theDefaultIsSeedsOneToThreeAsTheOldDefaultCountOfThree() {
        CliRun r = CliRun.of("experiment", "--help");
        assertThat(r.out()).contains("--seeds").contains("default: 1,2,3");
    }
}
