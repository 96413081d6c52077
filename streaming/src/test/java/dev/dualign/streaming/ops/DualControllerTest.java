package dev.dualign.streaming.ops;

import static dev.dualign.core.control.TwoResponseWorld.B;
import static dev.dualign.core.control.TwoResponseWorld.BETA;
import static dev.dualign.core.control.TwoResponseWorld.G1;
import static dev.dualign.core.control.TwoResponseWorld.G2;
import static dev.dualign.core.control.TwoResponseWorld.R1;
import static dev.dualign.core.control.TwoResponseWorld.R2;
import static dev.dualign.core.control.TwoResponseWorld.expectedG;
import static dev.dualign.core.control.TwoResponseWorld.lambdaStar;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.dualign.core.dual.DualMode;
import dev.dualign.core.dual.StepKind;
import dev.dualign.core.event.Alert;
import dev.dualign.core.event.DualUpdate;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.FineTuneRequest;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.event.VersionEstimate;
import dev.dualign.streaming.JobSettings;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/** The controller's Flink shell on RocksDB state, on {@link TwoResponseWorld} (its rules are tested in core). */
class DualControllerTest {
    static KeyedOneInputStreamOperatorTestHarness<String, ControllerInput, DualUpdate> harness(JobSettings s) throws Exception {
        var h = new KeyedOneInputStreamOperatorTestHarness<>(new KeyedProcessOperator<>(new DualController(s, "dualign.scored")),
                x -> "default", Types.STRING);
        h.setStateBackend(new EmbeddedRocksDBStateBackend());
        return h;
    }

    static JobSettings settings(String mode, Map<String, Object> more) {
        // no headroom: the closed forms below are for λ aimed at the margin itself (headroom: ControlPolicyTest);
        // the subgradient step, whose λ after each step they compute (the Newton step: ControlPolicyTest, NewtonStepTest)
        Map<String, Object> m = new java.util.HashMap<>(Map.of("dual.mode", mode, "dual.beta", BETA, "dual.eta", 0.5, "dual.eta-schedule", "constant",
                "dual.n-min", 100, "dual.epsilon", 0.05, "dual.one-shot.prompts", 20, "dual.one-shot.samples-per-prompt", 2,
                "dual.headroom", 0.0, "dual.step-rule", "subgradient"));
        m.putAll(more);
        return Settings.of(m);
    }

    /**
     * An iterative controller past λ(0): no reference samples come, so after
     * {@code dual.reference-timeout-ms} its timer sets λ(0) = {@code dual.lambda-init} (0) and asks
     * for the first fine-tune; that init update and request are cleared from the outputs.
     */
    static KeyedOneInputStreamOperatorTestHarness<String, ControllerInput, DualUpdate> started(JobSettings s) throws Exception {
        var h = harness(s);
        h.open();
        h.setProcessingTime(1);
        h.processElement(new StreamRecord<>(estimate(0, 0.3, 1000, 0.01))); // the reference's traffic: arms the wait
        assertThat(h.extractOutputValues()).isEmpty();
        h.setProcessingTime(1 + s.control().referenceTimeoutMs());
        assertThat(h.extractOutputValues()).singleElement().satisfies(u -> assertThat(u.kind()).isEqualTo(StepKind.INIT));
        h.getOutput().clear();
        h.getSideOutput(DualController.FINE_TUNE).clear();
        return h;
    }

    static ControllerInput estimate(long version, double mean, long n, double half) {
        return ControllerInput.of(new VersionEstimate(version, Map.of("harmless", new Estimate(mean, mean - half, mean + half, n)),
                Map.of("harmless", new Estimate(mean, mean - half, mean + half, n)), n));
    }

    static ScoredSample sample(String prompt, String source, long version, double r, double g) {
        return new ScoredSample(null, prompt, null, null, version, -1.0, -1.0, source, 0L, r, Map.of("harmless", g));
    }

