package dev.dualign.model.lm;

/**
 * A sampled response.
 *
 * @param tokens the response's word ids, EOS excluded
 * @param stopped whether it ended with EOS (false: cut at maxTokens)
 * @param logprob log π(y|x) under the sampling policy at temperature 1 (EOS included when stopped)
 * @param refLogprob log π_ref(y|x) under the reference policy, same tokens
 * @param tokenLogprobs log π of each token of {@code tokens} (temperature 1; EOS not included)
 */
public record Generation(int[] tokens, boolean stopped, double logprob, double refLogprob, double[] tokenLogprobs) {
    public Generation(int[] tokens, boolean stopped, double logprob, double refLogprob) {
        this(tokens, stopped, logprob, refLogprob, new double[0]);
    }
}
