package dev.tornadovit.tornado;

import dev.tornadovit.tensor.AttentionCore;
import dev.tornadovit.tensor.ComposedAttentionCore;
import dev.tornadovit.tensor.Tensor;

/**
 * {@link TornadoBackend}'s attention core without Re-attention: the composed core's split and merge of the heads and
 * its qk-norm step, with scores → φ → ·V recorded as one fused kernel where {@link Attention#fusesPointwise} or
 * {@link Attention#fusesSoftmax} (longer heads, and cuBLAS devices, run the three operations). Pointwise attention's
 * backward is then two fused kernels too (no [BH,T,T] gradient written); otherwise the backward writes its scratch
 * gradients (dWeights, dScores) instead of zeroing them and adding. dq, dk, dv are written, not added into, when
 * nothing else adds into them: two launches and their memory traffic fewer per tensor.
 */
final class FusedPointwiseCore extends ComposedAttentionCore {
    private final Attention ops;

    FusedPointwiseCore(TornadoBackend backend, Attention ops, AttentionCore.Spec spec) {
        super(backend, spec);
        if (spec.maps() != null) throw new IllegalArgumentException("the fused attention core has no map step");
        this.ops = ops;
    }

    @Override
    protected void attend(Tensor queries, Tensor keys, int batch, boolean backwardFollows) {
        if (ops.fusesPointwise(spec.weighting(), headDim)) {
            ops.pointwiseAttention(queries, keys, v, scores, weights, o, batch * heads, tokens, headDim, spec.scale(),
                    spec.weighting());
        } else if (ops.fusesSoftmax(spec.weighting(), headDim)) {
            ops.softmaxAttention(queries, keys, v, weights, o, batch * heads, tokens, headDim, spec.scale());
        } else {
            super.attend(queries, keys, batch, backwardFollows);
        }
    }

    @Override
    protected void attendBackward(Tensor queries, Tensor keys, Tensor dQueries, Tensor dKeys, int batch) {
        // Without qk-norm dq, dk, dv have this one writer; with it, dv and the step's gradients are zeroed ones.
        int accumulate = spec.queryKey() == null ? 0 : 1;
        if (ops.fusesPointwise(spec.weighting(), headDim)) {
            ops.pointwiseAttentionBackward(dO, queries, keys, v, scores, dQueries, dKeys, dv, batch * heads, tokens,
                    headDim, spec.scale(), spec.weighting(), accumulate);
            return;
        }
        ops.attentionBackward(dO, queries, keys, v, scores, weights, dWeights, dScores, dQueries, dKeys, dv,
                batch * heads, tokens, headDim, spec.scale(), spec.weighting(), accumulate);
    }
}
