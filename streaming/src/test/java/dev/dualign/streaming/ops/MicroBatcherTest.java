package dev.dualign.streaming.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.event.VersionEstimate;
import dev.dualign.streaming.JobSettings;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/** The first phase of two-phase estimation, and the merged estimate against the single-key one. */
class MicroBatcherTest {
    static OneInputStreamOperatorTestHarness<String, List<String>> harness(int size, long waitMs) throws Exception {
        var h = new OneInputStreamOperatorTestHarness<>(new MicroBatcher<String>(s -> s.substring(0, 1), size, waitMs));
        h.open();
        return h;
    }

    @Test
    void groupsByKeyAndEmitsAGroupWhenFull() throws Exception {
        var h = harness(3, 1000);
        for (String s : List.of("a1", "b1", "a2", "a3", "b2")) {
            h.processElement(new StreamRecord<>(s));
        }
        assertThat(h.extractOutputValues()).containsExactly(List.of("a1", "a2", "a3"));
        h.setProcessingTime(1000); // the wait: what is pending goes, whatever its size
        assertThat(h.extractOutputValues()).containsExactly(List.of("a1", "a2", "a3"), List.of("b1", "b2"));
        h.close();
    }

    @Test
    void nothingIsHeldAcrossACheckpointOrTheEndOfInput() throws Exception {
        var h = harness(100, 60_000);
        h.processElement(new StreamRecord<>("a1"));
        h.processElement(new StreamRecord<>("b1"));
        h.prepareSnapshotPreBarrier(1); // before the barrier: the snapshot then holds no partial group
        var snapshot = h.snapshot(1, 1);
        assertThat(h.extractOutputValues()).containsExactly(List.of("a1"), List.of("b1"));
        h.processElement(new StreamRecord<>("a2"));
        h.close();

        // restored from that snapshot: nothing of a1/b1 comes again, and a2 (after the checkpoint) is the replay's
        var r = new OneInputStreamOperatorTestHarness<>(new MicroBatcher<String>(s -> s.substring(0, 1), 100, 60_000));
        r.initializeState(snapshot);
        r.open();
        r.processElement(new StreamRecord<>("a2"));
        r.endInput();
        assertThat(r.extractOutputValues()).containsExactly(List.of("a2"));
        r.close();
    }

    static final JobSettings SETTINGS = Settings.of(Map.of("dual.estimate-every", 10));

    static KeyedOneInputStreamOperatorTestHarness<Long, List<EstimatorSample>, VersionEstimate> estimator() throws Exception {
        var h = new KeyedOneInputStreamOperatorTestHarness<>(new KeyedProcessOperator<>(new VersionEstimator(SETTINGS)),
                VersionEstimator::versionOf, Types.LONG);
        h.setStateBackend(new EmbeddedRocksDBStateBackend());
        h.open();
        return h;
    }

    static OneInputStreamOperatorTestHarness<EstimatorSample, List<EstimatorSample>> partial() throws Exception {
        var h = new OneInputStreamOperatorTestHarness<>(new MicroBatcher<EstimatorSample>(EstimatorSample::version, 7, 60_000));
        h.open();
        return h;
    }

    static List<EstimatorSample> samples(int n) {
        SplittableRandom r = new SplittableRandom(5);
        List<EstimatorSample> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long version = i % 5 == 0 ? 2 : 1; // version 1 the hot key
            double lp = -1 - 3 * r.nextDouble();
            out.add(EstimatorSample.of(new ScoredSample("r" + i, "p" + i % 40, "q", "a", version, lp, lp - 0.2 * r.nextDouble(),
                    "policy", 0L, r.nextGaussian(), Map.of("harmless", 0.4 + 0.5 * r.nextGaussian())), SETTINGS.names()));
        }
        return out;
    }

    /** Moves what the partial emitted so far into the estimator, in emission order. */
    static void drain(OneInputStreamOperatorTestHarness<EstimatorSample, List<EstimatorSample>> p,
            KeyedOneInputStreamOperatorTestHarness<Long, List<EstimatorSample>, VersionEstimate> e, int[] taken) throws Exception {
        List<List<EstimatorSample>> out = p.extractOutputValues();
        for (int i = taken[0]; i < out.size(); i++) {
            e.processElement(new StreamRecord<>(out.get(i)));
        }
        taken[0] = out.size();
    }

    static List<VersionEstimate> of(List<VersionEstimate> all, long version) {
        return all.stream().filter(x -> x.policyVersion() == version).toList();
    }

    static VersionEstimate last(List<VersionEstimate> all, long version) {
        return all.stream().filter(x -> x.policyVersion() == version).reduce((a, b) -> b).orElseThrow();
    }

    @Test
    void theMergedEstimateIsTheSingleKeyEstimateOnTheSameSamples() throws Exception {
        List<EstimatorSample> in = samples(1000);
        var single = estimator();
        for (EstimatorSample s : in) {
            single.processElement(new StreamRecord<>(List.of(s)));
        }
        List<VersionEstimate> expected = single.extractOutputValues();

        // one upstream subtask: its groups keep each version's samples in order, so every estimate is
        // the single-key one, bit for bit (the confidence sequence is sequential, and sees the same sequence)
        var p = partial();
        var merged = estimator();
        int[] taken = {0};
        for (EstimatorSample s : in) {
            p.processElement(new StreamRecord<>(s));
            drain(p, merged, taken);
        }
        p.endInput();
        drain(p, merged, taken);
        for (long version : new long[] {1, 2}) {
            assertThat(of(merged.extractOutputValues(), version)).isEqualTo(of(expected, version)).hasSize(version == 1 ? 80 : 20);
        }

        // two upstream subtasks (prompts split between them, as Kafka partitions are): each version's
        // samples reach the merge in another order; the same samples give the same n, means and
        // variances (to rounding), hence the same fixed-n intervals
        var p0 = partial();
        var p1 = partial();
        var twoPhase = estimator();
        int[] t0 = {0};
        int[] t1 = {0};
        for (int i = 0; i < in.size(); i++) {
            var target = (i % 40) % 2 == 0 ? p0 : p1; // by prompt (p0..p39), as a Kafka partitioner would
            target.processElement(new StreamRecord<>(in.get(i)));
            drain(p0, twoPhase, t0);
            drain(p1, twoPhase, t1);
        }
        p0.endInput();
        p1.endInput();
        drain(p0, twoPhase, t0);
        drain(p1, twoPhase, t1);
        for (long version : new long[] {1, 2}) {
            VersionEstimate a = last(expected, version);
            VersionEstimate b = last(twoPhase.extractOutputValues(), version);
            assertThat(b.n()).isEqualTo(a.n()).isEqualTo(version == 1 ? 800 : 200);
            for (String name : List.of("reward", "kl", "harmless")) {
                Estimate x = a.estimates().get(name);
                Estimate y = b.estimates().get(name);
                assertThat(y.mean()).isCloseTo(x.mean(), within(1e-12));
                assertThat(y.lo()).isCloseTo(x.lo(), within(1e-12));
                assertThat(y.hi()).isCloseTo(x.hi(), within(1e-12));
            }
        }
        // and fewer records for the keyed side: 1000 samples in groups of at most 7
        assertThat(t0[0] + t1[0]).isLessThan(1000 / 7 + 10);
    }
}
