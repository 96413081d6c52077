package dev.dualign.serving;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dualign.core.event.ChatMessage;
import dev.dualign.core.event.InvalidEventException;
import dev.dualign.core.event.ToolCall;
import java.util.ArrayList;
import java.util.List;

/**
 * An OpenAI chat request's {@code messages} and a choice's {@code tool_calls} as the conversation
 * format of our events ({@link ChatMessage}, {@link ToolCall}): what the policy server and the gateway
 * log beside each answer. Lenient: it reads what a chatbot accepted, so a message it cannot read is
 * left out rather than failing the answer's log.
 */
final class Conversations {
    private Conversations() {}

    /** The request's messages, oldest first (text parts joined; the legacy {@code function} role as {@code tool}). */
    static List<ChatMessage> messages(JsonNode messages) {
        List<ChatMessage> out = new ArrayList<>();
        if (messages == null || !messages.isArray()) {
            return out;
        }
        for (JsonNode m : messages) {
            String role = m.path("role").asText("");
            if (role.equals("function")) {
                role = "tool";
            }
            if (!ChatMessage.ROLES.contains(role)) {
                continue;
            }
            String name = m.path("name").isTextual() ? m.get("name").asText() : null;
            String callId = m.path("tool_call_id").isTextual() ? m.get("tool_call_id").asText() : null;
            out.add(new ChatMessage(role, text(m.path("content")), name, toolCalls(m.path("tool_calls")), callId));
        }
        return out;
    }

    /** A message's text: a string, or its text parts joined by a space. */
    static String text(JsonNode c) {
        if (c.isTextual()) {
            return c.asText();
        }
        StringBuilder sb = new StringBuilder();
        if (c.isArray()) {
            for (JsonNode part : c) {
                if (part.path("text").isTextual()) {
                    sb.append(sb.length() > 0 ? " " : "").append(part.get("text").asText());
                }
            }
        }
        return sb.toString();
    }

    /** The function calls of a message or a choice's message; null when none. */
    static List<ToolCall> toolCalls(JsonNode calls) {
        if (calls == null || !calls.isArray() || calls.isEmpty()) {
            return null;
        }
        List<ToolCall> out = new ArrayList<>();
        for (JsonNode c : calls) {
            JsonNode fn = c.path("function");
            JsonNode args = fn.path("arguments");
            try {
                out.add(new ToolCall(c.path("id").asText(""), fn.path("name").asText(""),
                        args.isTextual() ? args.asText() : args.isMissingNode() || args.isNull() ? "" : args.toString()));
            } catch (InvalidEventException e) {
                // a call without a function name: nothing to log it by
            }
        }
        return out.isEmpty() ? null : out;
    }
}
