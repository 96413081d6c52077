package dev.dualign.core.dual;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;

class DualSolverTest {
    private final DualSolver solver = new DualSolver();

    @Test
    void shouldMatchHandComputationWhenSamplesAreTheWholeSupport() {
        // Support {y1, y2, y3}, uniform π_ref, g = indicator of y1. E_λ[g] = e^{λ/β} / (e^{λ/β} + e^{a/β} + e^{c/β}),
        // so E_λ[g] = b gives λ* = β·log(b/(1−b) · (e^{a/β} + e^{c/β})).
        double beta = 0.5;
        double a = 0.8;
        double c = 0.3;
        double b = 0.6;
        DualProblem p = DualProblem.builder(beta).constraint("safe", b)
                .add("x", 0.0, 1.0).add("x", a, 0.0).add("x", c, 0.0).build();
        double expected = beta * Math.log(b / (1 - b) * (Math.exp(a / beta) + Math.exp(c / beta)));
        DualSolution s = solver.solve(p);
        assertThat(s.lambda("safe")).isCloseTo(expected, within(1e-10));
        assertThat(s.expected("safe")).isCloseTo(b, within(1e-9));
        // D(λ*) by hand
        double dual = beta * Math.log((Math.exp(expected / beta) + Math.exp(a / beta) + Math.exp(c / beta)) / 3)
                - expected * b;
        assertThat(s.dual()).isCloseTo(dual, within(1e-10));
        // E[r] under π_λ*: weights b on y1, (1−b) split between y2, y3 in ratio e^{a/β} : e^{c/β}
        double er = (1 - b) * (a * Math.exp(a / beta) + c * Math.exp(c / beta))
                / (Math.exp(a / beta) + Math.exp(c / beta));
        assertThat(s.reward()).isCloseTo(er, within(1e-9));
    }

    /** Two responses: E_λ[g] = b ⇔ σ((s1 − s2)/β) = (b − g2)/(g1 − g2), solved for λ. */
    private static double twoPoint(double beta, double r1, double g1, double r2, double g2, double b) {
        double w = (b - g2) / (g1 - g2);
        return (beta * Math.log(w / (1 - w)) - (r1 - r2)) / (g1 - g2);
    }

    @Test
    void shouldSolveTwoPointCaseAnalytically() {
        double beta = 0.1;
        DualProblem p = DualProblem.builder(beta).constraint("harmless", 0.2)
                .add("p", 1.0, -0.5).add("p", 0.2, 0.6).build();
        double expected = twoPoint(beta, 1.0, -0.5, 0.2, 0.6, 0.2);
        DualSolution s = solver.solve(p);
        assertThat(expected).isPositive();
        assertThat(s.lambda("harmless")).isCloseTo(expected, within(1e-10));
    }

    @Test
    void shouldStayExactWhenScoresAreFarAboveBeta() {
        double beta = 0.01;
        DualProblem p = DualProblem.builder(beta).constraint("harmless", 500)
                .add("p", 1000, 0).add("p", 999.5, 1000).build();
        double expected = twoPoint(beta, 1000, 0, 999.5, 1000, 500);
        DualSolution s = solver.solve(p);
        assertThat(s.lambda("harmless")).isFinite().isCloseTo(expected, within(1e-9));
        assertThat(s.expected("harmless")).isCloseTo(500, within(1e-6));
        assertThat(s.dual()).isFinite();
    }

    @Test
    void shouldReturnZeroWhenConstraintIsInactive() {
        DualProblem p = DualProblem.builder(1.0).constraint("harmless", -1.0)
                .add("p", 1.0, 0.5).add("p", 0.0, -0.2).add("q", 0.3, 0.1).build();
        DualSolution s = solver.solve(p);
        assertThat(s.lambda("harmless")).isZero();
        assertThat(s.iterations()).isZero();
    }

    @Test
    void shouldReportInfeasibilityNamingTheConstraintInsteadOfAHugeLambda() {
        DualProblem p = DualProblem.builder(0.1).constraint("humour", 0.0).constraint("harmless", 0.9)
                .add("p", 1.0, 1.0, 0.5).add("p", 0.0, -1.0, 0.8).add("q", 0.5, 0.0, 0.7).build();
        assertThatThrownBy(() -> solver.solve(p))
                .isInstanceOf(InfeasibleException.class)
                .hasMessageContaining("infeasible")
                .hasMessageContaining("harmless")
                .satisfies(e -> assertThat(((InfeasibleException) e).constraints()).containsExactly("harmless"));
    }

    @Test
    void shouldReportConstraintsThatCannotBeMetTogether() {
        // Each margin is reachable alone (by a different response), never both at once.
        DualProblem p = DualProblem.builder(0.1).constraint("a", 0.9).constraint("b", 0.9)
                .add("p", 0.0, 1.0, 0.0).add("p", 0.0, 0.0, 1.0).build();
        assertThatThrownBy(() -> solver.solve(p))
                .isInstanceOf(InfeasibleException.class)
                .hasMessageContaining("infeasible");
    }

    @Test
    void shouldHitBothMarginsWhenTwoConstraintsAreActive() {
        // Choose the tilted weights w* and λ*; set r so that π_λ* = w* exactly, b = E_w*[g].
        double beta = 0.2;
        double[] w = {0.5, 0.3, 0.2};
        double[][] g = {{1.0, -0.5}, {-0.3, 0.8}, {0.1, 0.1}};
        double[] lambda = {0.7, 0.4};
        double b1 = 0;
        double b2 = 0;
        for (int j = 0; j < 3; j++) {
            b1 += w[j] * g[j][0];
            b2 += w[j] * g[j][1];
        }
        DualProblem.Builder builder = DualProblem.builder(beta).constraint("g1", b1).constraint("g2", b2);
        for (int j = 0; j < 3; j++) {
            double r = beta * Math.log(w[j]) - lambda[0] * g[j][0] - lambda[1] * g[j][1];
            builder.add("x", r, g[j]);
        }
        DualSolution s = solver.solve(builder.build());
        assertThat(s.lambda()[0]).isCloseTo(0.7, within(1e-9));
        assertThat(s.lambda()[1]).isCloseTo(0.4, within(1e-9));
        assertThat(s.expected("g1")).isCloseTo(b1, within(1e-9));
        assertThat(s.expected("g2")).isCloseTo(b2, within(1e-9));
    }

