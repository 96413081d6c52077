package dev.dualign.core.dataset;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import dev.dualign.core.event.EventJson;
import dev.dualign.core.event.InvalidEventException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * docs/schemas/PolicyDatasetRecord.json and DpoPair.json against the files the writers write, as
 * the event schemas are checked: every line validates, every field written is declared, and a
 * field is required by the schema exactly when the reader refuses a record without it.
 */
class DatasetSchemasTest {
    static final Path DIR = Path.of("../docs/schemas");
    /** The schemas in docs/schemas that describe dataset lines, not events. */
    static final List<String> NAMES = List.of("PolicyDatasetRecord", "DpoPair");
    static final SchemaRegistry REGISTRY = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);

    @TempDir
    Path dir;

    static JsonNode schemaJson(String name) throws Exception {
        return EventJson.mapper().readTree(DIR.resolve(name + ".json").toFile());
    }

    static Schema schema(String name) throws Exception {
        return REGISTRY.getSchema(schemaJson(name));
    }

    static List<JsonNode> lines(Path f) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(f)) {
            out.add(EventJson.mapper().readTree(line));
        }
        return out;
    }

    @Test
    void everyWrittenLineValidatesAndDeclaresEachField() throws Exception {
        Path policy = dir.resolve("policy.jsonl");
        Path dpo = dir.resolve("dpo.jsonl");
        PolicyDataset.write(policy, DatasetExamples.all());
        DpoView.write(dpo, DatasetExamples.all(), DpoView.Pairing.ALL, 3);
        JsonNode policySchema = schemaJson("PolicyDatasetRecord");
        for (JsonNode line : lines(policy)) {
            assertThat(schema("PolicyDatasetRecord").validate(line)).as("%s", line).isEmpty();
            assertDeclared(line, policySchema.get("properties"), "record");
            for (JsonNode r : line.get("responses")) {
                assertDeclared(r, policySchema.get("$defs").get("ScoredResponse").get("properties"), "response");
            }
        }
        List<JsonNode> pairs = lines(dpo);
        assertThat(pairs).hasSize(6 + 3 + 1);
        for (JsonNode line : pairs) {
            assertThat(schema("DpoPair").validate(line)).as("%s", line).isEmpty();
            assertDeclared(line, schemaJson("DpoPair").get("properties"), "pair");
        }
        ObjectNode userChosen = (ObjectNode) pairs.get(0).deepCopy();
        ((ObjectNode) userChosen.get("chosen").get(0)).put("role", "user");
        assertThat(schema("DpoPair").validate(userChosen)).as("chosen is an assistant message").isNotEmpty();
        ObjectNode twoRejected = (ObjectNode) pairs.get(0).deepCopy();
        twoRejected.withArray("rejected").add(twoRejected.get("rejected").get(0));
        assertThat(schema("DpoPair").validate(twoRejected)).as("rejected is one message").isNotEmpty();
    }

    private static void assertDeclared(JsonNode written, JsonNode declared, String what) {
        written.fieldNames().forEachRemaining(f -> assertThat(declared.has(f)).as("%s field %s is in its schema", what, f).isTrue());
    }

    @Test
    void theSchemaRequiresAFieldExactlyWhenTheReaderRefusesItsAbsence() throws Exception {
        Schema s = schema("PolicyDatasetRecord");
        ObjectNode full = (ObjectNode) EventJson.mapper().readTree(EventJson.writeBytes(DatasetExamples.fromServedVersion()));
        List<ObjectNode> without = new ArrayList<>();
        List<String> what = new ArrayList<>();
        full.fieldNames().forEachRemaining(f -> {
            without.add(full.deepCopy().without(f));
            what.add(f);
        });
        ((ObjectNode) full.get("responses").get(0)).fieldNames().forEachRemaining(f -> {
            ObjectNode w = full.deepCopy();
            ((ObjectNode) w.get("responses").get(0)).remove(f);
            without.add(w);
            what.add("responses[0]." + f);
        });
        assertThat(what).contains("responses[0].weight", "responses[0].refLogprob", "responses[0].logprob");
        for (int i = 0; i < without.size(); i++) {
            boolean schemaRefuses = !s.validate(without.get(i)).isEmpty();
            boolean readerRefuses = refuses(without.get(i));
            // a weight left out of one response only: all or none, which the schema cannot say
            if (what.get(i).equals("responses[0].weight")) {
                assertThat(readerRefuses).isTrue();
                assertThat(schemaRefuses).isFalse();
                continue;
            }
            assertThat(schemaRefuses).as("without '%s': the reader %s it", what.get(i), readerRefuses ? "refuses" : "accepts")
                    .isEqualTo(readerRefuses);
        }
    }

    @Test
    void wrongTypesAndRangesAreRefusedByTheSchemaAsByTheReader() throws Exception {
        Schema s = schema("PolicyDatasetRecord");
        List<String> bad = List.of("{\"beta\":0}", "{\"lambda\":{\"harmless\":-1}}", "{\"messages\":[]}", "{\"responses\":[]}",
                "{\"promptId\":\"\"}", "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}");
        List<String> badResponse = List.of("{\"version\":-1}", "{\"logprob\":0.5}", "{\"refLogprob\":0.5}", "{\"weight\":1.5}",
                "{\"utilities\":{\"harmless\":\"high\"}}", "{\"text\":null}");
        for (String b : bad) {
            ObjectNode n = (ObjectNode) EventJson.mapper().readTree(EventJson.writeBytes(DatasetExamples.fromServedVersion()));
            n.setAll((ObjectNode) EventJson.mapper().readTree(b));
            assertThat(s.validate(n)).as(b).isNotEmpty();
            assertThat(refuses(n)).as("the reader refuses %s too", b).isTrue();
        }
        for (String b : badResponse) {
            ObjectNode n = (ObjectNode) EventJson.mapper().readTree(EventJson.writeBytes(DatasetExamples.fromServedVersion()));
            ((ObjectNode) n.get("responses").get(1)).setAll((ObjectNode) EventJson.mapper().readTree(b));
            assertThat(s.validate(n)).as(b).isNotEmpty();
            assertThat(refuses(n)).as("the reader refuses %s too", b).isTrue();
        }
    }

    private static boolean refuses(JsonNode line) {
        try {
            PolicyDatasetRecord.fromJson(EventJson.parse(EventJson.writeBytes(line)));
            return false;
        } catch (InvalidEventException | InvalidRecordException e) {
            return true;
        }
    }
}
