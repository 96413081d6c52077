package dev.dualign.core.dataset;

import static dev.dualign.core.dataset.DatasetExamples.BETA;
import static dev.dualign.core.dataset.DatasetExamples.LAMBDA;
import static dev.dualign.core.dataset.DatasetExamples.sample;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dualign.core.event.ChatMessage;
import dev.dualign.core.event.EventJson;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DpoViewTest {
    @TempDir
    Path dir;

    static PolicyDatasetRecord ofK(String promptId, int k) {
        return PolicyDatasetRecord.of(promptId, List.of(ChatMessage.of("user", "q")), LAMBDA, BETA,
                IntStream.range(0, k).mapToObj(i -> sample("answer " + i, 0, 0.1 * i, 0.05 * (k - i), -1.0 - i, -1.0 - i)).toList());
    }

    @Test
    void theHigherScoreIsChosenWithPChosenTheSigmoidOfTheScoreGapOverBeta() {
        for (DpoPair p : DpoView.pairs(DatasetExamples.fromReference(), DpoView.Pairing.ALL, 1)) {
            assertThat(p.scoreChosen()).isGreaterThanOrEqualTo(p.scoreRejected());
            assertThat(p.pChosen()).isCloseTo(1 / (1 + Math.exp(-(p.scoreChosen() - p.scoreRejected()) / BETA)), within(1e-15));
            assertThat(p.pChosen()).isBetween(0.5, 1.0);
            assertThat(p.prompt()).isEqualTo(DatasetExamples.fromReference().messages());
            assertThat(p.chosen()).singleElement().satisfies(m -> assertThat(m.role()).isEqualTo("assistant"));
        }
    }

    @Test
    void allPairsAreEveryTwoOfTheK() {
        assertThat(DpoView.pairs(ofK("p", 5), DpoView.Pairing.ALL, 0)).hasSize(10);
        assertThat(DpoView.pairs(ofK("p", 1), DpoView.Pairing.ALL, 0)).isEmpty();
    }

    @Test
    void disjointPairsUseEachResponseOnceAndAreFixedByTheSeed() {
        PolicyDatasetRecord r = ofK("p", 7);
        List<DpoPair> a = DpoView.pairs(r, DpoView.Pairing.DISJOINT, 42);
        assertThat(a).hasSize(3);
        Set<String> used = new HashSet<>();
        a.forEach(p -> {
            assertThat(used.add(p.chosen().get(0).content())).isTrue();
            assertThat(used.add(p.rejected().get(0).content())).isTrue();
        });
        assertThat(DpoView.pairs(r, DpoView.Pairing.DISJOINT, 42)).isEqualTo(a);
        List<List<DpoPair>> other = new ArrayList<>();
        for (long seed = 0; seed < 20; seed++) {
            other.add(DpoView.pairs(r, DpoView.Pairing.DISJOINT, seed));
        }
        assertThat(new HashSet<>(other)).as("the seed chooses the pairs").hasSizeGreaterThan(1);
        assertThat(DpoView.pairs(ofK("q", 7), DpoView.Pairing.DISJOINT, 42)).as("and so does the prompt")
                .extracting(p -> p.chosen().get(0).content()).isNotEqualTo(a.stream().map(p -> p.chosen().get(0).content()).toList());
    }

    @Test
    void sameAnswersMakeNoPairAndTiesAreEvenOdds() {
        PolicyDatasetRecord r = PolicyDatasetRecord.of("p", List.of(ChatMessage.of("user", "q")), LAMBDA, BETA, List.of(
                sample("same", 0, 0.1, 0.1, -1.0, -1.0), sample("same", 0, 0.1, 0.1, -1.0, -1.0),
                sample("other", 0, 0.1, 0.1, -1.0, -1.0)));
        List<DpoPair> pairs = DpoView.pairs(r, DpoView.Pairing.ALL, 0);
        assertThat(pairs).hasSize(2).allSatisfy(p -> assertThat(p.pChosen()).isEqualTo(0.5));
    }

    @Test
    void aToolCallIsKeptInTheAssistantMessage() {
        List<DpoPair> pairs = DpoView.pairs(DatasetExamples.fromReference(), DpoView.Pairing.ALL, 0);
        assertThat(pairs.stream().flatMap(p -> List.of(p.chosen().get(0), p.rejected().get(0)).stream())
                .filter(m -> m.toolCalls() != null)).isNotEmpty().allSatisfy(m -> assertThat(m.content()).isEmpty());
    }

    @Test
    void theWrittenFileIsTrlsConversationalPreferenceFormat() throws Exception {
        Path f = dir.resolve("dpo.jsonl");
        List<PolicyDatasetRecord> records = List.of(DatasetExamples.fromReference(), DatasetExamples.fromServedVersion(), ofK("p9", 1));
        DatasetFile written = DpoView.write(f, records, DpoView.Pairing.DISJOINT, 7);
        List<String> lines = Files.readAllLines(f);
        assertThat(written.records()).isEqualTo(lines.size()).isEqualTo(2 + 1); // ⌊4/2⌋ + ⌊3/2⌋ + ⌊1/2⌋
        assertThat(written.format()).isEqualTo(DpoView.FORMAT);
        assertThat(written.sha256()).isEqualTo(Jsonl.sha256(f));
        JsonNode row = EventJson.mapper().readTree(lines.get(0));
        assertThat(iterable(row)).containsExactly("prompt_id", "prompt", "chosen", "rejected", "score_chosen", "score_rejected",
                "p_chosen");
        assertThat(row.get("prompt").get(0).get("role").asText()).isEqualTo("system");
        assertThat(row.get("chosen").get(0).get("role").asText()).isEqualTo("assistant");
        assertThat(row.get("chosen").size()).isEqualTo(1);
        // the same records and seed write the same bytes
        assertThat(DpoView.write(dir.resolve("again.jsonl"), records, DpoView.Pairing.DISJOINT, 7).sha256()).isEqualTo(written.sha256());
    }

    @Test
    void aPairIsCheckedNamingTheField() {
        List<ChatMessage> q = List.of(ChatMessage.of("user", "q"));
        List<ChatMessage> a = List.of(ChatMessage.of("assistant", "a"));
        assertThatThrownBy(() -> new DpoPair("p", q, List.of(ChatMessage.of("user", "a")), a, 1, 0, 0.9)).hasMessageContaining("'chosen'");
        assertThatThrownBy(() -> new DpoPair("p", q, a, List.of(), 1, 0, 0.9)).hasMessageContaining("'rejected'");
        assertThatThrownBy(() -> new DpoPair("p", q, a, a, 1, 0, 1.5)).hasMessageContaining("'p_chosen'");
        assertThatThrownBy(() -> new DpoPair("p", List.of(), a, a, 1, 0, 0.5)).hasMessageContaining("'prompt'");
    }

    private static List<String> iterable(JsonNode n) {
        List<String> out = new ArrayList<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }
}
