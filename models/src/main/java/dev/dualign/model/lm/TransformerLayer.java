package dev.dualign.model.lm;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * One pre-norm decoder layer: x + attn(LN(x)) then x + MLP(LN(x)). Attention takes an additive
 * bias [B, 1, T, T] (0 where allowed, −1e9 where not) that encodes both causality and left padding.
 */
final class TransformerLayer extends AbstractBlock {
    private final int dim;
    private final int heads;
    private final LayerNorm ln1;
    private final LayerNorm ln2;
    private final Linear qkv;
    private final Linear proj;
    private final Linear up;
    private final Linear down;

    TransformerLayer(int dim, int heads) {
        this.dim = dim;
        this.heads = heads;
        ln1 = addChildBlock("ln1", LayerNorm.builder().axis(2).build());
        qkv = addChildBlock("qkv", Linear.builder().setUnits(3L * dim).build());
        proj = addChildBlock("proj", Linear.builder().setUnits(dim).build());
        ln2 = addChildBlock("ln2", LayerNorm.builder().axis(2).build());
        up = addChildBlock("up", Linear.builder().setUnits(4L * dim).build());
        down = addChildBlock("down", Linear.builder().setUnits(dim).build());
    }

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.get(0);
        NDArray bias = inputs.get(1);
        long b = x.getShape().get(0);
        long t = x.getShape().get(1);
        int dh = dim / heads;
        NDArray h = ln1.forward(ps, new NDList(x), training).head();
        NDArray qkvOut = qkv.forward(ps, new NDList(h), training).head(); // [B,T,3d]
        NDList parts = qkvOut.split(3, 2);
        NDArray q = parts.get(0).reshape(b, t, heads, dh).transpose(0, 2, 1, 3);
        NDArray k = parts.get(1).reshape(b, t, heads, dh).transpose(0, 2, 1, 3);
        NDArray v = parts.get(2).reshape(b, t, heads, dh).transpose(0, 2, 1, 3);
        NDArray scores = q.matMul(k.transpose(0, 1, 3, 2)).div(Math.sqrt(dh)).add(bias);
        NDArray att = scores.softmax(-1).matMul(v).transpose(0, 2, 1, 3).reshape(b, t, dim);
        x = x.add(proj.forward(ps, new NDList(att), training).head());
        NDArray h2 = ln2.forward(ps, new NDList(x), training).head();
        NDArray ff = down.forward(ps, new NDList(Activation.gelu(up.forward(ps, new NDList(h2), training).head())), training).head();
        return new NDList(x.add(ff));
    }

    /**
     * One decoding step with a key/value cache: {@code x} is [B, 1, d] for the newest token,
     * {@code bias} [B, 1, 1, Tk+1] masks padded keys, {@code kCache} is [B, h, dh, Tk] (transposed)
     * and {@code vCache} [B, h, Tk, dh]. Returns the layer output and the caches with this token's
     * key and value appended (the old caches are closed).
     */
    NDArray[] step(ParameterStore ps, NDArray x, NDArray bias, NDArray kCache, NDArray vCache) {
        long b = x.getShape().get(0);
        int dh = dim / heads;
        NDArray h = ln1.forward(ps, new NDList(x), false).head();
        NDList parts = qkv.forward(ps, new NDList(h), false).head().split(3, 2);
        // one position: [B, 1, h·dh] holds its elements in the order of [B, h, 1, dh], and of the
        // transposed key [B, h, dh, 1], so reshapes alone give the head layout
        NDArray q = parts.get(0).reshape(b, heads, 1, dh);
        NDArray k = parts.get(1).reshape(b, heads, dh, 1);
        NDArray v = parts.get(2).reshape(b, heads, 1, dh);
        NDArray keys = kCache == null ? k : kCache.concat(k, 3);
        NDArray values = vCache == null ? v : vCache.concat(v, 2);
        if (kCache != null) {
            kCache.close();
            vCache.close();
        }
        NDArray scores = q.matMul(keys).div(Math.sqrt(dh)).add(bias);
        NDArray att = scores.softmax(-1).matMul(values).reshape(b, 1, dim);
        x = x.add(proj.forward(ps, new NDList(att), false).head());
        NDArray h2 = ln2.forward(ps, new NDList(x), false).head();
        NDArray ff = down.forward(ps, new NDList(Activation.gelu(up.forward(ps, new NDList(h2), false).head())), false).head();
        return new NDArray[] {x.add(ff), keys, values};
    }

    /** The keys [B, h, dh, T] (transposed, as {@link #step} multiplies by them) and values [B, h, T, dh] of a whole prefix [B, T, d]. */
    NDArray[] keysValues(ParameterStore ps, NDArray x) {
        long b = x.getShape().get(0);
        long t = x.getShape().get(1);
        int dh = dim / heads;
        NDArray h = ln1.forward(ps, new NDList(x), false).head();
        NDList parts = qkv.forward(ps, new NDList(h), false).head().split(3, 2);
        return new NDArray[] {parts.get(1).reshape(b, t, heads, dh).transpose(0, 2, 3, 1),
            parts.get(2).reshape(b, t, heads, dh).transpose(0, 2, 1, 3)};
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    @Override
    public void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape x = inputShapes[0];
        ln1.initialize(manager, dataType, x);
        qkv.initialize(manager, dataType, x);
        proj.initialize(manager, dataType, x);
        ln2.initialize(manager, dataType, x);
        up.initialize(manager, dataType, x);
        down.initialize(manager, dataType, new Shape(x.get(0), x.get(1), 4L * dim));
    }
}
