package dev.dualign.model.scorer;

import dev.dualign.core.event.ChatMessage;
import dev.dualign.core.event.ChatTemplate;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.ToolCall;
import java.util.List;

/**
 * Scores a batch of (prompt, response) pairs with one number each: the reward or one utility.
 * Implementations take plain strings and return plain numbers; nothing native escapes a call.
 * Not thread-safe unless stated: one per Flink subtask, opened in {@code open()}.
 */
public interface Scorer extends AutoCloseable {
    /** What it scores: {@code reward} or a utility's name. */
    String name();

    double[] score(List<PromptResponse> batch);

    /**
     * Scores in model calls whose shape depends on each pair alone, so a pair scores the same bits in
     * any company (decisions 5 and 32): here, chunks of {@code rows} padded with empty pairs; a
     * transformer scorer cuts calls by length bucket instead, or, with {@code buckets} off, pads every
     * pair to its maximum length.
     */
    default double[] score(List<PromptResponse> batch, int rows, boolean buckets) {
        double[] out = new double[batch.size()];
        for (int from = 0; from < batch.size(); from += rows) {
            int n = Math.min(rows, batch.size() - from);
            List<PromptResponse> chunk = new java.util.ArrayList<>(rows);
            chunk.addAll(batch.subList(from, from + n));
            while (chunk.size() < rows) {
                chunk.add(new PromptResponse("", ""));
            }
            System.arraycopy(score(chunk), 0, out, from, n);
        }
        return out;
    }

    @Override
    void close();

    /**
     * One pair to score: the prompt (the last user message) and the response, with the conversation
     * the response answered and the tool calls it made when they were logged ({@link ChatTemplate}).
     */
    record PromptResponse(String prompt, String response, List<ChatMessage> messages, List<ToolCall> toolCalls) {
        public PromptResponse(String prompt, String response) {
            this(prompt, response, null, null);
        }

        /** What a logged response is scored as. */
        public static PromptResponse of(ResponseEvent e) {
            return new PromptResponse(e.prompt(), e.response(), e.messages(), e.toolCalls());
        }

        /** Whether a scorer reads the prompt alone (no conversation, or only the one user message). */
        public boolean singlePrompt() {
            return ChatTemplate.singlePrompt(messages);
        }

        /** The response's text as scored: its text, then its tool calls. */
        public String responseText() {
            return ChatTemplate.response(response, toolCalls);
        }

        /** The text before the response: the prompt, or the conversation cut from its oldest turn to {@code budget} tokens. */
        public String context(java.util.function.ToIntFunction<String> tokens, int budget) {
            return singlePrompt() ? prompt : ChatTemplate.context(messages, tokens, budget);
        }
    }
}