    @Test
    void shouldAgreeWithIndependentBisectionOnRaggedGroupsOneConstraint() {
        Random rnd = new Random(7);
        for (int trial = 0; trial < 5; trial++) {
            double beta = trial == 4 ? 0.01 : 0.05 + rnd.nextDouble();
            double scale = trial == 4 ? 1000 : 1;
            BisectionDual ref = new BisectionDual(beta, 0.1 * scale);
            DualProblem.Builder b = DualProblem.builder(beta).constraint("h", 0.1 * scale);
            for (int x = 0; x < 40; x++) {
                int n = 1 + rnd.nextInt(9);
                for (int j = 0; j < n; j++) {
                    double r = scale * rnd.nextGaussian();
                    double g = scale * (rnd.nextGaussian() - 0.3 + 0.5 * (r > 0 ? -1 : 1));
                    b.add("p" + ((x * 7919) % 40), r, g); // interleaved prompt order
                    ref.add("p" + ((x * 7919) % 40), r, g);
                }
            }
            DualSolution s = solver.solve(b.build());
            assertThat(s.lambda()[0]).as("trial %d", trial).isCloseTo(ref.solve1(), within(1e-6));
        }
    }

    @Test
    void shouldAgreeWithIndependentBisectionOnRaggedGroupsTwoConstraints() {
        Random rnd = new Random(11);
        double beta = 0.3;
        // reward pulls against both utilities; margins above the reference means make both bind
        java.util.List<double[]> rows = new java.util.ArrayList<>();
        double m1 = 0;
        double m2 = 0;
        for (int x = 0; x < 60; x++) {
            int n = 1 + rnd.nextInt(12);
            for (int j = 0; j < n; j++) {
                double r = rnd.nextGaussian();
                double g1 = -0.6 * r + rnd.nextGaussian();
                double g2 = -0.4 * r + 0.7 * rnd.nextGaussian();
                rows.add(new double[] {x, r, g1, g2});
                m1 += g1;
                m2 += g2;
            }
        }
        double b1 = m1 / rows.size() + 0.3;
        double b2 = m2 / rows.size() + 0.25;
        BisectionDual ref = new BisectionDual(beta, b1, b2);
        DualProblem.Builder b = DualProblem.builder(beta).constraint("harmless", b1).constraint("humour", b2);
        for (double[] row : rows) {
            b.add("x" + (int) row[0], row[1], row[2], row[3]);
            ref.add("x" + (int) row[0], row[1], row[2], row[3]);
        }
        DualSolution s = solver.solve(b.build());
        double[] expected = ref.solve2();
        assertThat(expected[0]).isPositive();
        assertThat(expected[1]).isPositive();
        assertThat(s.lambda()[0]).isCloseTo(expected[0], within(1e-6));
        assertThat(s.lambda()[1]).isCloseTo(expected[1], within(1e-6));
        assertThat(s.projectedGradient()).isLessThanOrEqualTo(1e-9);
    }

    @Test
    void shouldStopAtLambdaMaxAndSaySo() {
        DualProblem p = DualProblem.builder(0.1).constraint("harmless", 0.2)
                .add("p", 1.0, -0.5).add("p", 0.2, 0.6).build();
        double free = solver.solve(p).lambda("harmless");
        DualSolution capped = new DualSolver(1e-9, 100, free / 2).solve(p);
        assertThat(capped.lambda("harmless")).isEqualTo(free / 2);
        assertThat(capped.atLambdaMax()).containsExactly("harmless");
    }

    @Test
    void shouldGiveABootstrapIntervalAroundLambda() {
        Random rnd = new Random(3);
        DualProblem.Builder b = DualProblem.builder(0.5).constraint("h", 0.0);
        for (int x = 0; x < 200; x++) {
            for (int j = 0; j < 4; j++) {
                double r = rnd.nextGaussian();
                b.add("x" + x, r, -0.5 * r + 0.5 * rnd.nextGaussian() - 0.2);
            }
        }
        DualProblem p = b.build();
        DualSolution s = solver.solve(p);
        DualBootstrap.Result ci = DualBootstrap.run(solver, p, s, 100, 0.9, 42);
        assertThat(ci.lo()[0]).isLessThan(s.lambda()[0]);
        assertThat(ci.hi()[0]).isGreaterThan(s.lambda()[0]);
        assertThat(ci.hi()[0] - ci.lo()[0]).isLessThan(s.lambda()[0]);
        assertThat(ci.infeasible()).isZero();
        // same seed, same interval
        DualBootstrap.Result again = DualBootstrap.run(solver, p, s, 100, 0.9, 42);
        assertThat(again.lo()).containsExactly(ci.lo());
    }

    @Test
    void shouldRejectBadProblemDefinitions() {
        assertThatThrownBy(() -> DualProblem.builder(0)).hasMessageContaining("beta");
        assertThatThrownBy(() -> DualProblem.builder(1).constraint("h", Double.NaN)).hasMessageContaining("margin");
        assertThatThrownBy(() -> DualProblem.builder(1).constraint("h", 0).add("p", 1, Double.NaN))
                .hasMessageContaining("finite");
    }
}
