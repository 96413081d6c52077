package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.List;
import java.util.Set;

/**
 * One message of the conversation a response answered, in the OpenAI chat format (its field names on
 * the wire), so that a multi-turn or tool-using request is logged whole and scorers read the whole
 * conversation ({@link ChatTemplate}), not only its last user message.
 *
 * @param role {@code system}, {@code developer}, {@code user}, {@code assistant} or {@code tool}
 * @param content its text: text parts are joined by whoever logs it; "" for an assistant turn that
 *     only calls tools
 * @param name the participant's or tool's name, or null
 * @param toolCalls the calls an assistant turn made, or null
 * @param toolCallId the call a {@code tool} message answers, or null
 */
@JsonPropertyOrder({"role", "content", "name", "tool_calls", "tool_call_id"})
public record ChatMessage(String role, String content, String name, @JsonProperty("tool_calls") List<ToolCall> toolCalls,
        @JsonProperty("tool_call_id") String toolCallId) {
    public static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");

    public ChatMessage {
        if (role == null || !ROLES.contains(role)) {
            throw new InvalidEventException("role", "must be one of system, developer, user, assistant, tool; got " + role);
        }
        content = content == null ? "" : content;
        toolCalls = toolCalls == null || toolCalls.isEmpty() ? null : List.copyOf(toolCalls);
    }

    /** A message with text only. */
    public static ChatMessage of(String role, String content) {
        return new ChatMessage(role, content, null, null, null);
    }

    /** The strict reader: an error names the field under {@code path}. */
    public static ChatMessage fromJson(String path, JsonFields f) {
        try {
            return new ChatMessage(f.requireText("role"), f.has("content") ? f.requireString("content") : "",
                    f.has("name") ? f.requireString("name") : null, f.optionalObjectList("tool_calls", ToolCall::fromJson),
                    f.has("tool_call_id") ? f.requireString("tool_call_id") : null);
        } catch (InvalidEventException e) {
            throw InvalidEventException.under(path, e);
        }
    }
}
