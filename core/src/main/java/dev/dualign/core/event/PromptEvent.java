package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.Objects;

/**
 * A user's prompt on {@code dualign.prompts}, keyed by its id.
 *
 * @param id prompt id
 * @param prompt the text
 * @param session conversation/session id (optional)
 * @param timestamp epoch milliseconds
 */
@JsonPropertyOrder({"schema", "id", "prompt", "session", "timestamp"})
public record PromptEvent(String id, String prompt, String session, long timestamp) implements Event {
    public PromptEvent {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(prompt, "prompt");
    }

    @Override
    public String key() {
        return id;
    }

    public static PromptEvent fromJson(JsonFields f) {
        return new PromptEvent(f.requireText("id"), f.requireString("prompt"), f.optionalText("session"),
                f.requireLong("timestamp"));
    }
}
