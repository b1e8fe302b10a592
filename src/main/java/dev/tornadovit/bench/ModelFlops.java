package dev.tornadovit.bench;

import dev.tornadovit.model.ViTConfig;

/**
 * The arithmetic of a ViT: floating-point operations (a multiply-add counts two) of its matrix products per image,
 * which is what bounds its speed on a machine's FMA units. Elementwise work (LayerNorm, GELU, softmax, residuals) is
 * not counted; it is a few percent of the operations and is bound by memory instead.
 */
public final class ModelFlops {

    private ModelFlops() {}

    /**
     * One image's forward pass: patch embedding; per block q/k/v, scores QKᵀ, weights·V, the output projection, the
     * gate's projection (if gated), re-attention's H×H mixing of the maps (in the blocks that have it), fc1 and fc2;
     * the classifier head.
     */
    public static double forwardPerImage(ViTConfig c) {
        long t = c.tokens(), d = c.width(), h = c.heads(), headDim = d / h;
        long multiplyAdds = patchEmbeddingMultiplyAdds(c) + d * c.numClasses();
        for (int block = 0; block < c.depth(); block++) {
            multiplyAdds += t * d * 3 * d               // q, k, v
                    + 2 * h * t * t * headDim           // QKᵀ and weights·V
                    + t * d * d                         // output projection
                    + 2 * t * d * c.mlpDim();           // fc1, fc2
            if (c.attention().gate()) multiplyAdds += t * d * d;
            if (c.attention().reattentionIn(block, c.depth())) multiplyAdds += h * h * t * t;
        }
        return 2.0 * multiplyAdds;
    }

    /**
     * One image's training step: the forward, then a backward that does each product twice (the gradients of both
     * operands), except the patch embedding's, whose input (the image) needs no gradient.
     */
    public static double trainingPerImage(ViTConfig c) {
        return 3 * forwardPerImage(c) - 2.0 * patchEmbeddingMultiplyAdds(c);
    }

    private static long patchEmbeddingMultiplyAdds(ViTConfig c) {
        return (long) c.patchCount() * c.channels() * c.patchSize() * c.patchSize() * c.width();
    }
}
