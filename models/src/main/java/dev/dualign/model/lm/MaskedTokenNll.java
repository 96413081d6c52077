package dev.dualign.model.lm;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.loss.Loss;

/**
 * Mean negative log-likelihood of the response tokens (and EOS): labels are (targets, mask),
 * the prediction is the LM's log-probabilities [B, T, V].
 */
public final class MaskedTokenNll extends Loss {
    public MaskedTokenNll() {
        super("MaskedTokenNll");
    }

    @Override
    public NDArray evaluate(NDList labels, NDList predictions) {
        NDArray targets = labels.get(0);
        NDArray mask = labels.get(1);
        NDArray logp = predictions.head().gather(targets.expandDims(2), 2).squeeze(2);
        return logp.mul(mask).sum().neg().div(mask.sum().maximum(1f));
    }
}
