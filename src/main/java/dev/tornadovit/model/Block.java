package dev.tornadovit.model;

import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;

/** A pre-LayerNorm transformer block: x + attn(norm1(x)), then + mlp(norm2(·)). */
public final class Block {
    private final Backend be;
    private final int dim;
    final Parameter norm1W, norm1B, norm2W, norm2B;
    final Attention attn;
    final Mlp mlp;
    private int tokens;
    private Tensor input, ln1, ln1Mean, ln1Rstd, mid, ln2, ln2Mean, ln2Rstd, out;
    private Tensor dLn1, dLn2;

    Block(ParameterStore store, int index, ViTConfig c) {
        String prefix = "blocks." + index + ".";
        this.be = store.backend();
        this.dim = c.width();
        norm1W = store.constant(prefix + "norm1.weight", 1, false, dim);
        norm1B = store.constant(prefix + "norm1.bias", 0, false, dim);
        attn = new Attention(store, prefix + "attn.", dim, c.heads(), c.attention(),
                c.attention().reattentionIn(index, c.depth()));
        norm2W = store.constant(prefix + "norm2.weight", 1, false, dim);
        norm2B = store.constant(prefix + "norm2.bias", 0, false, dim);
        mlp = new Mlp(store, prefix + "mlp.", dim, c.mlpDim());
    }

    void allocate(Workspace ws, int batch, int tokens) {
        this.tokens = tokens;
        int n = batch * tokens * dim, rows = batch * tokens;
        ln1 = ws.activation(n);
        ln1Mean = ws.activation(rows);
        ln1Rstd = ws.activation(rows);
        mid = ws.activation(n);
        ln2 = ws.activation(n);
        ln2Mean = ws.activation(rows);
        ln2Rstd = ws.activation(rows);
        out = ws.activation(n);
        // Each written whole by its branch's backward before LayerNorm's backward reads it: shared by the blocks.
        dLn1 = ws.backwardScratch("block.dLn1", n);
        dLn2 = ws.backwardScratch("block.dLn2", n);
        attn.allocate(ws, batch, tokens);
        mlp.allocate(ws, batch, tokens);
    }

    Tensor output() {
        return out;
    }

    void forward(Tensor x, int batch) {
        input = x;
        int rows = batch * tokens;
        be.layerNorm(x, norm1W.value(), norm1B.value(), ln1, ln1Mean, ln1Rstd, rows, dim, ViTConfig.LAYER_NORM_EPS);
        // the attention half's residual and the MLP half's norm in one operation (fused where the backend can)
        be.addLayerNorm(x, attn.forward(ln1, batch), mid, norm2W.value(), norm2B.value(), ln2, ln2Mean, ln2Rstd, rows,
                dim, ViTConfig.LAYER_NORM_EPS);
        be.add(mid, mlp.forward(ln2, batch), out, rows * dim);
    }

    /**
     * The MLP half's backward, in place on the residual stream's gradient: {@code dStream} holds ∂loss/∂out on entry
     * and ∂loss/∂mid on return. The residual connection passes the gradient through unchanged, so only the branch's
     * contribution (through norm2) is added: no copy, and no separate buffer to zero, per block.
     */
    void backwardMlp(Tensor dStream, int batch) {
        int rows = batch * tokens;
        mlp.backward(ln2, dStream, dLn2, batch);
        be.layerNormBackward(dLn2, mid, norm2W.value(), ln2Mean, ln2Rstd, dStream, norm2W.grad(), norm2B.grad(), rows,
                dim);
    }

    /** The attention half's backward, in place as {@link #backwardMlp}: ∂loss/∂mid in, ∂loss/∂input out. */
    void backwardAttention(Tensor dStream, int batch) {
        int rows = batch * tokens;
        attn.backward(ln1, dStream, dLn1, batch);
        be.layerNormBackward(dLn1, input, norm1W.value(), ln1Mean, ln1Rstd, dStream, norm1W.grad(), norm1B.grad(), rows,
                dim);
    }
}
