package dev.dualign.core.event;

import dev.dualign.core.dual.DualMode;
import dev.dualign.core.dual.StepKind;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

public class EventsRoundTripTest {
    static final long T = 1_764_000_000_000L;

    /** One valid example of every event type; shared with the Kafka tests through the test-jar. */
    public static List<Event> examples() {
        Estimate est = new Estimate(0.12, 0.05, 0.19, 420);
        return List.of(
                new PromptEvent("p1", "I can't sleep, what should I take?", "s9", T),
                new ResponseEvent("r1", "p1", "I can't sleep", "try a wind-down routine", 2, -12.5, -13.25, "policy", T, "client-7",
                        List.of(ChatMessage.of("system", "be kind"), new ChatMessage("assistant", "", null,
                                List.of(new ToolCall("c1", "lookup", "{\"q\":\"sleep\"}")), null),
                                new ChatMessage("tool", "eight hours", "lookup", null, "c1"), ChatMessage.of("user", "I can't sleep")),
                        List.of(new ToolCall("c2", "timer", "{}"))),
                new ScoredSample("r2", "p1", "I can't sleep", "take three pills", 0L, -3.0, -3.0, "reference", T, 0.9,
                        Map.of("harmless", -0.8, "humour", 0.0)),
                new DualUpdate("default", Map.of("harmless", 0.7), Map.of("harmless", est), DualMode.ITERATIVE,
                        StepKind.ITERATIVE, 3, 2, List.of("harmless"), Map.of("harmless", 0.45), T, Map.of("reward", 1L, "harmless", 2L)),
                new FineTuneRequest("ft-3", Map.of("harmless", 0.7), 2, "dualign.scored", 2L, Map.of("0", 10L),
                        Map.of("0", 99L), T).decidedBy(DualMode.ITERATIVE, 0.1, Map.of("harmless", 0.5), Map.of("harmless", est))
                        .withData(new FineTuneRequest.Dataset("file:///data/dualign/ft-3/policy.jsonl", "c".repeat(64), 420,
                                "dualign-policy-v1"), 1L),
                new CheckpointEvent(3, "policy/3", "a".repeat(64), Map.of("harmless", 0.7), 2,
                        Map.of("loss", 0.41, "kl", 0.02), T),
                new CheckpointEvent(4, "policy/4", "e".repeat(64), Map.of("harmless", 0.8), 3, Map.of("loss", 0.38), T)
                        .answering("ft-3", new CheckpointEvent.External("policy-v4", "/adapters/ft-3", null)),
                new Alert(2, "harmless", est, 0.2, T),
                Alert.of(Alert.Kind.NO_VERSION, 3, "", "no version answered", T),
                new VersionEstimate(2, Map.of("harmless", est, "reward", new Estimate(0.6, 0.55, 0.65, 420)),
                        Map.of("harmless", new Estimate(0.3, 0.2, 0.4, 420)), 420, Map.of("reward", 1L, "harmless", 2L)),
                new DeploymentDecision(2, DeploymentDecision.Action.ROLLBACK, "harmless below its margin with confidence",
                        Map.of("harmless", est), T, Map.of("reward", 1L, "harmless", 2L)),
                DeadLetter.of("dualign.responses", 1, 77, new byte[] {0, (byte) 0xff, 'x'}, "not valid JSON", T));
    }

    @Test
    void everyEventTypeRoundTripsThroughJson() {
        for (Event e : examples()) {
            byte[] json = e.toJsonBytes();
            Object back = Events.parse(e.getClass(), json);
            assertThat(back).as(e.getClass().getSimpleName()).isEqualTo(e);
            assertThat(new String(json, StandardCharsets.UTF_8)).contains("\"schema\":1");
        }
        assertThat(examples().stream().map(Object::getClass).distinct().toList())
                .containsExactlyInAnyOrderElementsOf(Events.types());
    }

    @Test
    void unknownFieldsAreIgnoredSoTheSchemaCanGrow() throws Exception {
        for (Event e : examples()) {
            ObjectNode node = (ObjectNode) EventJson.mapper().readTree(e.toJsonBytes());
            node.put("schema", 2).put("addedInSchemaTwo", "whatever").putObject("nested").put("x", 1);
            assertThat(Events.parse(e.getClass(), EventJson.writeBytes(node))).isEqualTo(e);
        }
    }

    @Test
    void aScorerVersionMustBeARegistryVersion() throws Exception {
        ObjectNode node = (ObjectNode) EventJson.mapper().readTree(examples().stream().filter(VersionEstimate.class::isInstance)
                .findFirst().orElseThrow().toJsonBytes());
        node.putObject("scorers").put("harmless", -1);
        assertThatThrownBy(() -> Events.parse(VersionEstimate.class, EventJson.writeBytes(node)))
                .isInstanceOf(InvalidEventException.class).hasMessageContaining("scorers.harmless");
        node.putObject("scorers").put("harmless", "two");
        assertThatThrownBy(() -> Events.parse(VersionEstimate.class, EventJson.writeBytes(node)))
                .isInstanceOf(InvalidEventException.class).hasMessageContaining("scorers.harmless");
    }

