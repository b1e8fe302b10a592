package dev.tornadovit.tornado;

import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;

/**
 * A {@link TornadoBackend}'s fused attention kernels launched alone, outside an attention core (head dimension at most
 * 64): for benchmarks, and for inference code that needs no attention maps; and the unfused backward beside them. Not part of {@link Backend}: the model
 * keeps the maps (its backward pass, the attention-map analyses) and gets the fused kernels through its attention core
 * when graphs are recorded.
 */
public final class FusedAttention {
    private final TornadoBackend backend;

    public FusedAttention(TornadoBackend backend) {
        this.backend = backend;
    }

    /** o [BH,T,hd] = φ(qkScale·q·kᵀ)·v without writing the [BH,T,T] scores and weights anywhere. */
    public void pointwiseWithoutMaps(Tensor q, Tensor k, Tensor v, Tensor o, int batchHeads, int tokens, int headDim,
                                     double qkScale, AttentionWeighting weighting) {
        backend.attention().pointwiseAttentionWithoutMaps(q, k, v, o, batchHeads, tokens, headDim, qkScale, weighting);
    }

    /** As the attention core records it for training: o = φ(qkScale·q·kᵀ)·v, writing the scores and weights too. */
    public void pointwiseWithMaps(Tensor q, Tensor k, Tensor v, Tensor scores, Tensor weights, Tensor o,
                                  int batchHeads, int tokens, int headDim, double qkScale,
                                  AttentionWeighting weighting) {
        Attention.requireFusable(weighting, headDim);
        backend.attention().pointwiseAttention(q, k, v, scores, weights, o, batchHeads, tokens, headDim, qkScale,
                weighting);
    }

    /**
     * Pointwise attention's backward as the attention core records it where it fuses: dq, dk, dv (+)= their gradients
     * from dO, q, k, v and the kept scores, in two kernels that write no [BH,T,T] gradient; {@code accumulate} adds
     * into dq, dk, dv instead of overwriting them.
     */
    public void pointwiseBackward(Tensor dO, Tensor q, Tensor k, Tensor v, Tensor scores, Tensor dq, Tensor dk,
                                  Tensor dv, int batchHeads, int tokens, int headDim, double qkScale,
                                  AttentionWeighting weighting, boolean accumulate) {
        backend.attention().pointwiseAttentionBackward(dO, q, k, v, scores, dq, dk, dv, batchHeads, tokens, headDim,
                qkScale, weighting, accumulate ? 1 : 0);
    }

    /**
     * The same backward as the attention core records it where it does not fuse, for comparison: dO·vᵀ and Wᵀ·dO, φ's
     * (or softmax's) backward, dS·k and dSᵀ·q, writing dWeights and dScores [BH,T,T] on the way.
     */
    public void unfusedBackward(Tensor dO, Tensor q, Tensor k, Tensor v, Tensor scores, Tensor weights,
                                Tensor dWeights, Tensor dScores, Tensor dq, Tensor dk, Tensor dv, int batchHeads,
                                int tokens, int headDim, double qkScale, AttentionWeighting weighting,
                                boolean accumulate) {
        backend.attention().attentionBackward(dO, q, k, v, scores, weights, dWeights, dScores, dq, dk, dv, batchHeads,
                tokens, headDim, qkScale, weighting, accumulate ? 1 : 0);
    }

    /**
     * As the attention core records it for training: o = softmax(qkScale·q·kᵀ)·v, writing the weights too, not the
     * scores (softmax's backward reads only the weights).
     */
    public void softmaxWithWeights(Tensor q, Tensor k, Tensor v, Tensor weights, Tensor o, int batchHeads, int tokens,
                                   int headDim, double qkScale) {
        backend.attention().softmaxAttention(q, k, v, weights, o, batchHeads, tokens, headDim, qkScale);
    }

    /** o = softmax(qkScale·q·kᵀ)·v with an online softmax, without writing the scores and weights anywhere. */
    public void softmaxWithoutMaps(Tensor q, Tensor k, Tensor v, Tensor o, int batchHeads, int tokens, int headDim,
                                   double qkScale) {
        SoftmaxAttention.withoutMaps(backend, q, k, v, o, batchHeads, tokens, headDim, qkScale);
    }
}
