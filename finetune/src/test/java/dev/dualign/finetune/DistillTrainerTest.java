package dev.dualign.finetune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import dev.dualign.core.dual.TiltWeights;
import dev.dualign.model.lm.LmConfig;
import dev.dualign.model.lm.PolicyLm;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Distillation on a tiny real model: the policy's odds between responses move to the target weights'. */
class DistillTrainerTest {
    static final LmConfig TINY = new LmConfig(24, 16, 2, 1, 16);
    static final int[] PROMPT = {5, 6};
    static final List<int[]> RESPONSES = List.of(new int[] {7, 8}, new int[] {9}, new int[] {10, 11, 12});

    @Test
    void theDistilledPolicysOddsMatchTheTiltedWeights() {
        // scores 0.3, 0.175, 0.106 at β = 0.1: softmax weights ≈ 0.70, 0.20, 0.10
        double[] w = TiltWeights.fromReference(new double[] {0.3, 0.175, 0.106}, 0.1);
        double[] odds = trainedLogOdds(w);
        System.out.printf("weights %.3f %.3f %.3f; log odds A:B %.3f (target %.3f), A:C %.3f (target %.3f)%n", w[0], w[1], w[2],
                odds[0], Math.log(w[0] / w[1]), odds[1], Math.log(w[0] / w[2]));
        assertThat(odds[0]).isCloseTo(Math.log(w[0] / w[1]), within(0.4));
        assertThat(odds[1]).isCloseTo(Math.log(w[0] / w[2]), within(0.4));
    }

    @Test
    void reversedWeightsReverseTheOdds() {
        double[] w = TiltWeights.fromReference(new double[] {0.106, 0.175, 0.3}, 0.1);
        double[] odds = trainedLogOdds(w);
        assertThat(odds[1]).isCloseTo(Math.log(w[0] / w[2]), within(0.4)); // A far below C now
        assertThat(odds[1]).isLessThan(-1.5);
    }

    @Test
    void aPolicyRestoredToKeptWeightsTrainsAgain() {
        // early stopping restores the best weights; a policy trained in rounds is then trained again
        double[] w = TiltWeights.fromReference(new double[] {0.3, 0.175, 0.106}, 0.1);
        try (PolicyLm reference = PolicyLm.create(TINY, Device.cpu(), 3); PolicyLm policy = PolicyLm.create(TINY, Device.cpu(), 3)) {
            List<DistillTrainer.Example> train = DistillTrainer.group(0, PROMPT, RESPONSES, w, 1e-3);
            List<DistillTrainer.Example> held = DistillTrainer.group(1, PROMPT, RESPONSES, w, 1e-3);
            DistillTrainer.restore(policy, DistillTrainer.snapshot(policy.model().getBlock()));
            double before = DistillTrainer.heldOutLoss(policy, held);
            DistillTrainer.Result r = DistillTrainer.train(policy, reference, train, held,
                    new DistillTrainer.Options(20, 3, 5e-3f, 1, 20, 50, 1, 6, 1), s -> { });
            assertThat(r.heldOutLoss()).isLessThan(before - 0.5);
        }
    }

    /** Trains from a fresh tiny model on the three responses with weights w; returns log π(A)/π(B) and log π(A)/π(C). */
    private static double[] trainedLogOdds(double[] w) {
        try (PolicyLm reference = PolicyLm.create(TINY, Device.cpu(), 3); PolicyLm policy = PolicyLm.create(TINY, Device.cpu(), 3)) {
            List<DistillTrainer.Example> train = new ArrayList<>();
            for (int g = 0; g < 8; g++) {
                train.addAll(DistillTrainer.group(g, PROMPT, RESPONSES, w, 1e-3));
            }
            List<DistillTrainer.Example> held = DistillTrainer.group(100, PROMPT, RESPONSES, w, 1e-3);
            double before = DistillTrainer.heldOutLoss(policy, held);
            DistillTrainer.Result r = DistillTrainer.train(policy, reference, train, held,
                    new DistillTrainer.Options(80, 8, 5e-3f, 1, 6, 50, 4, 6, 1), s -> { });
            // the held-out loss fell, to the cross-entropy floor H(w) give or take, and the kept weights are the reported ones
            double entropy = 0;
            for (double x : w) {
                entropy -= x * Math.log(x);
            }
            assertThat(r.heldOutBefore()).isCloseTo(before, within(1e-4));
            assertThat(r.heldOutLoss()).isLessThan(before - 3).isLessThan(entropy + 0.3);
            assertThat(DistillTrainer.heldOutLoss(policy, held)).isCloseTo(r.heldOutLoss(), within(1e-4));
            assertThat(r.klCurve()).hasSize(r.checks() + 1);
            assertThat(r.kl()).isPositive(); // it moved away from the reference it started equal to
            double[] lp = policy.logProbs(List.of(PROMPT, PROMPT, PROMPT), RESPONSES);
            return new double[] {lp[0] - lp[1], lp[0] - lp[2]};
        }
    }
}
