package dev.dualign.model.scorer;

/**
 * Shape of a scorer network.
 *
 * @param name what it scores
 * @param vocab tokenizer vocabulary size
 * @param buckets hash buckets for response bigrams
 * @param dim embedding width
 * @param hidden hidden width of the head
 * @param maxTokens tokens kept of a prompt and of a response
 */
public record ScorerConfig(String name, int vocab, int buckets, int dim, int hidden, int maxTokens) {}
