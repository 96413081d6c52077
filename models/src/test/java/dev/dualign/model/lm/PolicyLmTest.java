package dev.dualign.model.lm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Log-probability bookkeeping on a tiny vocabulary: 3 words + EOS (ids 5, 6, 7 and 4). */
class PolicyLmTest {
    static final int[] WORDS = {5, 6, 7};
    static PolicyLm lm;

    @BeforeAll
    static void create() {
        lm = PolicyLm.create(new LmConfig(8, 16, 2, 2, 12), Device.cpu(), 42);
    }

    @AfterAll
    static void close() {
        lm.close();
    }

    private static List<int[]> allSequences(int length) {
        List<int[]> out = new ArrayList<>();
        out.add(new int[0]);
        for (int l = 0; l < length; l++) {
            List<int[]> next = new ArrayList<>();
            for (int[] s : out) {
                for (int w : WORDS) {
                    int[] t = java.util.Arrays.copyOf(s, s.length + 1);
                    t[s.length] = w;
                    next.add(t);
                }
            }
            out = next;
        }
        return out;
    }

    @Test
    void probabilitiesOfAllResponsesUpToLengthLPlusNotStoppedSumToOne() {
        int[] prompt = {6, 5};
        int maxLen = 4;
        double total = 0;
        double[] byLength = new double[maxLen + 1];
        for (int l = 0; l < maxLen; l++) {
            List<int[]> seqs = allSequences(l);
            double[] lp = lm.logProbs(java.util.Collections.nCopies(seqs.size(), prompt), seqs, true);
            for (double v : lp) {
                total += Math.exp(v);
                byLength[l] += Math.exp(v);
            }
        }
        List<int[]> cut = allSequences(maxLen);
        double[] lp = lm.logProbs(java.util.Collections.nCopies(cut.size(), prompt), cut, false);
        for (double v : lp) {
            total += Math.exp(v);
            byLength[maxLen] += Math.exp(v);
        }
        assertThat(total).isCloseTo(1.0, within(1e-5));
        // not trivially true: the mass is spread over lengths, and over 121 sequences
        for (double mass : byLength) {
            assertThat(mass).isBetween(0.01, 0.9);
        }
    }

    @Test
    void sequenceLogProbIsTheSumOfTokenLogProbs() {
        int[] prompt = {7};
        int[] response = {5, 5, 6, 7};
        double[] tokens = lm.tokenLogProbs(prompt, response);
        assertThat(tokens).hasSize(response.length + 1); // + EOS
        double sum = java.util.Arrays.stream(tokens).sum();
        assertThat(lm.logProbs(List.of(prompt), List.of(response))[0]).isCloseTo(sum, within(1e-5));
        // and each token's log-prob is what the next-token distribution says
        double[] next = lm.nextTokenLogProbs(prompt, new int[] {5, 5});
        assertThat(tokens[2]).isCloseTo(next[6], within(1e-5));
    }

    @Test
    void eachRowMayEndWithEosOrBeTheCutPrefixItIs() {
        List<int[]> prompts = List.of(new int[] {5}, new int[] {6, 7}, new int[] {7});
        List<int[]> responses = List.of(new int[] {6, 6}, new int[] {5, 7, 7}, new int[] {6});
        double[] with = lm.logProbs(prompts, responses, true);
        double[] without = lm.logProbs(prompts, responses, false);
        double[] mixed = lm.logProbs(prompts, responses, new boolean[] {true, false, true});
        // batched against batched (same shapes, the rows differ only in the EOS token): a float's rounding
        assertThat(mixed[0]).isCloseTo(with[0], within(1e-5));
        assertThat(mixed[1]).isCloseTo(without[1], within(1e-5));
        assertThat(mixed[2]).isCloseTo(with[2], within(1e-5));
        assertThat(with[1]).isLessThan(without[1]); // the EOS costs probability
    }

    @Test
    void leftPaddingInABatchChangesNothing() {
        List<int[]> prompts = List.of(new int[] {5}, new int[] {6, 7, 5, 6}, new int[] {7, 7});
        List<int[]> responses = List.of(new int[] {6, 6, 6, 7}, new int[] {5}, new int[] {});
        double[] batched = lm.logProbs(prompts, responses);
        for (int i = 0; i < prompts.size(); i++) {
            double alone = lm.logProbs(List.of(prompts.get(i)), List.of(responses.get(i)))[0];
            assertThat(batched[i]).as("row %d", i).isCloseTo(alone, within(1e-5));
        }
    }

