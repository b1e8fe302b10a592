package dev.tornadovit.backend.cpu;

import dev.tornadovit.tensor.ActivationMemory;
import dev.tornadovit.tensor.AttentionCore;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tensor.Write;

/**
 * {@link CpuBackend}'s attention core, on {@link FusedAttention}: the scores and their gradients live in a per-thread
 * tile, so the only [B,H,T,T] tensors are the weights and, where φ's backward reads them, the scores. Without a step
 * inside, it reads q, k, v in place in qkv and writes merged directly (no per-head copies); with a
 * {@link QueryKeyStep} it splits the heads, runs the step and attends on the heads. A {@link MapStep} needs the maps
 * between φ and the product with V, which this core never has whole: {@link CpuBackend#attentionCore} composes that
 * core instead.
 */
final class FusedAttentionCore implements AttentionCore {
    private final CpuBackend be;
    private final Spec spec;
    private final int heads, headDim;
    private final float scale;
    private final AttentionWeighting weighting;
    private int tokens;
    /** The heads [B,H,T,hd] and their gradients: with a {@link QueryKeyStep} only. */
    private Tensor q, k, v, o, dO, dq, dk, dv;
    private Tensor scores, weights;

    FusedAttentionCore(CpuBackend be, Spec spec) {
        if (spec.maps() != null) throw new IllegalArgumentException("the fused attention core has no map step");
        this.be = be;
        this.spec = spec;
        this.heads = spec.heads();
        this.headDim = spec.headDim();
        this.scale = (float) spec.scale();
        this.weighting = spec.weighting();
    }

    @Override
    public void allocate(ActivationMemory memory, int batch, int tokens) {
        this.tokens = tokens;
        long perHead = (long) batch * heads * tokens * headDim, maps = (long) batch * heads * tokens * tokens;
        if (spec.queryKey() != null) {
            q = memory.activation(perHead);
            k = memory.activation(perHead);
            v = memory.activation(perHead);
            o = memory.activation(perHead);
            dO = memory.overwrittenGradient(perHead);
            // The step's backward adds into dq and dk, the fused backward into dv.
            dq = memory.gradient(perHead);
            dk = memory.gradient(perHead);
            dv = memory.gradient(perHead);
        }
        scores = weighting.backwardNeedsScores() ? memory.activation(maps) : null;
        weights = memory.activation(maps);
    }

    @Override
    public Tensor weights() {
        return weights;
    }

    @Override
    public void forward(Tensor qkv, Tensor merged, int batch, boolean backwardFollows) {
        boolean keepScores = backwardFollows && weighting.backwardNeedsScores();
        float[] s = keepScores ? be.f(scores) : null;
        QueryKeyStep step = spec.queryKey();
        if (step == null) {
            float[] in = be.f(qkv);
            FusedAttention.forward(be.precision(), FusedAttention.Layouts.inProjections(heads, tokens, headDim), in,
                    in, in, s, be.f(weights), be.f(merged), batch * heads, tokens, headDim, scale, weighting,
                    keepScores);
            return;
        }
        be.splitHeads(qkv, q, k, v, batch, tokens, heads, headDim);
        step.forward(q, k, batch);
        FusedAttention.forward(be.precision(), be.f(step.queries()), be.f(step.keys()), be.f(v), s, be.f(weights),
                be.f(o), batch * heads, tokens, headDim, scale, weighting, keepScores);
        be.mergeHeads(o, merged, batch, tokens, heads, headDim);
    }

    @Override
    public void backward(Tensor qkv, Tensor dMerged, Tensor dQkv, int batch) {
        float[] s = weighting.backwardNeedsScores() ? be.f(scores) : null;
        QueryKeyStep step = spec.queryKey();
        if (step == null) {
            float[] in = be.f(qkv), grad = be.f(dQkv);
            FusedAttention.backward(be.precision(), FusedAttention.Layouts.inProjections(heads, tokens, headDim),
                    be.f(dMerged), in, in, in, s, be.f(weights), grad, grad, grad, batch * heads, tokens, headDim,
                    scale, weighting, true);
            return;
        }
        be.mergeHeadsBackward(dMerged, dO, batch, tokens, heads, headDim, Write.OVERWRITE);
        FusedAttention.backward(be.precision(), be.f(dO), be.f(step.queries()), be.f(step.keys()), be.f(v), s,
                be.f(weights), be.f(step.queriesGradient()), be.f(step.keysGradient()), be.f(dv), batch * heads,
                tokens, headDim, scale, weighting);
        step.backward(q, k, dq, dk, batch);
        be.splitHeadsBackward(dq, dk, dv, dQkv, batch, tokens, heads, headDim, Write.OVERWRITE);
    }
}
