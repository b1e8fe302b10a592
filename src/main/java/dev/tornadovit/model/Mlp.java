package dev.tornadovit.model;

import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tensor.Write;

/** fc1 → exact GELU → fc2, forward and backward side by side. */
public final class Mlp {
    private final Backend be;
    private final int dim, hidden;
    final Parameter fc1W, fc1B, fc2W, fc2B;
    private int tokens;
    private Tensor h, a, out, dH, dA;

    Mlp(ParameterStore store, String prefix, int dim, int hidden) {
        this.be = store.backend();
        this.dim = dim;
        this.hidden = hidden;
        fc1W = store.truncNormal(prefix + "fc1.weight", 0.02, true, hidden, dim);
        fc1B = store.constant(prefix + "fc1.bias", 0, false, hidden);
        fc2W = store.truncNormal(prefix + "fc2.weight", 0.02, true, dim, hidden);
        fc2B = store.constant(prefix + "fc2.bias", 0, false, dim);
    }

    void allocate(Workspace ws, int batch, int tokens) {
        this.tokens = tokens;
        h = ws.activation(batch * tokens * hidden);
        a = ws.activation(batch * tokens * hidden);
        out = ws.activation(batch * tokens * dim);
        // Written and read within this block's backward, so shared by the blocks; dA only where GELU's backward is not
        // in fc2's product.
        dH = ws.backwardScratch("mlp.dHidden", (long) batch * tokens * hidden);
        dA = be.linearGeluBackwardUsesScratch() ? ws.backwardScratch("mlp.dGelu", (long) batch * tokens * hidden) : null;
    }

    Tensor forward(Tensor x, int batch) {
        int rows = batch * tokens;
        be.linearGelu(x, fc1W.value(), fc1B.value(), h, a, rows, dim, hidden);
        be.linear(a, fc2W.value(), fc2B.value(), out, rows, hidden, dim);
        return out;
    }

    /** Writes ∂loss/∂x into dx (overwrites) given ∂loss/∂out; parameter gradients accumulate. */
    void backward(Tensor x, Tensor dOut, Tensor dx, int batch) {
        int rows = batch * tokens;
        be.linearGeluBackward(dOut, a, fc2W.value(), h, dA, dH, fc2W.grad(), fc2B.grad(), rows, hidden, dim);
        be.linearBackward(dH, x, fc1W.value(), dx, fc1W.grad(), fc1B.grad(), rows, dim, hidden, Write.OVERWRITE);
    }
}