    @Test
    void iterativeModeConvergesToTheClosedFormLambda() throws Exception {
        // dE/dλ at λ* is (g1 − g2)²·w(1 − w)/β ≈ 4: any η < 2/4 converges; 0.2 contracts by 0.2 per step
        var h = started(settings("iterative", Map.of("dual.eta", 0.2)));
        double lambda = 0;
        for (long v = 1; v <= 200; v++) {
            // version v was fine-tuned with the current λ: its true E[g] is the closed form
            h.processElement(new StreamRecord<>(estimate(v, expectedG(lambda), 1000, 0.01)));
            List<DualUpdate> out = h.extractOutputValues();
            lambda = out.get(out.size() - 1).lambda().get("harmless");
        }
        assertThat(lambda).isCloseTo(lambdaStar(), within(1e-9));
        assertThat(h.extractOutputValues()).hasSize(200);
        List<FineTuneRequest> requests = h.getSideOutput(DualController.FINE_TUNE).stream().map(StreamRecord::getValue).toList();
        assertThat(requests).hasSize(200);
        assertThat(requests.get(199).baseVersion()).isEqualTo(200);
        // what an outside trainer needs: the step, β, the margins and the estimate λ moved on
        FineTuneRequest last = requests.get(199);
        assertThat(last.step()).isEqualTo(DualMode.ITERATIVE);
        assertThat(last.beta()).isEqualTo(BETA);
        assertThat(last.margins()).containsExactly(Map.entry("harmless", 0.5));
        assertThat(last.estimates()).containsOnlyKeys("harmless");
        assertThat(last.estimates().get("harmless").n()).isEqualTo(1000);
        assertThat(last.stableVersion()).isNull(); // not the controller's to know
        assertThat(last.dataset()).isNull();
        h.close();
    }

    @Test
    void iterativeModeWaitsForATightEstimateAndIgnoresOlderVersions() throws Exception {
        var h = started(settings("iterative", Map.of()));
        h.processElement(new StreamRecord<>(estimate(3, 0.6, 50, 0.01)));   // too few samples
        h.processElement(new StreamRecord<>(estimate(3, 0.4, 500, 0.2)));   // too wide (and the margin inside)
        assertThat(h.extractOutputValues()).isEmpty();
        h.processElement(new StreamRecord<>(estimate(3, 0.2, 500, 0.01)));  // tight: λ = 0.5·(0.5 − 0.2)
        assertThat(h.extractOutputValues()).singleElement()
                .satisfies(u -> assertThat(u.lambda().get("harmless")).isCloseTo(0.15, within(1e-12)))
                .satisfies(u -> assertThat(u.policyVersion()).isEqualTo(3));
        h.processElement(new StreamRecord<>(estimate(3, 0.0, 900, 0.01)));  // same version again
        h.processElement(new StreamRecord<>(estimate(2, 0.0, 900, 0.01)));  // an older version
        assertThat(h.extractOutputValues()).hasSize(1);
        h.processElement(new StreamRecord<>(estimate(4, 0.9, 900, 0.01)));  // the next version: slack
        assertThat(h.extractOutputValues()).hasSize(2);
        assertThat(h.extractOutputValues().get(1).lambda().get("harmless")).isZero(); // clamped at 0
        h.close();
    }

    @Test
    void iterativeModeStepsEarlyOnAViolationShownWithConfidence() throws Exception {
        // a canary rolled back after a few dozen samples never reaches n_min: a violation shown with
        // confidence (upper bound below the margin) on ≥ estimate-every samples moves λ anyway
        var h = started(settings("iterative", Map.of()));
        h.processElement(new StreamRecord<>(estimate(3, 0.2, 10, 0.05)));   // below the margin, but only 10 samples
        assertThat(h.extractOutputValues()).isEmpty();
        h.processElement(new StreamRecord<>(estimate(3, 0.3, 40, 0.1)));    // hi = 0.4 < 0.5 on 40 samples: step
        assertThat(h.extractOutputValues()).singleElement()
                .satisfies(u -> assertThat(u.lambda().get("harmless")).isCloseTo(0.5 * (0.5 - 0.3), within(1e-12)));
        h.processElement(new StreamRecord<>(estimate(4, 0.9, 40, 0.1)));    // satisfied but not tight: wait
        assertThat(h.extractOutputValues()).hasSize(1);
        h.close();
    }

