package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.Map;

/**
 * A function call an assistant turn made, as the OpenAI chat format writes it ({@code {"id", "type":
 * "function", "function": {"name", "arguments"}}}): logged so a turn that only calls a tool is not
 * read as an empty answer.
 *
 * @param id the call's id (may be empty when the chatbot gave none)
 * @param name the function's name
 * @param arguments its arguments as the chatbot wrote them (JSON text, not parsed)
 */
@JsonPropertyOrder({"id", "type", "function"})
public record ToolCall(String id, @com.fasterxml.jackson.annotation.JsonIgnore String name,
        @com.fasterxml.jackson.annotation.JsonIgnore String arguments) {
    public ToolCall {
        id = id == null ? "" : id;
        if (name == null || name.isEmpty()) {
            throw new InvalidEventException("function.name", "must be a non-empty string");
        }
        arguments = arguments == null ? "" : arguments;
    }

    @JsonProperty("type")
    public String type() {
        return "function";
    }

    @JsonProperty("function")
    public Map<String, String> function() {
        return new java.util.LinkedHashMap<>(Map.of("name", name, "arguments", arguments));
    }

    /** Jackson's way in (the Flink serializers read records by their JSON): the wire shape. */
    @com.fasterxml.jackson.annotation.JsonCreator
    static ToolCall json(@JsonProperty("id") String id, @JsonProperty("function") Map<String, String> function) {
        return new ToolCall(id, function == null ? null : function.get("name"), function == null ? null : function.get("arguments"));
    }

    /** The strict reader: an error names the field under {@code path}. */
    public static ToolCall fromJson(String path, JsonFields f) {
        try {
            JsonFields fn = f.requireObject("function");
            String args = fn.has("arguments") ? fn.requireString("arguments") : "";
            return new ToolCall(f.has("id") ? f.requireString("id") : "", fn.requireText("name"), args);
        } catch (InvalidEventException e) {
            throw InvalidEventException.under(path, e);
        }
    }
}
