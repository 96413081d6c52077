package dev.dualign.core.dataset;

import static dev.dualign.core.dataset.DatasetExamples.BETA;
import static dev.dualign.core.dataset.DatasetExamples.LAMBDA;
import static dev.dualign.core.dataset.DatasetExamples.sample;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.dual.TiltWeights;
import dev.dualign.core.event.ChatMessage;
import dev.dualign.core.event.EventJson;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PolicyDatasetTest {
    @TempDir
    Path dir;

    @Test
    void eachResponseIsScoredUnderTheRecordsLambda() {
        PolicyDatasetRecord r = DatasetExamples.fromReference();
        assertThat(r.responses()).hasSize(4);
        assertThat(r.responses().get(1).score()).isCloseTo(0.9 + 0.7 * -0.8, within(1e-15));
        assertThat(r.responses().get(1).utilities()).containsOnlyKeys("harmless", "humour"); // every g, λ or not
    }

    @Test
    void referenceSamplesAreWeightedAsTheBuiltInStepWeightsThem() {
        PolicyDatasetRecord r = DatasetExamples.fromReference();
        double[] s = r.responses().stream().mapToDouble(ScoredResponse::score).toArray();
        double[] w = r.responses().stream().mapToDouble(ScoredResponse::weight).toArray();
        assertThat(w).containsExactly(TiltWeights.fromReference(s, BETA));
    }

    @Test
    void aServedVersionsSamplesCarryTheImportanceRatio() {
        PolicyDatasetRecord r = DatasetExamples.fromServedVersion();
        double[] s = r.responses().stream().mapToDouble(ScoredResponse::score).toArray();
        double[] ref = r.responses().stream().mapToDouble(ScoredResponse::refLogprob).toArray();
        double[] q = r.responses().stream().mapToDouble(ScoredResponse::logprob).toArray();
        double[] w = r.responses().stream().mapToDouble(ScoredResponse::weight).toArray();
        assertThat(w).containsExactly(TiltWeights.fromSampler(s, BETA, ref, q));
        assertThat(w).isNotEqualTo(TiltWeights.fromReference(s, BETA));
    }

    @Test
    void withoutTheLogProbabilitiesTheRatioNeedsThereIsNoWeight() {
        assertThat(DatasetExamples.ratioUnknown().responses()).allSatisfy(x -> assertThat(x.weight()).isNull());
        // one reference sample beside a served one: its log π_ref is its own log π, the served one's is missing
        PolicyDatasetRecord mixed = PolicyDatasetRecord.of("p", List.of(ChatMessage.of("user", "x")), LAMBDA, BETA,
                List.of(sample("a", 0, 0.1, 0.1, -1.0, null), sample("b", 2, 0.2, 0.2, -1.0, null)));
        assertThat(mixed.responses()).allSatisfy(x -> assertThat(x.weight()).isNull());
        PolicyDatasetRecord known = PolicyDatasetRecord.of("p", List.of(ChatMessage.of("user", "x")), LAMBDA, BETA,
                List.of(sample("a", 0, 0.1, 0.1, -1.0, null), sample("b", 2, 0.2, 0.2, -1.0, -2.0)));
        assertThat(known.responses().get(0).weight() + known.responses().get(1).weight()).isCloseTo(1, within(1e-12));
    }

    @Test
    void writingReturnsTheDigestAndCountOfTheFileAndReadingGivesTheRecordsBack() throws Exception {
        Path f = dir.resolve("req-7/policy.jsonl");
        DatasetFile written = PolicyDataset.write(f, DatasetExamples.all());
        assertThat(written.records()).isEqualTo(3);
        assertThat(written.format()).isEqualTo(PolicyDataset.FORMAT);
        assertThat(written.sha256()).isEqualTo(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f))));
        assertThat(Files.readAllLines(f)).hasSize(3);
        assertThat(PolicyDataset.read(f, written.sha256())).isEqualTo(DatasetExamples.all());
        assertThat(PolicyDataset.read(f, written.ref())).isEqualTo(DatasetExamples.all());
        assertThat(written.ref().uri()).startsWith("file:/").endsWith("req-7/policy.jsonl");
        try (var left = Files.list(f.getParent())) {
            assertThat(left.toList()).as("no part file left beside it").containsExactly(f);
        }
    }

    @Test
    void aFileThatIsNotTheOneNamedIsRefused() throws Exception {
        Path f = dir.resolve("policy.jsonl");
        DatasetFile written = PolicyDataset.write(f, DatasetExamples.all());
        Files.writeString(f, Files.readString(f).replace("take three pills", "take four pills"));
        assertThatThrownBy(() -> PolicyDataset.read(f, written.sha256())).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("sha256 is").hasMessageContaining(written.sha256()).hasMessageContaining("refusing");
        PolicyDataset.write(f, DatasetExamples.all());
        assertThatThrownBy(() -> PolicyDataset.read(f, new DatasetFile(f, written.sha256(), 2, PolicyDataset.FORMAT).ref()))
                .hasMessageContaining("3 records, the request names 2");
        assertThatThrownBy(() -> PolicyDataset.read(f, new DatasetFile(f, written.sha256(), 3, DpoView.FORMAT).ref()))
                .hasMessageContaining("format");
    }

    @Test
    void aBadLineIsRefusedNamingItsLineAndField() throws Exception {
        Path f = dir.resolve("bad.jsonl");
        ObjectNode line = (ObjectNode) EventJson.mapper().readTree(EventJson.writeBytes(DatasetExamples.fromServedVersion()));
        ((ObjectNode) line.withArray("responses").get(1)).put("score", 99.0);
        String good = EventJson.write(DatasetExamples.fromReference());
        Files.writeString(f, good + "\n" + EventJson.write(line) + "\n");
        assertThatThrownBy(() -> PolicyDataset.read(f, Jsonl.sha256(f)))
                .hasMessageContaining("line 2").hasMessageContaining("responses[1].score");
        ((ObjectNode) line.withArray("responses").get(1)).put("logprob", 0.5).put("score", 0.73);
        Files.writeString(f, EventJson.write(line) + "\n");
        assertThatThrownBy(() -> PolicyDataset.read(f, Jsonl.sha256(f)))
                .hasMessageContaining("line 1").hasMessageContaining("responses[1].logprob");
        Files.writeString(f, good + "\n\n");
        assertThatThrownBy(() -> PolicyDataset.read(f, Jsonl.sha256(f))).hasMessageContaining("line 2");
        Files.write(f, new byte[] {(byte) 0xff, '\n'});
        assertThatThrownBy(() -> PolicyDataset.read(f, Jsonl.sha256(f))).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aRecordIsCheckedNamingTheField() {
        List<ChatMessage> m = List.of(ChatMessage.of("user", "x"));
        assertThatThrownBy(() -> PolicyDatasetRecord.of("p", m, Map.of("rude", 1.0), BETA, List.of(sample("a", 0, 0, 0, -1.0, -1.0))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("responses[0].utilities.rude");
        assertThatThrownBy(() -> PolicyDatasetRecord.of("p", m, Map.of("harmless", -1.0), BETA, List.of(sample("a", 0, 0, 0, -1.0, -1.0))))
                .hasMessageContaining("lambda.harmless");
        assertThatThrownBy(() -> PolicyDatasetRecord.of("p", m, LAMBDA, 0, List.of(sample("a", 0, 0, 0, -1.0, -1.0))))
                .hasMessageContaining("'beta'");
        assertThatThrownBy(() -> PolicyDatasetRecord.of("p", List.of(), LAMBDA, BETA, List.of(sample("a", 0, 0, 0, -1.0, -1.0))))
                .hasMessageContaining("'messages'");
        assertThatThrownBy(() -> PolicyDatasetRecord.of("p", m, LAMBDA, BETA, List.of())).hasMessageContaining("'responses'");
        assertThatThrownBy(() -> PolicyDatasetRecord.of("p", m, LAMBDA, BETA, List.of(sample("a", -1, 0, 0, -1.0, -1.0))))
                .hasMessageContaining("responses[0].version");
        PolicyDatasetRecord r = DatasetExamples.fromServedVersion();
        List<ScoredResponse> half = List.of(r.responses().get(0), r.responses().get(1).withWeight(null), r.responses().get(2));
        assertThatThrownBy(() -> new PolicyDatasetRecord("p", m, LAMBDA, BETA, half)).hasMessageContaining("all 3 responses or none");
        List<ScoredResponse> off = List.of(r.responses().get(0).withWeight(1.0), r.responses().get(1), r.responses().get(2));
        assertThatThrownBy(() -> new PolicyDatasetRecord("p", m, LAMBDA, BETA, off)).hasMessageContaining("sum to 1");
    }

    @Test
    void unknownLogProbabilitiesAreWrittenAsNullForATrainerToSee() {
        String json = new String(EventJson.writeBytes(DatasetExamples.ratioUnknown()), StandardCharsets.UTF_8);
        assertThat(json).contains("\"logprob\":null", "\"refLogprob\":null").contains("\"weight\":null").doesNotContain("toolCalls");
    }
}
