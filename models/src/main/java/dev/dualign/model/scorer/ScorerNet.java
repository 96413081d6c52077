package dev.dualign.model.scorer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.NormalInitializer;
import ai.djl.util.PairList;

/**
 * A scorer over (prompt, response) tokens. The response is a bag of its words and hashed word
 * bigrams (summed, so repeated phrases count), the prompt a mean of its word embeddings; the head
 * sees [response, prompt, response ⊙ prompt], the product letting "helpful for this intent" be
 * learned. Inputs: prompt ids [B, P], prompt mask [B, P], response feature ids [B, F], response
 * mask [B, F] (id 0 is padding everywhere).
 */
final class ScorerNet extends AbstractBlock {
    private final ScorerConfig config;
    private final Parameter promptEmb;
    private final Parameter responseEmb;
    private final Linear hidden;
    private final Linear out;

    ScorerNet(ScorerConfig config) {
        this.config = config;
        promptEmb = addParameter(Parameter.builder().setName("promptEmb").setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(config.vocab(), config.dim())).optInitializer(new NormalInitializer(0.1f)).build());
        responseEmb = addParameter(Parameter.builder().setName("responseEmb").setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(config.vocab() + config.buckets(), config.dim()))
                .optInitializer(new NormalInitializer(0.1f)).build());
        hidden = addChildBlock("hidden", Linear.builder().setUnits(config.hidden()).build());
        out = addChildBlock("out", Linear.builder().setUnits(1).build());
    }

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList in, boolean training, PairList<String, Object> params) {
        NDArray pIds = in.get(0);
        NDArray pMask = in.get(1);
        NDArray rIds = in.get(2);
        NDArray rMask = in.get(3);
        NDArray pe = Embedding.embedding(pIds, ps.getValue(promptEmb, pIds.getDevice(), training), SparseFormat.DENSE).head();
        NDArray re = Embedding.embedding(rIds, ps.getValue(responseEmb, rIds.getDevice(), training), SparseFormat.DENSE).head();
        NDArray p = pe.mul(pMask.expandDims(2)).sum(new int[] {1}).div(pMask.sum(new int[] {1}, true).maximum(1f));
        NDArray r = re.mul(rMask.expandDims(2)).sum(new int[] {1});
        NDArray x = NDArrays.concat(new NDList(r, p, r.mul(p)), 1);
        NDArray h = Activation.relu(hidden.forward(ps, new NDList(x), training).head());
        return new NDList(out.forward(ps, new NDList(h), training).head().squeeze(1));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {new Shape(inputShapes[0].get(0))};
    }

    @Override
    public void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        long b = inputShapes[0].get(0);
        hidden.initialize(manager, dataType, new Shape(b, 3L * config.dim()));
        out.initialize(manager, dataType, new Shape(b, config.hidden()));
    }
}