    @Test
    void oneShotModeSolvesTheDualExactlyFromReferenceSamples() throws Exception {
        var h = harness(settings("one-shot", Map.of()));
        h.open();
        for (int p = 0; p < 20; p++) {
            h.processElement(new StreamRecord<>(ControllerInput.of(sample("p" + p, "reference", 0, R1, G1))));
            assertThat(h.extractOutputValues()).isEmpty();
            h.processElement(new StreamRecord<>(ControllerInput.of(sample("p" + p, "reference", 0, R2, G2))));
        }
        assertThat(h.extractOutputValues()).singleElement().satisfies(u -> {
            assertThat(u.mode()).isEqualTo(DualMode.ONE_SHOT);
            assertThat(u.kind()).isEqualTo(StepKind.ONE_SHOT);
            assertThat(u.lambda().get("harmless")).isCloseTo(lambdaStar(), within(1e-9));
        });
        assertThat(h.getSideOutput(DualController.FINE_TUNE)).hasSize(1);
        // later estimates never move λ in one-shot mode
        h.processElement(new StreamRecord<>(estimate(1, 0.0, 1000, 0.01)));
        assertThat(h.extractOutputValues()).hasSize(1);
        h.close();
    }

    @Test
    void primalDualModeStepsEveryMiniBatchAndHoversAroundLambdaStar() throws Exception {
        var h = harness(settings("primal-dual", Map.of("dual.primal-dual.batch", 200, "dual.eta", 0.5)));
        h.open();
        Random rnd = new Random(1);
        double lambda = 0;
        for (int step = 0; step < 300; step++) {
            double w = 1 / (1 + Math.exp(-(R1 - R2 + lambda * (G1 - G2)) / BETA));
            for (int i = 0; i < 200; i++) {
                boolean first = rnd.nextDouble() < w;
                h.processElement(new StreamRecord<>(ControllerInput.of(sample("x", "policy", step, first ? R1 : R2, first ? G1 : G2))));
            }
            List<DualUpdate> out = h.extractOutputValues();
            lambda = out.get(out.size() - 1).lambda().get("harmless");
        }
        assertThat(h.extractOutputValues()).hasSize(300);
        assertThat(lambda).isCloseTo(lambdaStar(), within(0.1));
        h.close();
    }

    @Test
    void groupsOfSamplesGiveTheUpdatesOfOneSamplePerRecord() throws Exception {
        // the controller reads groups a MicroBatcher made: the same samples in the same order, the same λ path
        for (String mode : List.of("primal-dual", "one-shot")) {
            JobSettings s = settings(mode, Map.of("dual.primal-dual.batch", 50, "dual.eta", 0.5));
            Random rnd = new Random(3);
            List<ScoredSample> in = new java.util.ArrayList<>();
            for (int i = 0; i < 400; i++) {
                boolean first = rnd.nextBoolean();
                in.add(sample("p" + i / 2, mode.equals("one-shot") ? "reference" : "policy", 1, first ? R1 : R2, first ? G1 : G2));
            }
            var single = harness(s);
            single.open();
            for (ScoredSample x : in) {
                single.processElement(new StreamRecord<>(ControllerInput.of(x)));
            }
            var grouped = harness(s);
            grouped.open();
            for (int i = 0; i < in.size(); i += 64) {
                grouped.processElement(new StreamRecord<>(ControllerInput.of(in.subList(i, Math.min(in.size(), i + 64)))));
            }
            List<DualUpdate> expected = single.extractOutputValues();
            assertThat(expected).as(mode).isNotEmpty();
            assertThat(grouped.extractOutputValues()).as(mode).usingRecursiveFieldByFieldElementComparatorIgnoringFields("timestamp")
                    .isEqualTo(expected);
            single.close();
            grouped.close();
        }
    }

    @Test
    void anUnansweredFineTuneRequestIsResentByTheTimerThenAlerted() throws Exception {
        // the fine-tune of the init request is dead-lettered: no version ever comes
        JobSettings s = settings("iterative", Map.of("dual.request-timeout-ms", 5000, "dual.request-retries", 2));
        var h = started(s);
        long t = 1 + s.control().referenceTimeoutMs();
        for (int attempt = 1; attempt <= 2; attempt++) {
            t += 5000;
            h.setProcessingTime(t);
            assertThat(h.getSideOutput(DualController.FINE_TUNE)).as("re-send %d", attempt).hasSize(attempt);
        }
        FineTuneRequest resent = h.getSideOutput(DualController.FINE_TUNE).peek().getValue();
        assertThat(resent.step()).isEqualTo(DualMode.ITERATIVE);
        assertThat(resent.beta()).isEqualTo(BETA);
        assertThat(resent.margins()).containsExactly(Map.entry("harmless", 0.5));
        assertThat(resent.estimates()).as("the first request's evidence is not kept in the state").isNull();
        assertThat(h.getSideOutput(DualController.ALERTS)).isNull();
        h.setProcessingTime(t + 5000);
        assertThat(h.getSideOutput(DualController.ALERTS)).singleElement()
                .satisfies(a -> assertThat(a.getValue().kind()).isEqualTo(Alert.Kind.NO_VERSION));
        h.setProcessingTime(t + 60_000); // given up: no more re-sends until a version comes
        assertThat(h.getSideOutput(DualController.FINE_TUNE)).hasSize(2);
        assertThat(h.extractOutputValues()).isEmpty(); // λ itself never moved without evidence
        // a version finally arrives and is measured: λ moves again
        h.processElement(new StreamRecord<>(estimate(1, 0.2, 500, 0.01)));
        assertThat(h.extractOutputValues()).singleElement().satisfies(u -> assertThat(u.kind()).isEqualTo(StepKind.ITERATIVE));
        h.close();
    }