    @Test
    void generationIsReproducibleAndReportsItsOwnLogProbs() {
        List<int[]> prompts = List.of(new int[] {5}, new int[] {6, 7}, new int[] {7, 7, 7});
        List<Generation> a = lm.generate(prompts, new Sampling(1.0, 1.0, 6, 99), lm);
        List<Generation> b = lm.generate(prompts, new Sampling(1.0, 1.0, 6, 99), lm);
        for (int i = 0; i < prompts.size(); i++) {
            Generation g = a.get(i);
            assertThat(g.tokens()).isEqualTo(b.get(i).tokens());
            double recomputed = lm.logProbs(List.of(prompts.get(i)), List.of(g.tokens()), g.stopped())[0];
            assertThat(g.logprob()).isCloseTo(recomputed, within(1e-4));
            assertThat(g.refLogprob()).isEqualTo(g.logprob());
            assertThat(g.tokens()).doesNotContain(0, 1, 2, 3, 4); // specials never sampled inside a response
        }
    }

    @Test
    void generationOnAnyThreadRecordsNoGradientsAndLeavesTheThreadAsItWas() throws Exception {
        // PyTorch's grad mode is per thread and on by default: a fresh thread (as the chat batcher's,
        // or a Flink task's) would record an autograd graph for every op of the forward pass
        List<Boolean> duringGeneration = new java.util.concurrent.CopyOnWriteArrayList<>();
        boolean[] before = new boolean[1];
        boolean[] after = new boolean[1];
        Throwable[] failed = new Throwable[1];
        Thread t = new Thread(() -> {
            try {
                before[0] = ai.djl.pytorch.jni.JniUtils.isGradMode();
                lm.generate(List.of(new int[] {5}, new int[] {6, 7}), java.util.Collections.nCopies(2, new Sampling(1.0, 1.0, 4, 3)), 3,
                        lm, (row, tok, lp) -> duringGeneration.add(ai.djl.pytorch.jni.JniUtils.isGradMode()));
                after[0] = ai.djl.pytorch.jni.JniUtils.isGradMode();
            } catch (Throwable e) {
                failed[0] = e;
            }
        });
        t.start();
        t.join();
        assertThat(failed[0]).as("generation on the fresh thread").isNull();
        assertThat(before[0]).as("PyTorch's default on a new thread").isTrue();
        assertThat(duringGeneration).isNotEmpty().containsOnly(false);
        assertThat(after[0]).as("restored").isTrue();
    }

    @Test
    void everyCachedStepGivesTheDistributionOfTheFullForwardPass() {
        // rows of different lengths (left padding), every token's log-prob from the key/value-cached
        // decode against the uncached forward pass over the whole prefix
        List<int[]> prompts = List.of(new int[] {5}, new int[] {6, 7, 5, 6}, new int[] {7, 7});
        int fromCachedSteps = 0;
        for (int round = 0; round < 5; round++) {
            List<List<double[]>> heard = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
            List<Generation> g = lm.generate(prompts, java.util.Collections.nCopies(3, new Sampling(1.0, 1.0, 8, round)), round, lm,
                    (row, tok, lp) -> heard.get(row).add(new double[] {tok, lp}));
            for (int i = 0; i < prompts.size(); i++) {
                int[] tokens = g.get(i).tokens();
                for (int j = 0; j < tokens.length; j++) {
                    double[] full = lm.nextTokenLogProbs(prompts.get(i), java.util.Arrays.copyOf(tokens, j));
                    assertThat(heard.get(i).get(j)[1]).as("round %d row %d token %d", round, i, j).isCloseTo(full[tokens[j]], within(1e-5));
                    fromCachedSteps += j > 0 ? 1 : 0; // token 0 comes from the prefill, the others from steps
                }
            }
        }
        assertThat(fromCachedSteps).as("tokens drawn after a cached step").isGreaterThan(10);
    }

