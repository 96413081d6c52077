package dev.dualign.model.lm;

/**
 * How to sample a response.
 *
 * @param temperature softmax temperature (> 0)
 * @param topP nucleus: keep the smallest set of tokens whose probability reaches topP (0 < topP ≤ 1)
 * @param maxTokens most new tokens, EOS included
 * @param seed makes the samples reproducible
 */
public record Sampling(double temperature, double topP, int maxTokens, long seed) {
    public Sampling {
        if (!(temperature > 0) || !(topP > 0 && topP <= 1) || maxTokens < 1) {
            throw new IllegalArgumentException("invalid sampling: temperature " + temperature + ", topP " + topP
                    + ", maxTokens " + maxTokens);
        }
    }

    public static Sampling plain(int maxTokens, long seed) {
        return new Sampling(1.0, 1.0, maxTokens, seed);
    }
}
