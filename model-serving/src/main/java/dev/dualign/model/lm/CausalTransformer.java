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
 * to one.
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
        NDArray logits = head.forward(ps, new NDList(lnFinal.forward(ps, new NDList(x), training).head()), training).head();
        float[] maskVals = new float[config.vocab()];
        maskVals[WordTokenizer.PAD] = NEG;
        maskVals[WordTokenizer.UNK] = NEG;
        maskVals[WordTokenizer.BOS] = NEG;
        maskVals[WordTokenizer.SEP] = NEG;
        NDArray vocabMask = m.create(maskVals).reshape(1, 1, config.vocab());
        return new NDList(logits.add(vocabMask).logSoftmax(2));
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
