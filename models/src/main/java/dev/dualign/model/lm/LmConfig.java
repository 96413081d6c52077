package dev.dualign.model.lm;

/**
 * Shape of the policy language model.
 *
 * @param vocab vocabulary size (ids 0–4 are the tokenizer's specials)
 * @param dim embedding width
 * @param heads attention heads
 * @param layers transformer layers
 * @param maxLen longest sequence (BOS + prompt + SEP + response + EOS)
 */
public record LmConfig(int vocab, int dim, int heads, int layers, int maxLen) {
    public LmConfig {
        if (vocab < 6 || dim < 4 || heads < 1 || dim % heads != 0 || layers < 1 || maxLen < 4) {
            throw new IllegalArgumentException("invalid LM shape " + vocab + "/" + dim + "/" + heads + "/" + layers + "/" + maxLen);
        }
    }
}