    @Test
    void theReferenceVersionNeverMovesLambdaInIterativeMode() throws Exception {
        var h = started(settings("iterative", Map.of()));
        h.processElement(new StreamRecord<>(estimate(0, 0.1, 5000, 0.01))); // tight and violated, but version 0
        assertThat(h.extractOutputValues()).isEmpty();
        h.close();
    }

    @Test
    void monitorModeNeverMovesLambda() throws Exception {
        var h = harness(settings("monitor", Map.of()));
        h.open();
        h.processElement(new StreamRecord<>(estimate(1, -0.9, 1000, 0.01)));
        h.processElement(new StreamRecord<>(ControllerInput.of(sample("p", "reference", 0, 1, 1))));
        assertThat(h.extractOutputValues()).isEmpty();
        assertThat(h.getSideOutput(DualController.FINE_TUNE)).isNull();
        h.close();
    }

    @Test
    void lambdaAndStepSurviveASnapshotAndRestoreOnRocksDb() throws Exception {
        JobSettings s = settings("iterative", Map.of());
        var h = started(s);
        h.processElement(new StreamRecord<>(estimate(1, 0.1, 500, 0.01)));
        h.processElement(new StreamRecord<>(estimate(2, 0.2, 500, 0.01)));
        double lambda = h.extractOutputValues().get(1).lambda().get("harmless");
        OperatorSubtaskState snapshot = h.snapshot(1, 100);
        h.close();

        var restored = harness(s);
        restored.initializeState(snapshot);
        restored.open();
        restored.processElement(new StreamRecord<>(estimate(2, 0.0, 900, 0.01))); // already stepped on v2: ignored
        assertThat(restored.extractOutputValues()).isEmpty();
        restored.processElement(new StreamRecord<>(estimate(3, 0.3, 500, 0.01)));
        DualUpdate u = restored.extractOutputValues().get(0);
        assertThat(u.step()).isEqualTo(3);
        assertThat(u.lambda().get("harmless")).isCloseTo(lambda + 0.5 * (0.5 - 0.3), within(1e-12));
        restored.close();
    }

    @Test
    void aChangedConstraintListCarriesLambdaOverByNameNotByPosition() throws Exception {
        JobSettings before = settings("iterative", Map.of());
        var h = started(before);
        h.processElement(new StreamRecord<>(estimate(1, 0.1, 500, 0.01)));
        double harmless = h.extractOutputValues().get(0).lambda().get("harmless");
        assertThat(harmless).isGreaterThan(0);
        OperatorSubtaskState snapshot = h.snapshot(1, 100);
        h.close();

        // a humour constraint added in front of harmless: λ must follow the name
        JobSettings after = settings("iterative", Map.of("constraints.aaa-humour", 0.2, "constraints.harmless", 0.5));
        assertThat(after.names()).containsExactly("aaa-humour", "harmless");
        var restored = harness(after);
        restored.initializeState(snapshot);
        restored.open();
        restored.processElement(new StreamRecord<>(ControllerInput.of(new VersionEstimate(2, Map.of(
                "harmless", new Estimate(0.3, 0.29, 0.31, 500), "aaa-humour", new Estimate(0.1, 0.09, 0.11, 500)), 500))));
        DualUpdate u = restored.extractOutputValues().get(0);
        assertThat(u.step()).isEqualTo(2);
        assertThat(u.lambda().get("harmless")).isCloseTo(harmless + 0.5 * (0.5 - 0.3), within(1e-12));
        assertThat(u.lambda().get("aaa-humour")).isCloseTo(0 + 0.5 * (0.2 - 0.1), within(1e-12));
        restored.close();
    }
}