    @Test
    void eachRowKeepsItsOwnLengthAndItsWordsAreHeardAsTheyAreDrawn() {
        List<int[]> prompts = List.of(new int[] {5}, new int[] {6, 7}, new int[] {7, 7, 7});
        List<Sampling> rows = List.of(new Sampling(1.0, 1.0, 1, 0), new Sampling(0.5, 0.9, 3, 0), new Sampling(2.0, 1.0, 8, 0));
        List<List<Integer>> heard = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        List<List<Double>> heardLp = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        for (int round = 0; round < 20; round++) {
            heard.forEach(List::clear);
            heardLp.forEach(List::clear);
            List<Generation> g = lm.generate(prompts, rows, round, lm, (row, tok, lp) -> {
                heard.get(row).add(tok);
                heardLp.get(row).add(lp);
            });
            for (int i = 0; i < 3; i++) {
                Generation x = g.get(i);
                int max = rows.get(i).maxTokens();
                assertThat(x.tokens().length).isLessThanOrEqualTo(max);
                if (!x.stopped()) {
                    assertThat(x.tokens()).hasSize(max); // cut at its own length, not the batch's longest
                }
                assertThat(heard.get(i)).containsExactly(java.util.Arrays.stream(x.tokens()).boxed().toArray(Integer[]::new));
                assertThat(x.tokenLogprobs()).hasSize(x.tokens().length);
                double sum = 0;
                for (int k = 0; k < x.tokens().length; k++) {
                    assertThat(x.tokenLogprobs()[k]).isEqualTo(heardLp.get(i).get(k));
                    sum += x.tokenLogprobs()[k];
                }
                // log π of the response is its words' log-probabilities, plus EOS when it stopped
                double recomputed = lm.logProbs(List.of(prompts.get(i)), List.of(x.tokens()), x.stopped())[0];
                assertThat(x.logprob()).isCloseTo(recomputed, within(1e-4));
                if (!x.stopped()) {
                    assertThat(x.logprob()).isCloseTo(sum, within(1e-4));
                }
            }
        }
        // one setting for every row is exactly the single-setting method, draw for draw
        Sampling one = new Sampling(1.0, 1.0, 6, 99);
        List<Generation> a = lm.generate(prompts, one, lm);
        List<Generation> b = lm.generate(prompts, java.util.Collections.nCopies(3, one), 99, lm, null);
        for (int i = 0; i < 3; i++) {
            assertThat(a.get(i).tokens()).isEqualTo(b.get(i).tokens());
        }
    }

    @Test
    void savedAndLoadedModelGivesTheSameLogProbs(@TempDir Path dir) {
        lm.save(dir);
        try (PolicyLm again = PolicyLm.load(dir, Device.cpu())) {
            double[] x = lm.logProbs(List.of(new int[] {5, 6}), List.of(new int[] {7, 7}));
            double[] y = again.logProbs(List.of(new int[] {5, 6}), List.of(new int[] {7, 7}));
            assertThat(y[0]).isEqualTo(x[0]);
        }
    }

    @Test
    void theNucleusThresholdIsExactlyThatOfADescendingSort() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(5);
        for (int trial = 0; trial < 2000; trial++) {
            int v = 1 + rnd.nextInt(300);
            double[] p = new double[v];
            double z = 0;
            for (int k = 0; k < v; k++) {
                // peaked, flat, with ties and zeros, as softmax outputs come
                p[k] = rnd.nextInt(4) == 0 ? Math.floor(rnd.nextDouble() * 4) / 4 : Math.exp(-8 * rnd.nextDouble());
                z += p[k];
            }
            if (z == 0) {
                continue;
            }
            double topP = trial % 10 == 0 ? 1.0 - 1e-12 : rnd.nextDouble();
            double[] sorted = p.clone();
            java.util.Arrays.sort(sorted);
            double cum = 0;
            double expected = 0;
            for (int k = v - 1; k >= 0; k--) {
                cum += sorted[k] / z;
                if (cum >= topP) {
                    expected = sorted[k];
                    break;
                }
            }
            assertThat(PolicyLm.nucleusThreshold(p, z, topP)).as("trial %d", trial).isEqualTo(expected);
        }
    }
}
