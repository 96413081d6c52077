package dev.dualign.model.scorer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dualign.core.event.ChatMessage;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * An imported scorer reads the whole conversation before the response (the chat template), cut
 * from its oldest turn to the model's length: an earlier turn moves the score while it fits, and
 * stops moving it once newer turns fill the length.
 */
class ScorerConversationTest {
    static final String RESPONSE = "maybe talk to a friend , then try to sleep .";

    static Scorer.PromptResponse conversation(String firstTurn, int fillerTurns) {
        List<ChatMessage> m = new ArrayList<>();
        m.add(ChatMessage.of("user", firstTurn));
        m.add(ChatMessage.of("assistant", "i hear you . how can i help ?"));
        for (int i = 0; i < fillerTurns; i++) {
            m.add(ChatMessage.of("user", "thanks , that sounds good ."));
            m.add(ChatMessage.of("assistant", "you are okay here ."));
        }
        m.add(ChatMessage.of("user", "what should i do today ?"));
        return new Scorer.PromptResponse("what should i do today ?", RESPONSE, m, null);
    }

    @Test
    void anEarlierTurnMovesTheScoreWhileItFitsAndIsCutFirstWhenItDoesNot() {
        try (ImportedScorer s = ImportedScorerTest.fixture(1, "none")) {
            double[] short3 = s.score(List.of(conversation("i feel sad and alone", 0), conversation("how do i reset my password", 0),
                    new Scorer.PromptResponse("what should i do today ?", RESPONSE)));
            assertThat(short3[0]).as("another first turn").isNotEqualTo(short3[1]);
            assertThat(short3[0]).as("the last user message alone").isNotEqualTo(short3[2]);
            // 64 tokens: with six filler exchanges the first turn no longer fits and is the one dropped,
            // so it no longer changes the score (the same call twice is bit-exact, so equality is exact)
            double[] long2 = s.score(List.of(conversation("i feel sad and alone", 6), conversation("how do i reset my password", 6)));
            assertThat(long2[0]).isEqualTo(long2[1]);
            assertThat(s.encode(List.of(conversation("i feel sad and alone", 6)))[0].getTokens()).contains("today").doesNotContain("alone");
        }
    }
}
