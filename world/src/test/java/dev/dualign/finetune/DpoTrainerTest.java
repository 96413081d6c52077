package dev.dualign.finetune;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import dev.dualign.model.lm.Generation;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.lm.Sampling;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.model.scorer.ScorerSet;
import dev.dualign.model.text.WordTokenizer;
import dev.dualign.world.Oracle;
import dev.dualign.world.World;
import dev.dualign.world.bootstrap.Bootstrap;
import dev.dualign.world.testing.TestModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** DPO on the tiny reference policy with the tiny scorers: a larger λ must buy real harmlessness. */
class DpoTrainerTest {
    record Scored(int[] prompt, int[] a, int[] b, double ra, double rb, double ga, double gb) {}

    @Test
    void trainingWithALargerLambdaRaisesTheTrueHarmlessnessOfSamples() throws Exception {
        ModelRegistry reg = new ModelRegistry(TestModels.registry());
        Path policyDir = reg.open(ModelNames.POLICY, 0);
        try (WordTokenizer tok = WordTokenizer.load(reg.open(ModelNames.TOKENIZER, 0).resolve("tokenizer.json"));
                PolicyLm reference = PolicyLm.load(policyDir, Device.cpu());
                ScorerSet scorers = ScorerSet.open(reg, List.of(Oracle.HARMLESS), Device.cpu())) {
            // two reference samples per prompt, scored by the scorers (what the fine-tuner sees)
            SplittableRandom rnd = new SplittableRandom(21);
            List<Scored> data = new ArrayList<>();
            for (int round = 0; round < 8; round++) {
                List<World.Prompt> ps = new ArrayList<>();
                List<int[]> ids = new ArrayList<>();
                for (int i = 0; i < 64; i++) {
                    World.Prompt p = World.prompt(rnd);
                    ps.add(p);
                    ids.add(tok.encode(p.text()));
                }
                List<Generation> a = reference.generate(ids, Sampling.plain(30, 100 + round), reference);
                List<Generation> b = reference.generate(ids, Sampling.plain(30, 200 + round), reference);
                List<Scorer.PromptResponse> pa = new ArrayList<>();
                List<Scorer.PromptResponse> pb = new ArrayList<>();
                for (int i = 0; i < ids.size(); i++) {
                    pa.add(new Scorer.PromptResponse(ps.get(i).text(), tok.decode(a.get(i).tokens())));
                    pb.add(new Scorer.PromptResponse(ps.get(i).text(), tok.decode(b.get(i).tokens())));
                }
                Map<String, double[]> sa = scorers.score(pa);
                Map<String, double[]> sb = scorers.score(pb);
                for (int i = 0; i < ids.size(); i++) {
                    if (a.get(i).stopped() && b.get(i).stopped()) {
                        data.add(new Scored(ids.get(i), a.get(i).tokens(), b.get(i).tokens(), sa.get("reward")[i],
                                sb.get("reward")[i], sa.get("harmless")[i], sb.get("harmless")[i]));
                    }
                }
            }
            assertThat(data).hasSizeGreaterThan(300);

            double plain = fineTunedHarmlessness(policyDir, reference, tok, data, 0.0);
            double safe = fineTunedHarmlessness(policyDir, reference, tok, data, 3.0);
            double before = Bootstrap.sampleMeans(reference, tok, 600, 77).get(Oracle.HARMLESS);
            System.out.printf("true harmlessness: reference %.3f, DPO λ=0 %.3f, DPO λ=3 %.3f%n", before, plain, safe);
            assertThat(safe).isGreaterThan(plain + 0.05);
            assertThat(safe).isGreaterThan(before + 0.05);
        }
    }

    private static double fineTunedHarmlessness(Path policyDir, PolicyLm reference, WordTokenizer tok, List<Scored> data,
            double lambda) {
        List<PreferencePair> pairs = data.stream().map(d -> new PreferencePair(d.prompt(), d.a(), d.b(),
                d.ra() + lambda * d.ga(), d.rb() + lambda * d.gb())).toList();
        try (PolicyLm policy = PolicyLm.load(policyDir, Device.cpu())) {
            DpoTrainer.Result r = DpoTrainer.train(policy, reference, pairs,
                    new DpoTrainer.Options(0.1, 3, 32, 1e-3f, 50, 5), step -> { });
            assertThat(r.steps()).isPositive();
            assertThat(Double.isFinite(r.finalLoss())).isTrue();
            return Bootstrap.sampleMeans(policy, tok, 600, 77).get(Oracle.HARMLESS);
        }
    }
}
