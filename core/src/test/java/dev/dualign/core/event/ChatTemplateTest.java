package dev.dualign.core.event;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The conversation as scorers read it: every turn in order, tool turns by their calls, cut from the oldest turn. */
class ChatTemplateTest {
    static final ToolCall WEATHER = new ToolCall("call_1", "get_weather", "{\"city\":\"Paris\"}");
    static final List<ChatMessage> CONVERSATION = List.of(
            ChatMessage.of("system", "be careful"),
            ChatMessage.of("user", "what is the weather in paris"),
            new ChatMessage("assistant", "", null, List.of(WEATHER), null),
            new ChatMessage("tool", "21 C and sunny", "get_weather", null, "call_1"),
            ChatMessage.of("user", "should i take an umbrella"));

    static int words(String s) {
        return s.isBlank() ? 0 : s.strip().split("\\s+").length;
    }

    @Test
    void everyTurnIsReadInOrderAndAToolTurnByItsCall() {
        assertThat(ChatTemplate.context(CONVERSATION, ChatTemplateTest::words, 1000)).isEqualTo("""
                system: be careful
                user: what is the weather in paris
                assistant: → get_weather({"city":"Paris"})
                tool get_weather: 21 C and sunny
                user: should i take an umbrella""");
        assertThat(ChatTemplate.response("", List.of(WEATHER))).isEqualTo("→ get_weather({\"city\":\"Paris\"})");
        assertThat(ChatTemplate.response("take one", null)).isEqualTo("take one");
    }

    @Test
    void aSinglePromptIsReadAloneAsBeforeConversations() {
        assertThat(ChatTemplate.context(List.of(ChatMessage.of("user", "hello there")), ChatTemplateTest::words, 1)).isEqualTo("hello there");
        assertThat(ChatTemplate.singlePrompt(null)).isTrue();
        assertThat(ChatTemplate.singlePrompt(List.of(ChatMessage.of("system", "x"), ChatMessage.of("user", "y")))).isFalse();
    }

    @Test
    void aLongConversationLosesItsOldestTurnsFirstAndKeepsTheSystemMessage() {
        // budget 12 words: system (3) + the newest user turn (6) fit, the tool turn (6) does not
        String cut = ChatTemplate.context(CONVERSATION, ChatTemplateTest::words, 12);
        assertThat(cut).isEqualTo("system: be careful\nuser: should i take an umbrella");
        // the newest turn stays even when it alone is over the budget
        assertThat(ChatTemplate.context(CONVERSATION, ChatTemplateTest::words, 1)).endsWith("user: should i take an umbrella");
    }

    @Test
    void aMessageOrCallThatCannotBeReadIsRefusedNamingItsField() {
        assertThatThrownBy(() -> ChatMessage.of("narrator", "x")).isInstanceOf(InvalidEventException.class).hasMessageContaining("role");
        assertThatThrownBy(() -> new ToolCall("c", "", "{}")).isInstanceOf(InvalidEventException.class)
                .hasMessageContaining("function.name");
    }
}
