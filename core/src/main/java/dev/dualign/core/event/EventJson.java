package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * The one JSON configuration every Dualign event goes through. Writing uses Jackson on the records;
 * reading goes through each event's {@code fromJson} so that every error names its field.
 */
public final class EventJson {
    /** Version of the event schema written into every event as {@code "schema"}. */
    public static final int SCHEMA_VERSION = 1;

    private static final ObjectMapper MAPPER = new ObjectMapper()
            .setSerializationInclusion(JsonInclude.Include.NON_NULL)
            .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            // NaN must be an error, never a value that slips into λ
            .configure(JsonParser.Feature.ALLOW_NON_NUMERIC_NUMBERS, false);

    private EventJson() {}

    public static ObjectMapper mapper() {
        return MAPPER;
    }

    /** Parses bytes as one JSON object; anything else is an {@link InvalidEventException}. */
    public static JsonFields parse(byte[] utf8) {
        if (utf8 == null || utf8.length == 0) {
            throw new InvalidEventException(null, "empty record");
        }
        try {
            JsonNode node = MAPPER.readTree(utf8);
            return new JsonFields(node);
        } catch (JsonProcessingException e) {
            throw new InvalidEventException("not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new InvalidEventException("unreadable record: " + e.getMessage(), e);
        }
    }

    public static JsonFields parse(String json) {
        return parse(json == null ? null : json.getBytes(StandardCharsets.UTF_8));
    }

    public static String write(Object event) {
        try {
            return MAPPER.writeValueAsString(event);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static byte[] writeBytes(Object event) {
        try {
            return MAPPER.writeValueAsBytes(event);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
