package dev.dualign.streaming.ops;

import dev.dualign.core.event.VersionEstimate;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.dualign.core.event.Alert;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.streaming.JobSettings;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

class VersionEstimatorTest {
    static final JobSettings SETTINGS = Settings.of(Map.of("dual.estimate-every", 10));

    static KeyedOneInputStreamOperatorTestHarness<Long, List<EstimatorSample>, VersionEstimate> harness() throws Exception {
        var h = new KeyedOneInputStreamOperatorTestHarness<>(new KeyedProcessOperator<>(new VersionEstimator(SETTINGS)),
                VersionEstimator::versionOf, Types.LONG);
        h.setStateBackend(new EmbeddedRocksDBStateBackend());
        return h;
    }

    /** One sample as its own group: the single-key estimator, one record per sample. */
    static StreamRecord<List<EstimatorSample>> one(EstimatorSample s) {
        return new StreamRecord<>(List.of(s));
    }

    static EstimatorSample sample(long version, double reward, double harmless, double logprob, double ref) {
        return EstimatorSample.of(new ScoredSample("r", "p", "q", "a", version, logprob, ref, "policy", 0L, reward,
                Map.of("harmless", harmless)), SETTINGS.names());
    }

    @Test
    void estimatesEachVersionApartWithRewardAndKl() throws Exception {
        var h = harness();
        h.open();
        for (int i = 0; i < 10; i++) {
            h.processElement(one(sample(1, i, i % 2 == 0 ? 0.2 : 0.8, -3.0, -3.5)));
            h.processElement(one(sample(2, 0, 0.9, -2.0, -2.0)));
        }
        List<VersionEstimate> out = h.extractOutputValues();
        assertThat(out).hasSize(2);
        VersionEstimate v1 = out.stream().filter(e -> e.policyVersion() == 1).findFirst().orElseThrow();
        assertThat(v1.n()).isEqualTo(10);
        assertThat(v1.estimates().get("harmless").mean()).isCloseTo(0.5, within(1e-12));
        assertThat(v1.estimates().get("reward").mean()).isCloseTo(4.5, within(1e-12));
        assertThat(v1.estimates().get("kl").mean()).isCloseTo(0.5, within(1e-12));
        assertThat(v1.estimates().get("harmless").lo()).isLessThan(0.5);
        // the decision bounds: anytime-valid, so wider than the fixed-n interval, for constraints and the reward
        assertThat(v1.bounds()).containsOnlyKeys("harmless", "reward");
        // the reward's sequence clips into [dual.reward-range-lo, -hi] = [-1, 1]: rewards 0, 1, …, 9 count as 0, 1, …, 1
        assertThat(v1.bounds().get("reward").mean()).isCloseTo(0.9, within(1e-12));
        assertThat(v1.bounds().get("reward").lo()).isGreaterThanOrEqualTo(-1.0);
        assertThat(v1.bounds().get("reward").hi()).isLessThanOrEqualTo(1.0);
        assertThat(v1.bounds().get("harmless").mean()).isCloseTo(0.5, within(1e-12));
        assertThat(v1.bounds().get("harmless").lo()).isLessThan(v1.estimates().get("harmless").lo());
        assertThat(v1.bounds().get("harmless").hi()).isGreaterThan(v1.estimates().get("harmless").hi());
        VersionEstimate v2 = out.stream().filter(e -> e.policyVersion() == 2).findFirst().orElseThrow();
        assertThat(v2.estimates().get("harmless").mean()).isCloseTo(0.9, within(1e-12));
        h.close();
    }

    @Test
    void aVersionWithoutLogProbabilitiesHasNoKlEstimateRatherThanZero() throws Exception {
        var h = harness();
        h.open();
        for (int i = 0; i < 10; i++) {
            // an external chatbot's answers, logged by a gateway: no log π_ref
            h.processElement(one(EstimatorSample.of(new ScoredSample("r" + i, "p", "q", "a", 7L, -2.0, null, "policy", 0L, 0.3,
                    Map.of("harmless", 0.6)), SETTINGS.names())));
        }
        VersionEstimate v7 = h.extractOutputValues().get(0);
        assertThat(v7.n()).isEqualTo(10);
        assertThat(v7.estimates()).containsKeys("reward", "harmless").doesNotContainKey("kl");
        h.close();
    }

