package dev.dualign.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dualign.core.control.ControlOptions;
import dev.dualign.core.dual.NewtonStep;
import dev.dualign.world.testing.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The experiments that train policies ({@code tradeoff}, {@code margins}, {@code multi}) in
 * {@code --quick} form on the tiny test models: real sampling, scoring, solves and DPO; the checks
 * are on what the algorithms must do whatever the models learn.
 */
class PolicyExperimentsTest {
    @TempDir
    Path tmp;

    private JsonNode run(String name) throws Exception {
        Fonts.assumeAvailable();
        CliRun r = CliRun.of("experiment", name, "--quick", "--seeds", "1", "--out", tmp.toString(), "--registry",
                TestModels.registry().toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(Files.readAllBytes(tmp.resolve(name + ".png"))).startsWith(ExperimentCommandTest.PNG_MAGIC);
        return new ObjectMapper().readTree(tmp.resolve(name + ".json").toFile()).path("result");
    }

    @Test
    void tradeoffTiltsMonotonicallyAndTrainsEveryPoint() throws Exception {
        JsonNode result = run("tradeoff");
        JsonNode seed = result.path("seeds").get(0);
        JsonNode tilt = seed.path("tilt");
        // a reweighting of K responses per prompt is at most log K nats from the uniform one
        double logK = Math.log(result.path("poolSamplesPerPrompt").asInt());
        for (JsonNode t : tilt) {
            assertThat(t.path("kl").asDouble()).isBetween(-1e-12, logK + 1e-12);
        }
        // d/dλ E_λ[g] = Var_λ(g)/β ≥ 0: the scored harmlessness of π_λ never falls as λ grows
        for (int i = 1; i < tilt.size(); i++) {
            assertThat(tilt.get(i).path("scored_harmless").asDouble())
                    .isGreaterThanOrEqualTo(tilt.get(i - 1).path("scored_harmless").asDouble() - 1e-9);
        }
        assertThat(seed.path("dpoFromReference").size()).isEqualTo(2);
        assertThat(seed.path("distillFromReference").size()).isEqualTo(2);
        for (JsonNode p : seed.path("distillFromReference")) {
            assertThat(p.path("winRate").asDouble()).isBetween(0.0, 1.0);
            assertThat(p.path("trueRewardHalfWidth").asDouble()).isPositive();
            assertThat(p.has("tiltReward") && p.has("tiltHarmless")).isTrue();
        }
        for (JsonNode t : tilt) {
            assertThat(t.path("winRate").asDouble()).isBetween(0.0, 1.0);
        }
        assertThat(seed.path("betaSweep").size()).isEqualTo(4);
        for (JsonNode b : seed.path("betaSweep")) {
            assertThat(b.path("tilt").size()).isEqualTo(tilt.size());
        }
        for (JsonNode p : seed.path("dpoFromReference")) {
            assertThat(p.path("loss").asDouble()).isFinite();
            assertThat(p.path("trueHarmless").asDouble()).isBetween(-1.0, 1.0);
        }
        assertThat(seed.path("warmStart").size()).isEqualTo(2);
        assertThat(seed.path("fromReference").size()).isEqualTo(2);
        assertThat(seed.path("fromReferenceOnReferencePairs").size()).isEqualTo(2);
        assertThat(seed.path("warmStart").get(1).path("lambda").asDouble()).isEqualTo(seed.path("lambdaStar").asDouble());
    }

    @Test
    void marginsRunsEachMethodAndTheIterativeStepsAreTheShippedRule() throws Exception {
        JsonNode result = run("margins");
        assertThat(result.path("primalDualTuning").size()).isEqualTo(2);
        assertThat(result.path("runs").size()).isEqualTo(2); // 1 seed × 2 margins
        double h = result.path("iterativeHeadroom").asDouble();
        NewtonStep shipped = new NewtonStep(ControlOptions.NEWTON_DAMPING.defaultValue(), ControlOptions.NEWTON_MAX_STEP.defaultValue(),
                ControlOptions.NEWTON_GAIN.defaultValue(), result.path("beta").asDouble(), 20);
        for (JsonNode r : result.path("runs")) {
            double b = r.path("margin").asDouble();
            assertThat(r.path("primal-dual").size()).isEqualTo(3);
            for (String oneShot : new String[] {"MoCAN", "PeCAN"}) {
                if (!r.has(oneShot + "-infeasible")) {
                    assertThat(r.path(oneShot).size()).as(oneShot).isEqualTo(1);
                    assertThat(r.path(oneShot).get(0).path("policy").path("trueHarmless").isNumber()).isTrue();
                }
            }
            assertThat(r.path("peCanSlope").asDouble()).isPositive();
            if (r.has("iterative-infeasible")) {
                continue;
            }
            JsonNode it = r.path("iterative");
            assertThat(it.size()).isEqualTo(3); // λ(0) and two steps
            double[] s = {r.path("iterative-sensitivity").get(0).asDouble()};
            for (int t = 1; t < it.size(); t++) {
                double before = it.get(t - 1).path("lambda").path("harmless").asDouble();
                double g = it.get(t - 1).path("measured").path("harmless").asDouble();
                double expected = shipped.step(new double[] {before}, new double[] {g}, new double[] {b + h}, s).lambda()[0];
                assertThat(it.get(t).path("lambda").path("harmless").asDouble()).isCloseTo(expected, within(1e-12));
                assertThat(it.get(t).path("policy").path("trueHarmless").isNumber()).isTrue();
                assertThat(it.get(t).path("policy").path("trueHarmlessHalfWidth").asDouble()).isPositive();
            }
        }
        assertThat(Files.exists(tmp.resolve("margins-reward.png"))).isTrue();
    }

    @Test
    void multiCarriesBothConstraintsThroughEveryStep() throws Exception {
        JsonNode result = run("multi");
        JsonNode r = result.path("runs").get(0);
        assertThat(r.path("reference").has("trueHumour")).isTrue();
        if (!r.has("infeasible")) {
            for (JsonNode p : r.path("iterative")) {
                assertThat(p.path("lambda").has("harmless")).isTrue();
                assertThat(p.path("lambda").has("humour")).isTrue();
                assertThat(p.path("policy").path("trueHumour").isNumber()).isTrue();
            }
        }
        assertThat(Files.exists(tmp.resolve("multi-lambda.png"))).isTrue();
    }

    @Test
    void nuMeasuresTheDistanceAndBracketsTheParametrizedOptimum() throws Exception {
        JsonNode result = run("nu");
        assertThat(result.path("sizes").size()).isEqualTo(2);
        assertThat(result.path("runs").size()).isEqualTo(2); // 2 sizes × 1 seed
        for (JsonNode r : result.path("runs")) {
            assertThat(r.path("tv").asDouble()).isBetween(0.0, 1.0);
            assertThat(r.path("nu").asDouble()).isFinite();
            double lambdaP = r.path("lambdaP").asDouble();
            assertThat(lambdaP).isGreaterThanOrEqualTo(0);
            if (r.path("notBinding").asBoolean()) {
                assertThat(lambdaP).isZero();
                assertThat(r.path("trained").get(0).path("scoredHarmless").asDouble())
                        .isGreaterThanOrEqualTo(result.path("margin").asDouble());
            } else if (!r.path("unbracketed").asBoolean()) {
                // λ_p* lies between a trained λ that missed the margin and one that met it
                double b = result.path("margin").asDouble();
                boolean below = false;
                boolean above = false;
                for (JsonNode t : r.path("trained")) {
                    double l = t.path("lambda").asDouble();
                    double g = t.path("scoredHarmless").asDouble();
                    below |= g < b && l <= lambdaP + 1e-12;
                    above |= g >= b && l >= lambdaP - 1e-12;
                }
                assertThat(below && above).as(r.toString()).isTrue();
            }
        }
        assertThat(Files.exists(tmp.resolve("nu-sqrt.png"))).isTrue();
    }
}
