package dev.dualign.world.bootstrap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import dev.dualign.model.registry.Manifest;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.HeadScorer;
import dev.dualign.model.scorer.LengthBuckets;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.model.scorer.ScorerSet;
import dev.dualign.model.scorer.ScorerSetTest;
import dev.dualign.world.testing.TestModels;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The minilm scorers on the real all-MiniLM-L6-v2 file from the Maven jar: published with their
 * encoder, opened the normal way (one encoder for three heads), agreeing with the oracle, and
 * scoring the same bits for a response in any company, whatever bucket its neighbours are in.
 */
class MinilmScorersTest {
    @Test
    void theHeadsShareOneEncoderAndScoreAResponseTheSameInAnyCompany(@TempDir Path tmp) throws Exception {
        TestModels.copyTree(TestModels.registry(), tmp.resolve("reg"));
        ModelRegistry registry = new ModelRegistry(tmp.resolve("reg"));
        long t0 = System.nanoTime();
        MinilmScorers.Result r = MinilmScorers.run(registry, 7, ModelSize.TINY, Device.cpu(), false, Progress.NONE);
        System.out.printf("minilm tiny bootstrap: %.1f s%n", (System.nanoTime() - t0) / 1e9);
        assertThat(r.reused()).isFalse();
        for (String n : Bootstrap.SCORERS) {
            Manifest m = r.manifests().get(n);
            System.out.printf("%s: pearson %.3f (tiny word model %.3f)%n", n, m.metrics().get("pearson"),
                    registry.manifest(n, 0).metrics().get("pearson"));
            assertThat(m.version()).isEqualTo(1);
            // 1,500 training pairs at the tiny size: the heads learn the oracle only roughly (docs/benchmarks.md has the small size's r)
            assertThat(m.metrics().get("pearson")).as(n).isGreaterThan(0.2);
        }
        assertThat(MinilmScorers.run(registry, 7, ModelSize.TINY, Device.cpu(), false, Progress.NONE).reused()).isTrue();

        Map<String, Long> pinned = ScorerSet.pin(registry, List.of("harmless", "humour"));
        assertThat(pinned).containsEntry(MinilmScorers.ENCODER, r.manifests().get(MinilmScorers.ENCODER).version())
                .doesNotContainKey("tokenizer");
        try (ScorerSet s = ScorerSet.open(registry, List.of("harmless", "humour"), Device.cpu(), pinned)) {
            assertThat(s.scorers().values()).allMatch(x -> x instanceof HeadScorer);
            HeadScorer h = (HeadScorer) s.scorers().get("harmless");
            assertThat(((HeadScorer) s.scorers().get("reward")).encoder()).isSameAs(h.encoder());

            List<Scorer.PromptResponse> pairs = new java.util.ArrayList<>(ScorerSetTest.pairs(60));
            // long responses too, so that company spans several buckets
            for (int i = 0; i < 12; i++) {
                Scorer.PromptResponse p = pairs.get(i);
                pairs.add(new Scorer.PromptResponse(p.prompt(), (p.response() + " ").repeat(2 + i)));
            }
            double[] inOrder = s.score(pairs, 16).get("harmless");
            for (long seed = 1; seed <= 2; seed++) {
                double[] shuffled = ScorerSetTest.inRandomCompany(s, pairs, 16, seed);
                for (int i = 0; i < pairs.size(); i++) {
                    assertThat(Double.doubleToLongBits(shuffled[i])).as("row %d, seed %d", i, seed)
                            .isEqualTo(Double.doubleToLongBits(inOrder[i]));
                }
            }
            // padded to the maximum length is not the same model for a dynamically quantized encoder: the pad
            // positions enter each call's activation range (decision 31), so only finiteness is checked here;
            // bucket against maximum within rounding is checked on the float fixture (OnnxScorerTest)
            double[] padded = s.score(pairs, 16, false).get("harmless");
            double worst = 0;
            for (int i = 0; i < pairs.size(); i++) {
                assertThat(padded[i]).isFinite();
                worst = Math.max(worst, Math.abs(padded[i] - inOrder[i]));
            }
            System.out.printf("bucket vs padded to the maximum: worst |Δ| %.3g%n", worst);
            long t1 = System.nanoTime();
            s.score(pairs, 64, true);
            long t2 = System.nanoTime();
            s.score(pairs, 64, false);
            long t3 = System.nanoTime();
            System.out.printf("%d pairs: buckets %.0f ms, padded to %d %.0f ms (buckets %s)%n", pairs.size(), (t2 - t1) / 1e6,
                    h.encoder().spec().maxLength(), (t3 - t2) / 1e6, LengthBuckets.LENGTHS);
        }
    }
}
