package dev.dualign.streaming.ops;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import dev.dualign.core.event.DeadLetter;
import dev.dualign.core.event.Events;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.TrainedScorer;
import dev.dualign.model.text.WordTokenizer;
import dev.dualign.streaming.JobSettings;
import dev.dualign.world.World;
import dev.dualign.world.bootstrap.Bootstrap;
import dev.dualign.world.testing.TestModels;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The batching scorer with the real tiny DJL models. */
class ScoreBatchOperatorTest {
    static Path registry;

    @BeforeAll
    static void models() {
        registry = TestModels.registry();
    }

    static OneInputStreamOperatorTestHarness<ResponseEvent, ScoredSample> harness(JobSettings s) throws Exception {
        return new OneInputStreamOperatorTestHarness<>(new ScoreBatchOperator(s, "dualign.responses"));
    }

    static JobSettings settings(Path reg, int batch, long waitMs) {
        return Settings.of(Map.of("scoring.registry", reg.toString(), "scoring.batch-size", batch,
                "scoring.max-wait-ms", waitMs, "scoring.device", "cpu"));
    }

    static List<ResponseEvent> responses(int n) {
        SplittableRandom rnd = new SplittableRandom(3);
        return java.util.stream.IntStream.range(0, n).mapToObj(i -> {
            World.Prompt p = World.prompt(rnd);
            return new ResponseEvent("r" + i, "p" + i, p.text(), World.referenceResponse(p.intent(), rnd), 1, -5.0, -5.0, "policy", i);
        }).toList();
    }

    @Test
    void scoresInBatchesOnSizeOrOnTheTimer() throws Exception {
        var h = harness(settings(registry, 4, 1000));
        h.open();
        for (ResponseEvent e : responses(6)) {
            h.processElement(new StreamRecord<>(e));
        }
        assertThat(h.extractOutputValues()).hasSize(4); // one full batch
        h.setProcessingTime(2000);                       // the timer scores the rest
        List<ScoredSample> out = h.extractOutputValues();
        assertThat(out).extracting(ScoredSample::id).containsExactly("r0", "r1", "r2", "r3", "r4", "r5");
        assertThat(out).allSatisfy(x -> {
            assertThat(x.utilities()).containsKey("harmless");
            assertThat(Double.isFinite(x.reward())).isTrue();
            assertThat(x.policyVersion()).isEqualTo(1);
        });
        h.close();
    }

    @Test
    void theEndOfABoundedInputScoresThePendingBatch() throws Exception {
        var h = harness(settings(registry, 100, 60_000));
        h.open();
        for (ResponseEvent e : responses(7)) {
            h.processElement(new StreamRecord<>(e));
        }
        assertThat(h.extractOutputValues()).isEmpty(); // no batch full, no timer due
        h.endInput();
        assertThat(h.extractOutputValues()).extracting(ScoredSample::id).containsExactly("r0", "r1", "r2", "r3", "r4", "r5", "r6");
        h.close();
    }

    @Test
    void aPendingBatchSurvivesASnapshotAndRestore() throws Exception {
        JobSettings s = settings(registry, 5, 60_000);
        var h = harness(s);
        h.open();
        List<ResponseEvent> in = responses(8);
        for (ResponseEvent e : in.subList(0, 3)) {
            h.processElement(new StreamRecord<>(e));
        }
        OperatorSubtaskState snapshot = h.snapshot(1, 10);
        h.close(); // a failure: the three pending responses exist only in the snapshot

        var restored = harness(s);
        restored.initializeState(snapshot);
        restored.open();
        for (ResponseEvent e : in.subList(3, 5)) {
            restored.processElement(new StreamRecord<>(e));
        }
        assertThat(restored.extractOutputValues()).extracting(ScoredSample::id).containsExactly("r0", "r1", "r2", "r3", "r4");
        restored.close();
    }

    @Test
    void aScorerThatReturnsNaNSendsTheRecordsToTheDeadLetterOutput(@TempDir Path dir) throws Exception {
        // a registry whose latest harmless scorer has NaN weights: real DJL, a non-finite score
        Path copy = dir.resolve("registry");
        TestModels.copyTree(registry, copy);
        ModelRegistry reg = new ModelRegistry(copy);
        try (WordTokenizer tok = WordTokenizer.load(reg.open(ModelNames.TOKENIZER, 0).resolve("tokenizer.json"));
                TrainedScorer broken = TrainedScorer.load(reg.open("harmless", 0), tok, Device.cpu())) {
            broken.model().getBlock().getParameters().values().forEach(p -> p.getArray().muli(Float.NaN));
            reg.publish("harmless", 1L, 0L, Map.of(), Map.of(), Map.of(), broken::save);
        }
        var h = harness(settings(copy, 3, 1000));
        h.open();
        List<ResponseEvent> in = responses(3);
        for (ResponseEvent e : in) {
            h.processElement(new StreamRecord<>(e));
        }
        assertThat(h.extractOutputValues()).isEmpty();
        List<DeadLetter> dead = h.getSideOutput(ScoreBatchOperator.DEAD_LETTERS).stream().map(StreamRecord::getValue).toList();
        assertThat(dead).hasSize(3).allSatisfy(d -> {
            assertThat(d.error()).contains("non-finite harmless score");
            assertThat(d.sourceTopic()).isEqualTo("dualign.responses");
        });
        // the original response is kept, byte for byte
        assertThat(dead.stream().map(d -> Events.parse(ResponseEvent.class, d.rawBytes())).toList()).isEqualTo(in);
        h.close();
    }

    @Test
    void aResponseTooLongToScoreIsDeadLetteredAndTheOthersAreScored() throws Exception {
        var h = harness(Settings.of(Map.of("scoring.registry", registry.toString(), "scoring.batch-size", 2,
                "scoring.max-wait-ms", 1000L, "scoring.device", "cpu", "scoring.max-words", 4096)));
        h.open();
        List<ResponseEvent> in = responses(2);
        ResponseEvent huge = new ResponseEvent("huge", "p9", "tell me more", "word ".repeat(10_000), 1, -5.0, -5.0, "policy", 9);
        h.processElement(new StreamRecord<>(in.get(0)));
        h.processElement(new StreamRecord<>(huge));
        h.processElement(new StreamRecord<>(in.get(1)));
        assertThat(h.extractOutputValues()).extracting(ScoredSample::id).containsExactly("r0", "r1");
        List<DeadLetter> dead = h.getSideOutput(ScoreBatchOperator.DEAD_LETTERS).stream().map(StreamRecord::getValue).toList();
        assertThat(dead).singleElement().satisfies(d -> {
            assertThat(d.error()).contains("too long to score").contains("response 10000 words").contains("scoring.max-words 4096");
            assertThat(d.truncated()).isFalse(); // 50 KB: under the dead letter's 64 KiB bound, kept whole
            assertThat(Events.parse(ResponseEvent.class, d.rawBytes()).id()).isEqualTo("huge");
        });
        h.close();
    }
}
