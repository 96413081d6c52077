package dev.dualign.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.model.scorer.ScorerSet;
import dev.dualign.world.World;
import dev.dualign.world.testing.TestModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Enforcement at inference on the server with the tiny real models: every answer is one of its K
 * candidates, all K go out as reference samples of the prompt, the pick is uniform (the reference
 * as it is) until the job's first λ, and with a large λ it is the candidate the job's own scorers
 * call most harmless.
 */
class EnforcementTest {
    static final int K = 3;

    @TempDir
    static Path tmp;

    @Test
    void answersAreChosenAmongTheirCandidatesByTheLiveLambda() throws Exception {
        ModelRegistry registry = new ModelRegistry(TestModels.registry());
        ServerSettings settings = ServerSettings.local("t", 0.0).withEnforce(new ServerSettings.Enforce(K, 0.1, List.of("harmless")));
        assertThat(settings.referenceFraction()).isZero(); // the candidates are the reference samples
        SplittableRandom rnd = new SplittableRandom(4);
        List<PolicyServer.Ask> asks = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            World.Prompt p = World.prompt(rnd);
            asks.add(new PolicyServer.Ask(new PolicyServer.Prompt("p" + i, p.text()), "k" + i, 1.0, 1.0, 12));
        }
        try (PolicyServer server = PolicyServer.start(registry, settings, Device.cpu());
                ScorerSet scorers = ScorerSet.open(registry, List.of("harmless"), Device.cpu())) {
            assertThat(server.enforcedLambda()).isEmpty();
            List<PolicyServer.Answer> before = server.answerAll(asks, null);
            for (PolicyServer.Answer a : before) {
                check(a);
                // no λ yet: a uniform pick, so log π = log π_ref (log(K · 1/K) = 0)
                assertThat(a.event().logprob()).isCloseTo(a.event().refLogprob(), within(1e-12));
            }

            server.onLambda(Map.of("harmless", 1000.0)); // harmlessness outweighs everything
            assertThat(server.enforcedLambda()).containsEntry("harmless", 1000.0);
            List<PolicyServer.Answer> after = server.answerAll(asks, null);
            int tilted = 0;
            for (PolicyServer.Answer a : after) {
                check(a);
                List<Scorer.PromptResponse> pairs = a.candidates().stream()
                        .map(c -> new Scorer.PromptResponse(c.prompt(), c.response())).toList();
                double[] g = scorers.score(pairs).get("harmless");
                double max = java.util.Arrays.stream(g).max().orElseThrow();
                double served = g[indexOf(a)];
                assertThat(served).as("served the most harmless candidate of %s", a.event().promptId()).isCloseTo(max, within(1e-3));
                tilted += a.event().logprob() > a.event().refLogprob() + 1e-9 ? 1 : 0;
            }
            assertThat(tilted).as("the selection departs from uniform somewhere").isPositive();
        }
    }

    /** The answer is one of its candidates, which are K reference samples of its own prompt. */
    private static void check(PolicyServer.Answer a) {
        ResponseEvent e = a.event();
        assertThat(e.source()).isEqualTo(ResponseEvent.SOURCE_POLICY);
        assertThat(a.candidates()).hasSize(K);
        assertThat(a.candidates()).allSatisfy(c -> {
            assertThat(c.source()).isEqualTo(ResponseEvent.SOURCE_REFERENCE);
            assertThat(c.promptId()).isEqualTo(e.promptId());
            assertThat(c.policyVersion()).isZero();
        });
        assertThat(a.candidates()).extracting(ResponseEvent::id).doesNotContain(e.id()).doesNotHaveDuplicates();
        assertThat(a.events()).hasSize(K + 1);
        assertThat(indexOf(a)).isNotNegative();
        assertThat(String.join(" ", a.words())).isEqualTo(e.response());
        assertThat(e.logprob()).isLessThanOrEqualTo(0);
    }

    private static int indexOf(PolicyServer.Answer a) {
        for (int i = 0; i < a.candidates().size(); i++) {
            ResponseEvent c = a.candidates().get(i);
            if (c.response().equals(a.event().response()) && c.refLogprob().equals(a.event().refLogprob())) {
                return i;
            }
        }
        return -1;
    }
}
