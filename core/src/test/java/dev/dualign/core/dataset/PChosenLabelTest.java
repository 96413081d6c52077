package dev.dualign.core.dataset;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.dualign.core.event.ChatMessage;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * A trainer that takes only hard labels (TRL's DPOTrainer) gets p_chosen's soft label in
 * expectation by drawing the label per pair ({@link DpoPair#drawn}): the mean gradient of the hard
 * DPO loss −log σ(β·h_drawn) with respect to the implicit reward margin h of the written pair is the
 * gradient of the soft-label loss −[p·log σ(β·h) + (1−p)·log σ(−β·h)], which is β·(σ(β·h) − p).
 */
class PChosenLabelTest {
    static final double BETA = 0.1;
    static final int DRAWS = 100_000;

    /** A written pair whose p_chosen is {@code p}: two responses whose scores differ by β·logit(p). */
    static DpoPair pairWith(double p) {
        double gap = BETA * Math.log(p / (1 - p));
        PolicyDatasetRecord r = PolicyDatasetRecord.of("p", List.of(ChatMessage.of("user", "q")), Map.of("harmless", 0.7), BETA,
                List.of(new PolicyDatasetRecord.Sample("a", null, 0, gap, Map.of("harmless", 0.0), -1.0, -1.0),
                        new PolicyDatasetRecord.Sample("b", null, 0, 0, Map.of("harmless", 0.0), -2.0, -2.0)));
        return DpoView.pairs(r, DpoView.Pairing.ALL, 0).get(0);
    }

    static double softLoss(double p, double h) {
        return -(p * Math.log(DpoPair.sigmoid(BETA * h)) + (1 - p) * Math.log(DpoPair.sigmoid(-BETA * h)));
    }

    static double softGradient(double p, double h) {
        return BETA * (DpoPair.sigmoid(BETA * h) - p);
    }

    /**
     * d/dh of the hard DPO loss on the drawn pair, h being the margin of the written pair's chosen over
     * its rejected: −log σ(β·h) when the label kept the order, −log σ(−β·h) when it swapped it.
     */
    static double hardGradient(DpoPair written, DpoPair drawn, double h) {
        return drawn.chosen().equals(written.chosen()) ? -BETA * DpoPair.sigmoid(-BETA * h) : BETA * DpoPair.sigmoid(BETA * h);
    }

    record Mean(double value, double standardError) {}

    static Mean meanHardGradient(DpoPair written, double h, Function<SplittableRandom, DpoPair> draw, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        double sum = 0;
        double sumSq = 0;
        for (int i = 0; i < DRAWS; i++) {
            double g = hardGradient(written, draw.apply(rng), h);
            sum += g;
            sumSq += g * g;
        }
        double mean = sum / DRAWS;
        double variance = (sumSq - DRAWS * mean * mean) / (DRAWS - 1);
        return new Mean(mean, Math.sqrt(Math.max(variance, 0) / DRAWS));
    }

    @Test
    void theSoftGradientIsTheSoftLossesDerivative() {
        for (double p : new double[] {0.5, 0.62, 0.8, 0.97}) {
            for (double h : new double[] {-20, -5, 0, 7, 30}) {
                double numeric = (softLoss(p, h + 1e-5) - softLoss(p, h - 1e-5)) / 2e-5;
                assertThat(softGradient(p, h)).as("p %s, h %s", p, h).isCloseTo(numeric, within(1e-8));
            }
        }
    }

    @Test
    void drawingTheLabelWithPChosenGivesTheSoftLabelGradientInExpectation() {
        long seed = 2024;
        for (double p : new double[] {0.5, 0.62, 0.8, 0.97}) {
            DpoPair written = pairWith(p);
            assertThat(written.pChosen()).isCloseTo(p, within(1e-12));
            for (double h : new double[] {-20, -5, 0, 7, 30}) {
                Mean m = meanHardGradient(written, h, written::drawn, seed++);
                // 4 standard errors: a correct draw fails this by chance about once in 16,000 cases; the seed is fixed
                assertThat(m.value()).as("p %s, h %s", p, h).isCloseTo(softGradient(written.pChosen(), h), within(4 * m.standardError()));
            }
        }
    }

    @Test
    void theCheckCatchesLabelsDrawnTheWrongWayRound() {
        long seed = 99;
        for (double p : new double[] {0.62, 0.8, 0.97}) {
            DpoPair written = pairWith(p);
            for (double h : new double[] {-20, 0, 30}) {
                // chosen kept with probability 1 − p instead of p
                Mean m = meanHardGradient(written, h, rng -> rng.nextDouble() < 1 - written.pChosen() ? written : written.swapped(), seed++);
                assertThat(Math.abs(m.value() - softGradient(written.pChosen(), h))).as("p %s, h %s", p, h)
                        .isGreaterThan(4 * m.standardError());
            }
        }
    }
}
