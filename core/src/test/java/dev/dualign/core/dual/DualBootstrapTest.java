package dev.dualign.core.dual;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.dualign.core.dual.DualBootstrap.Extrapolation;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The bootstrap's two intervals, against a world whose infinite-K λ* is known exactly. */
class DualBootstrapTest {
    static final GaussianDualWorld WORLD = GaussianDualWorld.chatLike(0.1, 0.5);

    @Test
    void theIntervalForLambdaAtThisKMissesTheInfiniteKLambdaAndTheExtrapolatedOneMostlyCoversIt() {
        var c = WORLD.coverage(100, 16, 40, 100, 0.95, 3, Extrapolation.INVERSE_SQRT_K,
                DualBootstrap.MIN_GROUP_TO_CORRECT, null);
        // λ̂ at K = 16 sits well above λ* (Jensen): its 95 % interval covers λ* in few runs
        assertThat(c.meanLambdaHat()).isGreaterThan(c.meanLambdaStar() + 0.04);
        assertThat(c.atKRate()).isLessThan(0.5);
        // the extrapolated estimate removes most of that bias and its interval covers λ* far more often
        assertThat(c.meanBias()).isBetween(0.5 * (c.meanLambdaHat() - c.meanLambdaStar()),
                1.5 * (c.meanLambdaHat() - c.meanLambdaStar()));
        assertThat(c.limitRuns()).isEqualTo(40);
        assertThat(c.limitRate()).isGreaterThan(0.7);
    }

    @Test
    void withTooFewSamplesPerPromptToThinItSaysSoInsteadOfGuessing() {
        var d = WORLD.draw(50, 4, new SplittableRandom(1)); // K/2 = 2 would over-correct
        DualSolver solver = new DualSolver();
        var r = DualBootstrap.run(solver, d.problem(), solver.solve(d.problem()), 20, 0.9, 1);
        assertThat(r.bias()[0]).isNaN();
        assertThat(r.limitLo()[0]).isNaN();
        assertThat(r.levels()).isEmpty();
        assertThat(r.lo()[0]).isLessThanOrEqualTo(r.hi()[0]);
    }

    @Test
    void thinningKeepsEveryPromptAndHalvesItsSamples() {
        var d = WORLD.draw(30, 8, new SplittableRandom(2));
        DualProblem t = d.problem().thinned(2, new SplittableRandom(3));
        assertThat(t.prompts()).isEqualTo(30);
        assertThat(t.samples()).isEqualTo(120);
        assertThat(t.minGroup()).isEqualTo(4);
        assertThat(d.problem().thinned(3, new SplittableRandom(3)).minGroup()).isEqualTo(3); // ⌈8/3⌉
    }

    @Test
    void richardsonIsExactForALineInH() {
        assertThat(DualBootstrap.extrapolate(new double[] {0.25, 0.5}, new double[] {1 + 2 * 0.25, 1 + 2 * 0.5}))
                .isCloseTo(1, within(1e-12));
    }
}
