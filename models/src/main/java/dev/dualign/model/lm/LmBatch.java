package dev.dualign.model.lm;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.dualign.model.text.WordTokenizer;
import java.util.List;

/**
 * Prompt–response pairs laid out for the LM: each row is {@code BOS prompt SEP response [EOS]},
 * left-padded; the targets are the next tokens and the mask selects the response's tokens (and
 * EOS), so a row's masked sum of target log-probabilities is log π(response | prompt).
 */
final class LmBatch {
    final NDArray ids;
    final NDArray pads;
    final NDArray targets;
    final NDArray mask;
    final int length;

    private LmBatch(NDArray ids, NDArray pads, NDArray targets, NDArray mask, int length) {
        this.ids = ids;
        this.pads = pads;
        this.targets = targets;
        this.mask = mask;
        this.length = length;
    }

    static LmBatch of(NDManager m, List<int[]> prompts, List<int[]> responses, boolean withEos, int maxLen) {
        boolean[] eos = new boolean[prompts.size()];
        java.util.Arrays.fill(eos, withEos);
        return of(m, prompts, responses, eos, maxLen);
    }

    /** As above with EOS per row: a response cut at the token limit has none (its likelihood is its prefix's). */
    static LmBatch of(NDManager m, List<int[]> prompts, List<int[]> responses, boolean[] eos, int maxLen) {
        int b = prompts.size();
        int t = 0;
        for (int i = 0; i < b; i++) {
            t = Math.max(t, prompts.get(i).length + responses.get(i).length + (eos[i] ? 3 : 2));
        }
        if (t > maxLen) {
            throw new IllegalArgumentException("prompt and response of " + t + " tokens exceed the model's maxLen " + maxLen);
        }
        long[] ids = new long[b * t];
        long[] pads = new long[b];
        long[] targets = new long[b * t];
        float[] mask = new float[b * t];
        for (int i = 0; i < b; i++) {
            int[] p = prompts.get(i);
            int[] r = responses.get(i);
            boolean withEos = eos[i];
            int len = p.length + r.length + (withEos ? 3 : 2);
            int pad = t - len;
            pads[i] = pad;
            int at = i * t + pad;
            ids[at++] = WordTokenizer.BOS;
            for (int x : p) {
                ids[at++] = x;
            }
            int sepPos = at;
            ids[at++] = WordTokenizer.SEP;
            for (int x : r) {
                ids[at++] = x;
            }
            if (withEos) {
                ids[at++] = WordTokenizer.EOS;
            }
            // predict positions sepPos .. end-1 (their next tokens are the response and EOS)
            for (int pos = sepPos; pos < i * t + t - 1; pos++) {
                targets[pos] = ids[pos + 1];
                mask[pos] = 1f;
            }
        }
        return new LmBatch(m.create(ids, new Shape(b, t)), m.create(pads), m.create(targets, new Shape(b, t)),
                m.create(mask, new Shape(b, t)), t);
    }

    NDList inputs() {
        return new NDList(ids, pads);
    }

    /** Per row: Σ over response positions of log p(target). {@code logp} is [B, T, V]. */
    NDArray sequenceLogProbs(NDArray logp) {
        return tokenLogProbs(logp).sum(new int[] {1});
    }

    /** [B, T]: log p(target) at response positions, 0 elsewhere. */
    NDArray tokenLogProbs(NDArray logp) {
        return logp.gather(targets.expandDims(2), 2).squeeze(2).mul(mask);
    }

    NDArray tokenCount() {
        return mask.sum();
    }

    static DataType idType() {
        return DataType.INT64;
    }
}
