package dev.dualign.model.scorer;

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

    @Override
    void close();

    /** One pair to score. */
    record PromptResponse(String prompt, String response) {}
}
