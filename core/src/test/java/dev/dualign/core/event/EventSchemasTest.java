package dev.dualign.core.event;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The JSON Schemas in docs/schemas against the code, in both directions, so neither drifts: every
 * event the code writes validates; every field it writes is declared; and a field is required by
 * the schema exactly when the reader refuses a record without it.
 */
class EventSchemasTest {
    static final Path DIR = Path.of("../docs/schemas");
    static final SchemaRegistry REGISTRY = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);

    static Schema schema(Class<?> type) throws Exception {
        return REGISTRY.getSchema(EventJson.mapper().readTree(DIR.resolve(type.getSimpleName() + ".json").toFile()));
    }

    /** The schemas of dataset lines beside the events' (checked by the dataset's own schema test). */
    static final List<String> DATASET_SCHEMAS = List.of("PolicyDatasetRecord", "DpoPair");

    @Test
    void thereIsOneSchemaPerEventType() throws Exception {
        try (Stream<Path> files = Files.list(DIR)) {
            assertThat(files.map(f -> f.getFileName().toString().replace(".json", "")).filter(n -> !DATASET_SCHEMAS.contains(n)).toList())
                    .containsExactlyInAnyOrderElementsOf(Events.types().stream().map(Class::getSimpleName).toList());
        }
    }

    @Test
    void everyEventTheCodeWritesValidatesAndDeclaresEachField() throws Exception {
        for (Event e : EventsRoundTripTest.examples()) {
            JsonNode json = EventJson.mapper().readTree(e.toJsonBytes());
            Schema s = schema(e.getClass());
            List<Error> errors = s.validate(json);
            assertThat(errors).as("%s: %s", e.getClass().getSimpleName(), json).isEmpty();
            JsonNode declared = EventJson.mapper().readTree(DIR.resolve(e.getClass().getSimpleName() + ".json").toFile()).get("properties");
            json.fieldNames().forEachRemaining(f -> assertThat(declared.has(f)).as("%s.%s is in its schema",
                    e.getClass().getSimpleName(), f).isTrue());
        }
    }

    @Test
    void theSchemaRequiresAFieldExactlyWhenTheReaderRefusesItsAbsence() throws Exception {
        for (Event e : EventsRoundTripTest.examples()) {
            ObjectNode full = (ObjectNode) EventJson.mapper().readTree(e.toJsonBytes());
            Schema s = schema(e.getClass());
            List<String> fields = new ArrayList<>();
            full.fieldNames().forEachRemaining(fields::add);
            for (String f : fields) {
                ObjectNode without = full.deepCopy();
                without.remove(f);
                boolean readerRefuses;
                try {
                    Events.parse(e.getClass(), EventJson.writeBytes(without));
                    readerRefuses = false;
                } catch (InvalidEventException x) {
                    readerRefuses = true;
                }
                boolean schemaRefuses = !s.validate(without).isEmpty();
                assertThat(schemaRefuses).as("%s without '%s': the reader %s it", e.getClass().getSimpleName(), f,
                        readerRefuses ? "refuses" : "accepts").isEqualTo(readerRefuses);
            }
        }
    }

    @Test
    void wrongTypesAndRangesAreRefusedByTheSchemaAsByTheReader() throws Exception {
        ResponseEvent r = new ResponseEvent("r1", "p1", "x", "y", 2, -1.0, -2.0, "policy", 1L);
        Schema s = schema(ResponseEvent.class);
        for (String bad : List.of("{\"policyVersion\":-1}", "{\"logprob\":0.5}", "{\"source\":\"elsewhere\"}", "{\"timestamp\":\"now\"}")) {
            ObjectNode n = (ObjectNode) EventJson.mapper().readTree(r.toJsonBytes());
            n.setAll((ObjectNode) EventJson.mapper().readTree(bad));
            assertThat(s.validate(n)).as(bad).isNotEmpty();
            boolean readerRefuses;
            try {
                Events.parse(ResponseEvent.class, EventJson.writeBytes(n));
                readerRefuses = false;
            } catch (InvalidEventException x) {
                readerRefuses = true;
            }
            assertThat(readerRefuses).as("the reader refuses %s too", bad).isTrue();
        }
    }

    @Test
    void anExternalVersionIsCheckedByTheSchemaAsByTheReader() throws Exception {
        CheckpointEvent c = new CheckpointEvent(4, "policy/4", "e".repeat(64), java.util.Map.of(), 3, null, 1)
                .answering("ft-3", new CheckpointEvent.External("policy-v4", "/adapters/ft-3", null));
        Schema s = schema(CheckpointEvent.class);
        for (String bad : List.of("{\"external\":{}}", "{\"external\":{\"adapter\":\"v4\"}}", "{\"external\":{\"path\":\"/a\"}}",
                "{\"external\":{\"adapter\":\"../v4\",\"path\":\"/a\"}}", "{\"external\":{\"modelId\":\"a//b\"}}",
                "{\"requestId\":\"\"}")) {
            ObjectNode n = (ObjectNode) EventJson.mapper().readTree(c.toJsonBytes());
            n.setAll((ObjectNode) EventJson.mapper().readTree(bad));
            assertThat(s.validate(n)).as(bad).isNotEmpty();
            boolean readerRefuses;
            try {
                Events.parse(CheckpointEvent.class, EventJson.writeBytes(n));
                readerRefuses = false;
            } catch (InvalidEventException x) {
                readerRefuses = true;
            }
            assertThat(readerRefuses).as("the reader refuses %s too", bad).isTrue();
        }
        ObjectNode byModel = (ObjectNode) EventJson.mapper().readTree(c.toJsonBytes());
        byModel.putObject("external").put("modelId", "acme/llama-v4");
        assertThat(s.validate(byModel)).isEmpty();
        assertThat(Events.parse(CheckpointEvent.class, EventJson.writeBytes(byModel)).external().model()).isEqualTo("acme/llama-v4");
    }
}