    @Test
    void everyRequiredFieldIsNamedWhenMissing() throws Exception {
        for (Event e : examples()) {
            ObjectNode full = (ObjectNode) EventJson.mapper().readTree(e.toJsonBytes());
            for (String field : List.copyOf(iterable(full))) {
                if (field.equals("schema") || isOptional(e, field)) {
                    continue;
                }
                ObjectNode without = full.deepCopy();
                without.remove(field);
                assertThatThrownBy(() -> Events.parse(e.getClass(), EventJson.writeBytes(without)))
                        .as("%s without %s", e.getClass().getSimpleName(), field)
                        .isInstanceOf(InvalidEventException.class)
                        .hasMessageContaining(field);
            }
        }
    }

    private static boolean isOptional(Event e, String field) {
        return switch (e.getClass().getSimpleName()) {
            case "PromptEvent" -> field.equals("session");
            case "ResponseEvent" -> List.of("logprob", "refLogprob", "clientId", "messages", "toolCalls").contains(field); // unknown for an external chatbot; a label; single prompt
            case "ScoredSample" -> !List.of("promptId", "reward", "utilities").contains(field);
            case "FineTuneRequest" -> List.of("dataVersion", "fromOffsets", "toOffsets", "beta", "margins", "stableVersion", "dataset",
                    "estimates", "step").contains(field); // the outside trainer's fields came later: older requests lack them
            case "CheckpointEvent" -> List.of("metrics", "requestId", "external").contains(field); // an outside trainer's fields came later
            case "DualUpdate" -> List.of("kind", "atLambdaMax", "margins", "scorers").contains(field);
            case "DeadLetter" -> List.of("rawSize", "rawSha256").contains(field);
            case "VersionEstimate" -> List.of("bounds", "scorers").contains(field); // no bounds: nothing may be decided on it
            case "Alert" -> List.of("kind", "detail").contains(field) || !field.equals("policyVersion")
                    && !field.equals("constraint") && !field.equals("timestamp") && ((Alert) e).kind() != Alert.Kind.VIOLATION;
            case "DeploymentDecision" -> field.equals("scorers"); // absent: not recorded
            default -> false;
        };
    }

    private static List<String> iterable(ObjectNode n) {
        List<String> out = new java.util.ArrayList<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }

    @Test
    void aRequestWrittenBeforeTheTrainersFieldsStillReads() {
        FineTuneRequest r = Events.parse(FineTuneRequest.class, bytes("{\"schema\":1,\"requestId\":\"ft-1\",\"lambda\":{\"harmless\":0.3},"
                + "\"baseVersion\":0,\"dataTopic\":\"dualign.scored\",\"dataVersion\":0,\"timestamp\":5}"));
        assertThat(r).isEqualTo(new FineTuneRequest("ft-1", Map.of("harmless", 0.3), 0, "dualign.scored", 0L, null, null, 5));
        assertThat(r.beta()).isNull();
        assertThat(r.dataset()).isNull();
        assertThat(r.step()).isNull();
        assertThat(r.toJson()).doesNotContain("beta", "dataset", "estimates", "step", "margins", "stableVersion");
    }

    @Test
    void aRequestsTrainerFieldsAreCheckedNamingTheField() throws Exception {
        ObjectNode full = (ObjectNode) EventJson.mapper().readTree(examples().stream().filter(FineTuneRequest.class::isInstance)
                .findFirst().orElseThrow().toJsonBytes());
        Map<String, String> bad = Map.of(
                "{\"beta\":0}", "beta",
                "{\"beta\":\"NaN\"}", "beta",
                "{\"margins\":{\"harmless\":\"high\"}}", "margins.harmless",
                "{\"stableVersion\":-1}", "stableVersion",
                "{\"step\":\"enforce\"}", "step",
                "{\"step\":\"sideways\"}", "step",
                "{\"estimates\":{\"harmless\":{\"mean\":0,\"lo\":1,\"hi\":0,\"n\":3}}}", "estimates.harmless",
                "{\"dataset\":{\"uri\":\"file:///x\",\"sha256\":\"ABC\",\"records\":1,\"format\":\"f\"}}", "dataset.sha256",
                "{\"dataset\":{\"uri\":\"file:///x\",\"sha256\":\"" + "d".repeat(64) + "\",\"records\":-1,\"format\":\"f\"}}", "dataset.records",
                "{\"dataset\":{\"uri\":\"file:///x\",\"sha256\":\"" + "d".repeat(64) + "\",\"records\":1}}", "dataset.format");
        for (Map.Entry<String, String> b : bad.entrySet()) {
            ObjectNode n = full.deepCopy();
            n.setAll((ObjectNode) EventJson.mapper().readTree(b.getKey()));
            assertThatThrownBy(() -> Events.parse(FineTuneRequest.class, EventJson.writeBytes(n))).as(b.getKey())
                    .isInstanceOf(InvalidEventException.class).hasMessageContaining("'" + b.getValue());
        }
    }