    @Test
    void alertsOncePerViolationAndAgainOnlyAfterRecovery() throws Exception {
        var h = harness();
        h.open();
        for (int i = 0; i < 300; i++) {
            h.processElement(one(sample(4, 0, i % 2 == 0 ? 0.1 : 0.2, -1, -1))); // clearly below 0.5
        }
        List<Alert> alerts = h.getSideOutput(VersionEstimator.ALERTS).stream().map(StreamRecord::getValue).toList();
        List<VersionEstimate> estimates = h.extractOutputValues();
        assertThat(alerts).singleElement().satisfies(a -> {
            assertThat(a.policyVersion()).isEqualTo(4);
            assertThat(a.constraint()).isEqualTo("harmless");
            assertThat(a.estimate().hi()).isLessThan(0.5);
            assertThat(a.margin()).isEqualTo(0.5);
            // it alerted on the anytime-valid bound (looked at on every estimate), not the fixed-n interval,
            // which was below the margin at an earlier look already
            VersionEstimate at = estimates.stream().filter(e -> e.n() == a.estimate().n()).findFirst().orElseThrow();
            assertThat(a.estimate()).isEqualTo(at.bounds().get("harmless")).isNotEqualTo(at.estimates().get("harmless"));
            assertThat(estimates.get(0).estimates().get("harmless").hi()).isLessThan(0.5);
            assertThat(estimates.get(0).bounds().get("harmless").hi()).isGreaterThanOrEqualTo(0.5);
        });
        for (int i = 0; i < 600; i++) {
            h.processElement(one(sample(4, 0, 0.9, -1, -1))); // recovers: the bound's upper end passes 0.5
        }
        for (int i = 0; i < 2000; i++) {
            h.processElement(one(sample(4, 0, 0.0, -1, -1))); // violates again
        }
        assertThat(h.getSideOutput(VersionEstimator.ALERTS)).hasSize(2);
        h.close();
    }

    @Test
    void theAnytimeValidIntervalClipsScoresOutsideTheRangeSoItCoversTheClippedMean() throws Exception {
        // unbounded scorer heads: half the scores at 3.0 (outside [-1, 1]), half at -0.5. The bound is
        // about E[clip(g)] = (1 − 0.5)/2 = 0.25; clamping only the mean (the old way) centred it on 1.0
        JobSettings s = Settings.of(Map.of("dual.estimate-every", 1000, "dual.interval", "bernstein"));
        var h = new KeyedOneInputStreamOperatorTestHarness<>(new KeyedProcessOperator<>(new VersionEstimator(s)),
                VersionEstimator::versionOf, Types.LONG);
        h.setStateBackend(new EmbeddedRocksDBStateBackend());
        h.open();
        for (int i = 0; i < 1000; i++) {
            h.processElement(one(EstimatorSample.of(new ScoredSample("r", "p", "q", "a", 5L, -1.0, -1.0, "policy",
                    0L, 0.0, Map.of("harmless", i % 2 == 0 ? 3.0 : -0.5)), s.names())));
        }
        var e = h.extractOutputValues().get(0).estimates().get("harmless");
        assertThat(e.mean()).isCloseTo(0.25, within(1e-12));
        assertThat(e.lo()).isLessThan(0.25);
        assertThat(e.hi()).isGreaterThan(0.25).isLessThanOrEqualTo(1.0);
        h.close();
    }

    /** 15 samples of version 7 with harmlessness 0.4, then a snapshot. */
    static OperatorSubtaskState snapshotAfter15SamplesOfVersion7() throws Exception {
        var h = harness();
        h.open();
        for (int i = 0; i < 15; i++) {
            h.processElement(one(sample(7, 1, 0.4, -1, -1)));
        }
        OperatorSubtaskState snap = h.snapshot(1, 10);
        h.close();
        return snap;
    }

    @Test
    void countsAndMeansSurviveASnapshotAndRestoreOnRocksDb() throws Exception {
        OperatorSubtaskState snap = snapshotAfter15SamplesOfVersion7();
        var r = harness();
        r.initializeState(snap);
        r.open();
        for (int i = 0; i < 5; i++) {
            r.processElement(one(sample(7, 1, 0.6, -1, -1)));
        }
        VersionEstimate e = r.extractOutputValues().get(0);
        assertThat(e.n()).isEqualTo(20);
        assertThat(e.estimates().get("harmless").mean()).isCloseTo((15 * 0.4 + 5 * 0.6) / 20, within(1e-12));
        r.close();
    }

    @Test
    void aChangedConstraintListStartsTheEstimatesAfreshInsteadOfMixingThem() throws Exception {
        OperatorSubtaskState snap = snapshotAfter15SamplesOfVersion7();

        JobSettings after = Settings.of(Map.of("dual.estimate-every", 10, "constraints.aaa-humour", 0.2, "constraints.harmless", 0.5));
        assertThat(after.names()).containsExactly("aaa-humour", "harmless");
        var r = new KeyedOneInputStreamOperatorTestHarness<>(new KeyedProcessOperator<>(new VersionEstimator(after)),
                VersionEstimator::versionOf, Types.LONG);
        r.setStateBackend(new EmbeddedRocksDBStateBackend());
        r.initializeState(snap);
        r.open();
        for (int i = 0; i < 10; i++) {
            r.processElement(one(EstimatorSample.of(new ScoredSample("r", "p", "q", "a", 7L, -1.0, -1.0,
                    "policy", 0L, 1.0, Map.of("harmless", 0.9, "aaa-humour", 0.1)), after.names())));
        }
        VersionEstimate e = r.extractOutputValues().get(0);
        assertThat(e.n()).isEqualTo(10);
        assertThat(e.estimates().get("harmless").mean()).isCloseTo(0.9, within(1e-12));
        assertThat(e.estimates().get("aaa-humour").mean()).isCloseTo(0.1, within(1e-12));
        r.close();
    }
}
