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
 * DPO loss −log σ(b·h_drawn) with respect to the implicit reward margin h of the written pair is the
 * gradient of the soft-label loss −[p·log σ(b·h) + (1−p)·log σ(−b·h)], which is b·(σ(b·h) − p).
 * b is DPO's own β: 1, the one to train with (β is in the label), and the record's β, for good measure.
 */
class PChosenLabelTest {
    /** The record's β: the labels' temperature. */
    static final double BETA = 0.1;
    static final double[] DPO_BETAS = {1.0, BETA};
    static final int DRAWS = 100_000;

    /** A written pair whose p_chosen is {@code p}: two responses whose scores differ by β·logit(p). */
    static DpoPair pairWith(double p) {
        double gap = BETA * Math.log(p / (1 - p));
        PolicyDatasetRecord r = PolicyDatasetRecord.of("p", List.of(ChatMessage.of("user", "q")), Map.of("harmless", 0.7), BETA,
                List.of(new PolicyDatasetRecord.Sample("a", null, 0, gap, Map.of("harmless", 0.0), -1.0, -1.0),
                        new PolicyDatasetRecord.Sample("b", null, 0, 0, Map.of("harmless", 0.0), -2.0, -2.0)));
        return DpoView.pairs(r, DpoView.Pairing.ALL, 0).get(0);
    }

    static double softLoss(double b, double p, double h) {
        return -(p * Math.log(DpoPair.sigmoid(b * h)) + (1 - p) * Math.log(DpoPair.sigmoid(-b * h)));
    }

    static double softGradient(double b, double p, double h) {
        return b * (DpoPair.sigmoid(b * h) - p);
    }

    /**
     * d/dh of the hard DPO loss on the drawn pair, h being the margin of the written pair's chosen over
     * its rejected: −log σ(b·h) when the label kept the order, −log σ(−b·h) when it swapped it.
     */
    static double hardGradient(double b, DpoPair written, DpoPair drawn, double h) {
        return drawn.chosen().equals(written.chosen()) ? -b * DpoPair.sigmoid(-b * h) : b * DpoPair.sigmoid(b * h);
    }

    record Mean(double value, double standardError) {}

    static Mean meanHardGradient(double b, DpoPair written, double h, Function<SplittableRandom, DpoPair> draw, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        double sum = 0;
        double sumSq = 0;
        for (int i = 0; i < DRAWS; i++) {
            double g = hardGradient(b, written, draw.apply(rng), h);
            sum += g;
            sumSq += g * g;
        }
        double mean = sum / DRAWS;
        double variance = (sumSq - DRAWS * mean * mean) / (DRAWS - 1);
        return new Mean(mean, Math.sqrt(Math.max(variance, 0) / DRAWS));
    }

    /** Margins h with b·h from −2 to 3: both sides of the label's odds and the flat parts of σ. */
    static double[] margins(double b) {
        return new double[] {-2 / b, -0.5 / b, 0, 0.7 / b, 3 / b};
    }

    @Test
    void theSoftGradientIsTheSoftLossesDerivative() {
        for (double b : DPO_BETAS) {
            for (double p : new double[] {0.5, 0.62, 0.8, 0.97}) {
                for (double h : margins(b)) {
                    double e = 1e-5 / b;
                    double numeric = (softLoss(b, p, h + e) - softLoss(b, p, h - e)) / (2 * e);
                    assertThat(softGradient(b, p, h)).as("b %s, p %s, h %s", b, p, h).isCloseTo(numeric, within(1e-8));
                }
            }
        }
    }

    @Test
    void drawingTheLabelWithPChosenGivesTheSoftLabelGradientInExpectation() {
        long seed = 2024;
        for (double b : DPO_BETAS) {
            for (double p : new double[] {0.5, 0.62, 0.8, 0.97}) {
                DpoPair written = pairWith(p);
                assertThat(written.pChosen()).isCloseTo(p, within(1e-12));
                for (double h : margins(b)) {
                    Mean m = meanHardGradient(b, written, h, written::drawn, seed++);
                    // 4 standard errors: a correct draw fails this by chance about once in 16,000 cases; the seed is fixed
                    assertThat(m.value()).as("b %s, p %s, h %s", b, p, h)
                            .isCloseTo(softGradient(b, written.pChosen(), h), within(4 * m.standardError()));
                }
            }
        }
    }

    @Test
    void theCheckCatchesLabelsDrawnTheWrongWayRound() {
        long seed = 99;
        for (double b : DPO_BETAS) {
            for (double p : new double[] {0.62, 0.8, 0.97}) {
                DpoPair written = pairWith(p);
                for (double h : margins(b)) {
                    // chosen kept with probability 1 − p instead of p
                    Mean m = meanHardGradient(b, written, h, rng -> rng.nextDouble() < 1 - written.pChosen() ? written : written.swapped(),
                            seed++);
                    assertThat(Math.abs(m.value() - softGradient(b, written.pChosen(), h))).as("b %s, p %s, h %s", b, p, h)
                            .isGreaterThan(4 * m.standardError());
                }
            }
        }
    }
}