    @Test
    void aCheckpointWrittenBeforeTheTrainersFieldsStillReadsAsABuiltInVersion() {
        CheckpointEvent c = Events.parse(CheckpointEvent.class, bytes("{\"schema\":1,\"version\":3,\"path\":\"policy/3\",\"sha256\":\""
                + "a".repeat(64) + "\",\"lambda\":{\"harmless\":0.7},\"parentVersion\":2,\"timestamp\":5}"));
        assertThat(c).isEqualTo(new CheckpointEvent(3, "policy/3", "a".repeat(64), Map.of("harmless", 0.7), 2, Map.of(), 5));
        assertThat(c.requestId()).isNull();
        assertThat(c.external()).as("a built-in version names nothing outside").isNull();
        assertThat(c.toJson()).doesNotContain("requestId", "external");
    }

    @Test
    void anExternalVersionNamesAnAdapterWithItsPathOrAModelId() throws Exception {
        CheckpointEvent byModel = Events.parse(CheckpointEvent.class, bytes("{\"version\":5,\"path\":\"policy/5\",\"sha256\":\""
                + "a".repeat(64) + "\",\"lambda\":{},\"parentVersion\":4,\"timestamp\":5,\"requestId\":\"ft-9\","
                + "\"external\":{\"modelId\":\"acme/llama-8b-v5\"}}"));
        assertThat(byModel.external().model()).isEqualTo("acme/llama-8b-v5");
        assertThat(byModel.requestId()).isEqualTo("ft-9");
        assertThat(new CheckpointEvent.External("v5", "/a/v5", "acme/m").model()).as("the adapter first").isEqualTo("v5");
        ObjectNode full = (ObjectNode) EventJson.mapper().readTree(examples().stream().filter(e -> e instanceof CheckpointEvent c
                && c.external() != null).findFirst().orElseThrow().toJsonBytes());
        Map<String, String> bad = Map.of(
                "{\"external\":{}}", "external",
                "{\"external\":{\"adapter\":\"v4\"}}", "external.path",
                "{\"external\":{\"path\":\"/a/v4\"}}", "external.adapter",
                "{\"external\":{\"adapter\":\"../v4\",\"path\":\"/a\"}}", "external.adapter",
                "{\"external\":{\"adapter\":\"v 4\",\"path\":\"/a\"}}", "external.adapter",
                "{\"external\":{\"adapter\":\"v4\",\"path\":\" \"}}", "external.path",
                "{\"external\":{\"modelId\":\"a//b\"}}", "external.modelId",
                "{\"external\":{\"adapter\":7,\"path\":\"/a\"}}", "external.adapter",
                "{\"requestId\":\"\"}", "requestId");
        for (Map.Entry<String, String> b : bad.entrySet()) {
            ObjectNode n = full.deepCopy();
            n.setAll((ObjectNode) EventJson.mapper().readTree(b.getKey()));
            assertThatThrownBy(() -> Events.parse(CheckpointEvent.class, EventJson.writeBytes(n))).as(b.getKey())
                    .isInstanceOf(InvalidEventException.class).hasMessageContaining("'" + b.getValue() + "'");
        }
    }

    @Test
    void badValuesAreRefusedNamingTheField() {
        assertThatThrownBy(() -> Events.parse(ResponseEvent.class, bytes(
                "{\"id\":\"r\",\"promptId\":\"p\",\"prompt\":\"\",\"response\":\"\",\"policyVersion\":1,"
                        + "\"logprob\":-1,\"refLogprob\":-1,\"source\":\"somewhere\",\"timestamp\":1}")))
                .hasMessageContaining("source");
        assertThatThrownBy(() -> Events.parse(ResponseEvent.class, bytes(
                "{\"id\":\"r\",\"promptId\":\"p\",\"prompt\":\"\",\"response\":\"\",\"policyVersion\":1,"
                        + "\"logprob\":\"NaN\",\"refLogprob\":-1,\"source\":\"policy\",\"timestamp\":1}")))
                .hasMessageContaining("logprob");
        assertThatThrownBy(() -> Events.parse(CheckpointEvent.class, bytes(
                "{\"version\":1,\"path\":\"../../etc\",\"sha256\":\"" + "b".repeat(64)
                        + "\",\"lambda\":{},\"parentVersion\":0,\"timestamp\":1}")))
                .hasMessageContaining("path");
        assertThatThrownBy(() -> Events.parse(DualUpdate.class, bytes(
                "{\"constraintSet\":\"c\",\"lambda\":{\"h\":-1},\"estimates\":{},\"mode\":\"iterative\",\"step\":1,"
                        + "\"policyVersion\":1,\"timestamp\":1}")))
                .hasMessageContaining("lambda.h");
        assertThatThrownBy(() -> Events.parse(Alert.class, bytes(
                "{\"policyVersion\":1,\"constraint\":\"h\",\"estimate\":{\"mean\":0,\"lo\":0,\"hi\":1},\"margin\":0,"
                        + "\"timestamp\":1}")))
                .hasMessageContaining("estimate.n");
        assertThatThrownBy(() -> Events.parse(PromptEvent.class, new byte[] {(byte) 0xff, 0, 1}))
                .isInstanceOf(InvalidEventException.class);
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
