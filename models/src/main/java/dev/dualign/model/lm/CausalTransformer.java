package dev.dualign.model.lm;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.NormalInitializer;
import ai.djl.util.PairList;
import dev.dualign.model.text.WordTokenizer;

/**
 * A small decoder-only transformer. Input: token ids [B, T] (INT64, left-padded with
 * {@link WordTokenizer#PAD}) and the pad count of each row [B] (INT64). Output: next-token
 * log-probabilities [B, T, V] over words and EOS only — pad, unk, bos and sep are masked out, so
 * a response is a sequence of words ending in EOS and the probabilities of all such sequences sum
 * to one. A third input (any array) asks for the last position only: [B, 1, V], what sampling
 * needs at each step.
 */
public final class CausalTransformer extends AbstractBlock {
    private static final float NEG = -1e9f;

    private final LmConfig config;
    private final Parameter tokens;
    private final Parameter positions;
    private final TransformerLayer[] layers;
    private final LayerNorm lnFinal;
    private final Linear head;

    public CausalTransformer(LmConfig config) {
        this.config = config;
        tokens = addParameter(Parameter.builder().setName("tokens").setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(config.vocab(), config.dim())).optInitializer(new NormalInitializer(0.05f)).build());
        positions = addParameter(Parameter.builder().setName("positions").setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(config.maxLen(), config.dim())).optInitializer(new NormalInitializer(0.02f)).build());
        layers = new TransformerLayer[config.layers()];
        for (int i = 0; i < layers.length; i++) {
            layers[i] = addChildBlock("layer" + i, new TransformerLayer(config.dim(), config.heads()));
        }
        lnFinal = addChildBlock("lnFinal", LayerNorm.builder().axis(2).build());
        head = addChildBlock("head", Linear.builder().setUnits(config.vocab()).build());
    }

    public LmConfig config() {
        return config;
    }

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray ids = inputs.get(0);
        NDArray pads = inputs.get(1);
        NDManager m = ids.getManager();
        long b = ids.getShape().get(0);
        long t = ids.getShape().get(1);
        if (t > config.maxLen()) {
            throw new IllegalArgumentException("sequence of " + t + " tokens exceeds the model's maxLen " + config.maxLen());
        }
        NDArray range = m.arange(0, (int) t, 1, DataType.INT64);
        NDArray padCol = pads.reshape(b, 1);
        NDArray posIds = range.reshape(1, t).sub(padCol).maximum(0); // [B,T]
        NDArray tokW = ps.getValue(tokens, ids.getDevice(), training);
        NDArray posW = ps.getValue(positions, ids.getDevice(), training);
        NDArray x = Embedding.embedding(ids, tokW, SparseFormat.DENSE).head()
                .add(Embedding.embedding(posIds, posW, SparseFormat.DENSE).head());
        // key k visible from query q iff pad(b) ≤ k ≤ q
        NDArray kIdx = range.reshape(1, 1, 1, t);
        NDArray qIdx = range.reshape(1, 1, t, 1);
        NDArray allowed = kIdx.lte(qIdx).logicalAnd(kIdx.gte(pads.reshape(b, 1, 1, 1)));
        NDArray bias = allowed.toType(DataType.FLOAT32, false).sub(1f).mul(-NEG);
        for (TransformerLayer layer : layers) {
            x = layer.forward(ps, new NDList(x, bias), training).head();
        }
        if (inputs.size() > 2) {
            // generation needs only the last position: skip the vocabulary head for the others
            x = x.get(":, -1:, :");
        }
        NDArray logits = head.forward(ps, new NDList(lnFinal.forward(ps, new NDList(x), training).head()), training).head();
        NDArray vocabMask = m.create(maskValues(), new Shape(1, 1, config.vocab()));
        return new NDList(logits.add(vocabMask).logSoftmax(2));
    }

    /**
     * Decoding state: per-layer key/value caches, the pad count of each row and the length so far.
     * Keys are kept transposed, [B, h, dh, T], so a step multiplies by them without a transpose; the
     * pads and the vocabulary mask are kept as Java values so a step makes its position ids and
     * attention bias with one array each instead of a chain of small ops (a step of the small
     * models is a few dozen ops of microseconds, so the count of ops is its cost).
     */
    final class Cache {
        final NDArray[] keys = new NDArray[layers.length];
        final NDArray[] values = new NDArray[layers.length];
        final NDArray pads;
        private final long[] padCounts;
        private NDArray vocabMask;
        long length;

        Cache(NDArray pads) {
            this.pads = pads;
            this.padCounts = pads.toLongArray();
        }

        /** Position ids of the next token [B, 1]: the length so far less the row's padding, at least 0. */
        NDArray nextPositions(NDManager m) {
            long[] pos = new long[padCounts.length];
            for (int i = 0; i < pos.length; i++) {
                pos[i] = Math.max(0, length - padCounts[i]);
            }
            return m.create(pos, new Shape(pos.length, 1));
        }

        /** Attention bias of the next token over keys 0..tk−1 [B, 1, 1, tk]: −1e9 on a row's padding, else 0. */
        NDArray nextBias(NDManager m, long tk) {
            int b = padCounts.length;
            float[] bias = new float[(int) (b * tk)];
            for (int i = 0; i < b; i++) {
                java.util.Arrays.fill(bias, (int) (i * tk), (int) (i * tk + Math.min(tk, padCounts[i])), NEG);
            }
            return m.create(bias, new Shape(b, 1, 1, tk));
        }

        NDArray vocabMask() {
            if (vocabMask == null) {
                vocabMask = pads.getManager().create(maskValues(), new Shape(1, config.vocab()));
            }
            return vocabMask;
        }
    }

    private float[] maskValues() {
        float[] maskVals = new float[config.vocab()];
        maskVals[WordTokenizer.PAD] = NEG;
        maskVals[WordTokenizer.UNK] = NEG;
        maskVals[WordTokenizer.BOS] = NEG;
        maskVals[WordTokenizer.SEP] = NEG;
        return maskVals;
    }

    /**
     * Runs the prefix [B, T] (left-padded) and returns the next-token log-probabilities [B, V] of
     * its last position, filling {@code cache}.
     */
    NDArray prefill(ParameterStore ps, NDArray ids, Cache cache) {
        NDManager m = ids.getManager();
        long b = ids.getShape().get(0);
        long t = ids.getShape().get(1);
        NDArray range = m.arange(0, (int) t, 1, DataType.INT64);
        NDArray posIds = range.reshape(1, t).sub(cache.pads.reshape(b, 1)).maximum(0);
        NDArray x = Embedding.embedding(ids, ps.getValue(tokens, ids.getDevice(), false), SparseFormat.DENSE).head()
                .add(Embedding.embedding(posIds, ps.getValue(positions, ids.getDevice(), false), SparseFormat.DENSE).head());
        NDArray kIdx = range.reshape(1, 1, 1, t);
        NDArray qIdx = range.reshape(1, 1, t, 1);
        NDArray allowed = kIdx.lte(qIdx).logicalAnd(kIdx.gte(cache.pads.reshape(b, 1, 1, 1)));
        NDArray bias = allowed.toType(DataType.FLOAT32, false).sub(1f).mul(-NEG);
        for (int i = 0; i < layers.length; i++) {
            NDArray[] kv = layers[i].keysValues(ps, x);
            cache.keys[i] = kv[0];
            cache.values[i] = kv[1];
            x = layers[i].forward(ps, new NDList(x, bias), false).head();
        }
        cache.length = t;
        return logProbs(ps, x.get(":, -1:, :"), cache);
    }

    /** Appends one token per row [B, 1] and returns the next-token log-probabilities [B, V]. */
    NDArray step(ParameterStore ps, NDArray next, Cache cache) {
        NDManager m = next.getManager();
        if (cache.length + 1 > config.maxLen()) {
            throw new IllegalArgumentException("sequence exceeds the model's maxLen " + config.maxLen());
        }
        NDArray x = Embedding.embedding(next, ps.getValue(tokens, next.getDevice(), false), SparseFormat.DENSE).head()
                .add(Embedding.embedding(cache.nextPositions(m), ps.getValue(positions, next.getDevice(), false), SparseFormat.DENSE).head());
        long tk = cache.length + 1;
        NDArray bias = cache.nextBias(m, tk);
        for (int i = 0; i < layers.length; i++) {
            NDArray[] out = layers[i].step(ps, x, bias, cache.keys[i], cache.values[i]);
            x = out[0];
            cache.keys[i] = out[1];
            cache.values[i] = out[2];
        }
        cache.length = tk;
        return logProbs(ps, x, cache);
    }

    /** Next-token log-probabilities [B, V] of one position per row [B, 1, d]. */
    private NDArray logProbs(ParameterStore ps, NDArray last, Cache cache) {
        NDArray logits = head.forward(ps, new NDList(lnFinal.forward(ps, new NDList(last), false).head()), false).head().squeeze(1);
        return logits.add(cache.vocabMask()).logSoftmax(1);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape ids = inputShapes[0];
        return new Shape[] {new Shape(ids.get(0), ids.get(1), config.vocab())};
    }

    @Override
    public void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape ids = inputShapes[0];
        Shape x = new Shape(ids.get(0), ids.get(1), config.dim());
        Shape bias = new Shape(ids.get(0), 1, ids.get(1), ids.get(1));
        for (TransformerLayer layer : layers) {
            layer.initialize(manager, dataType, x, bias);
        }
        lnFinal.initialize(manager, dataType, x);
        head.initialize(manager, dataType, x);
    }
}
