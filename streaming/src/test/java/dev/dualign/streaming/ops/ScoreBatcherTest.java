package dev.dualign.streaming.ops;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import dev.dualign.core.event.DeadLetter;
import dev.dualign.core.event.Events;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.model.bootstrap.Bootstrap;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.TrainedScorer;
import dev.dualign.model.testing.TestModels;
import dev.dualign.model.text.WordTokenizer;
import dev.dualign.model.world.World;
import dev.dualign.streaming.JobSettings;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The batching scorer with the real tiny DJL models. */
class ScoreBatcherTest {
    static Path registry;

    @BeforeAll
    static void models() {
        registry = TestModels.registry();
    }

    static KeyedOneInputStreamOperatorTestHarness<Integer, ResponseEvent, ScoredSample> harness(JobSettings s) throws Exception {
        var h = new KeyedOneInputStreamOperatorTestHarness<>(new ScoreBatchOperator(new ScoreBatcher(s, "dualign.responses")),
                (ResponseEvent e) -> 0, Types.INT);
        h.setStateBackend(new EmbeddedRocksDBStateBackend());
        return h;
    }

    static List<ResponseEvent> responses(int n) {
        SplittableRandom rnd = new SplittableRandom(3);
        return java.util.stream.IntStream.range(0, n).mapToObj(i -> {
            World.Prompt p = World.prompt(rnd);
            return new ResponseEvent("r" + i, "p" + i, p.text(), World.referenceResponse(p.intent(), rnd), 1, -5, -5, "policy", i);
        }).toList();
    }

    @Test
    void scoresInBatchesOnSizeOrOnTheTimer() throws Exception {
        JobSettings s = Settings.of(Map.of("scoring.registry", registry.toString(), "scoring.batch-size", 4,
                "scoring.max-wait-ms", 1000, "scoring.device", "cpu"));
        var h = harness(s);
        h.open();
        List<ResponseEvent> in = responses(6);
        for (ResponseEvent e : in) {
            h.processElement(new StreamRecord<>(e));
        }
        assertThat(h.extractOutputValues()).hasSize(4); // one full batch
        h.setProcessingTime(2000);                       // the timer flushes the rest
        List<ScoredSample> out = h.extractOutputValues();
        assertThat(out).hasSize(6);
        assertThat(out).extracting(ScoredSample::id).containsExactly("r0", "r1", "r2", "r3", "r4", "r5");
        assertThat(out).allSatisfy(x -> {
            assertThat(x.utilities()).containsKey("harmless");
            assertThat(Double.isFinite(x.reward())).isTrue();
            assertThat(x.policyVersion()).isEqualTo(1);
        });
        h.close();
    }

    @Test
    void theEndOfABoundedInputScoresEveryPendingBatch() throws Exception {
        JobSettings s = Settings.of(Map.of("scoring.registry", registry.toString(), "scoring.batch-size", 100,
                "scoring.max-wait-ms", 60_000, "scoring.device", "cpu"));
        var h = new KeyedOneInputStreamOperatorTestHarness<>(new ScoreBatchOperator(new ScoreBatcher(s, "dualign.responses")),
                (ResponseEvent e) -> Math.floorMod(e.promptId().hashCode(), 3), Types.INT);
        h.setStateBackend(new EmbeddedRocksDBStateBackend());
        h.open();
        for (ResponseEvent e : responses(7)) {
            h.processElement(new StreamRecord<>(e));
        }
        assertThat(h.extractOutputValues()).isEmpty(); // no batch full, no timer due
        h.endInput();
        assertThat(h.extractOutputValues()).extracting(ScoredSample::id)
                .containsExactlyInAnyOrder("r0", "r1", "r2", "r3", "r4", "r5", "r6");
        h.close();
    }

    @Test
    void aScorerThatReturnsNaNSendsTheRecordsToTheDeadLetterOutput(@TempDir Path dir) throws Exception {
        // a registry whose latest harmless scorer has NaN weights: real DJL, a non-finite score
        Path copy = dir.resolve("registry");
        TestModels.copyTree(registry, copy);
        ModelRegistry reg = new ModelRegistry(copy, 5);
        try (WordTokenizer tok = WordTokenizer.load(reg.open(Bootstrap.TOKENIZER, 0).resolve("tokenizer.json"));
                TrainedScorer broken = TrainedScorer.load(reg.open("harmless", 0), tok, Device.cpu())) {
            broken.model().getBlock().getParameters().values().forEach(p -> p.getArray().muli(Float.NaN));
            reg.publish("harmless", 1L, 0L, Map.of(), Map.of(), Map.of(), broken::save);
        }
        JobSettings s = Settings.of(Map.of("scoring.registry", copy.toString(), "scoring.batch-size", 3, "scoring.device", "cpu"));
        var h = harness(s);
        h.open();
        List<ResponseEvent> in = responses(3);
        for (ResponseEvent e : in) {
            h.processElement(new StreamRecord<>(e));
        }
        assertThat(h.extractOutputValues()).isEmpty();
        List<DeadLetter> dead = h.getSideOutput(ScoreBatcher.DEAD_LETTERS).stream().map(StreamRecord::getValue).toList();
        assertThat(dead).hasSize(3).allSatisfy(d -> {
            assertThat(d.error()).contains("non-finite harmless score");
            assertThat(d.sourceTopic()).isEqualTo("dualign.responses");
        });
        // the original response is kept, byte for byte
        assertThat(dead.stream().map(d -> Events.parse(ResponseEvent.class, d.rawBytes())).toList()).isEqualTo(in);
        h.close();
    }
}
