package dev.tornadovit.model;

import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tensor.Write;

/** Non-overlapping p×p patches → a Linear to width D: a stride-p convolution written as im2col + matmul. */
public final class PatchEmbed {
    private final Backend be;
    private final ViTConfig c;
    private final int patchLength;
    final Parameter weight, bias;
    private Tensor patches, out;

    PatchEmbed(ParameterStore store, ViTConfig c) {
        this.be = store.backend();
        this.c = c;
        this.patchLength = c.channels() * c.patchSize() * c.patchSize();
        // LeCun-normal fan-in scaling, as a convolution over C·p·p inputs.
        weight = store.truncNormal("patch_embed.proj.weight", 1 / Math.sqrt(patchLength), true,
                c.width(), c.channels(), c.patchSize(), c.patchSize());
        bias = store.constant("patch_embed.proj.bias", 0, false, c.width());
    }

    void allocate(Workspace ws, int batch) {
        patches = ws.activation(batch * c.patchCount() * patchLength);
        out = ws.activation(batch * c.patchCount() * c.width());
    }

    Tensor forward(Tensor images, int batch) {
        be.im2col(images, patches, batch, c.channels(), c.imageHeight(), c.imageWidth(), c.patchSize());
        be.linear(patches, weight.value(), bias.value(), out, batch * c.patchCount(), patchLength, c.width());
        return out;
    }

    /** The images need no gradient, so only the weights receive one. */
    void backward(Tensor dOut, int batch) {
        be.linearBackward(dOut, patches, weight.value(), null, weight.grad(), bias.grad(), batch * c.patchCount(),
                patchLength, c.width(), Write.ACCUMULATE);
    }
}
