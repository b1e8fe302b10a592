package dev.tornadovit.tornado;

import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tornado.kernels.AttentionKernels;
import dev.tornadovit.tornado.kernels.DeviceMath;
import dev.tornadovit.tornado.kernels.ElementwiseKernels;
import dev.tornadovit.tornado.kernels.ReductionKernels;
import dev.tornadovit.tornado.kernels.RowKernels;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.WorkerGrid3D;

import java.util.ArrayList;
import java.util.List;

import static dev.tornadovit.tornado.Launches.REDUCE_LOCAL;
import static dev.tornadovit.tornado.Launches.ceilDiv;
import static dev.tornadovit.tornado.Launches.chunks;
import static dev.tornadovit.tornado.Launches.distinctOutputs;
import static dev.tornadovit.tornado.Launches.grid1;
import static dev.tornadovit.tornado.Launches.grid2;
import static dev.tornadovit.tornado.Launches.rowLocal;
import static dev.tornadovit.tornado.Launches.task;

/**
 * {@link TornadoBackend}'s attention core: scores, weights (softmax or pointwise), their application to the values,
 * Re-attention's head mix, their backward passes, and the fused pointwise-attention kernel that replaces a recorded
 * scores → weights → ·V sequence.
 */
final class Attention extends DeviceOperations {
    /** scores [BH,T,T] = scale·q·kᵀ. */
    record ScoresOp(DeviceTensor q, DeviceTensor k, DeviceTensor scores, int batchHeads, int tokens, int headDim,
                    float scale) {
    }

    /** weights = L^-α·h(scores), pointwise. */
    record PointwiseOp(DeviceTensor scores, DeviceTensor weights, int rows, int keys, int kind, float scale) {
    }

    /** o = weights·v. */
    record ApplyOp(DeviceTensor weights, DeviceTensor v, DeviceTensor o, int batchHeads, int tokens, int headDim) {
    }

    private final MatrixProducts products;

    Attention(TornadoBackend backend, MatrixProducts products) {
        super(backend);
        this.products = products;
    }

    /**
     * Replaces each recorded scores → pointwise weights → ·V sequence over the same tensors by one fused task that
     * also writes the scores and weights (the backward pass and attention-map readers use them).
     */
    static List<Task> fusePointwiseAttention(List<Task> tasks) {
        List<Task> out = new ArrayList<>();
        for (int i = 0; i < tasks.size(); i++) {
            if (i + 2 < tasks.size() && tasks.get(i).op() instanceof ScoresOp sc
                    && tasks.get(i + 1).op() instanceof PointwiseOp pw && tasks.get(i + 2).op() instanceof ApplyOp ap
                    && pw.scores() == sc.scores() && ap.weights() == pw.weights() && pw.keys() == sc.tokens()
                    && pw.rows() == sc.batchHeads() * sc.tokens() && ap.batchHeads() == sc.batchHeads()
                    && ap.tokens() == sc.tokens() && ap.headDim() == sc.headDim()
                    && sc.headDim() <= AttentionKernels.MAX_HEAD_DIM) {
                out.add(fusedAttention(sc.q(), sc.k(), ap.v(), sc.scores(), pw.weights(), ap.o(), sc.batchHeads(),
                        sc.tokens(), sc.headDim(), sc.scale(), pw.kind(), pw.scale(), true));
                i += 2;
            } else {
                out.add(tasks.get(i));
            }
        }
        return out;
    }

    /**
     * Pointwise attention for inference as one kernel: o [BH,T,hd] = φ(qkScale·q·kᵀ)·v without writing the
     * [BH,T,T] scores and weights anywhere (head dimension at most 64). Not part of {@link Backend}: the model keeps
     * the maps (backward pass, attention maps) and gets the fused kernel through graph recording; this is the
     * kernel alone, for benchmarks and inference code that needs no maps.
     */
    void pointwiseAttentionWithoutMaps(Tensor q, Tensor k, Tensor v, Tensor o, int batchHeads, int tokens,
                                       int headDim, double qkScale, AttentionWeighting weighting) {
        if (weighting.softmax()) throw new IllegalArgumentException("softmax weights are not pointwise");
        if (headDim > AttentionKernels.MAX_HEAD_DIM) {
            throw new IllegalArgumentException("the fused kernel takes head dimensions up to "
                                               + AttentionKernels.MAX_HEAD_DIM + ", not " + headDim);
        }
        submit(fusedAttention(t(q), t(k), t(v), unused, unused2, t(o), batchHeads, tokens, headDim, (float) qkScale,
               activationCode(weighting), (float) weighting.scale(tokens), false));
    }

    /** The fused pointwise-attention task; without {@code storeMaps} scores and weights are not written. */
    static Task fusedAttention(DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor scores, DeviceTensor weights,
                               DeviceTensor o, int batchHeads, int tokens, int headDim, float qkScale, int kind, float scale,
                               boolean storeMaps) {
        int store = storeMaps ? 1 : 0;
        WorkerGrid3D grid = new WorkerGrid3D(16, ceilDiv(tokens, AttentionKernels.QUERIES) * 16, batchHeads);
        grid.setLocalWork(16, 16, 1);
        return task("pointwiseAttention", grid, (g, id) -> g.task(id, AttentionKernels::pointwiseAttention,
                    new KernelContext(), q.array, k.array, v.array, scores.array, weights.array, o.array, tokens,
                    headDim, qkScale, kind, scale, store),
                    q, k, v, scores, weights, o, tokens, headDim, qkScale, kind, scale, store);
    }

    void attentionScores(Tensor q, Tensor k, Tensor scores, int batchHeads, int tokens, int headDim,
                         double scale) {
        int th = tokens * headDim;
        DeviceTensor qq = t(q), kk = t(k), ss = t(scores);
        submit(products.gemm(qq, kk, ss, null, tokens, tokens, headDim, batchHeads, th, th, tokens * tokens, 0, 1, (float) scale, 0)
               .withOp(new ScoresOp(qq, kk, ss, batchHeads, tokens, headDim, (float) scale)));
    }

    void attentionScoresBackward(Tensor dScores, Tensor q, Tensor k, Tensor dq, Tensor dk, int batchHeads,
                                 int tokens, int headDim, double scale) {
        attentionScoresBackward(dScores, q, k, dq, dk, batchHeads, tokens, headDim, scale, 1);
    }

    private void attentionScoresBackward(Tensor dScores, Tensor q, Tensor k, Tensor dq, Tensor dk, int batchHeads,
                                         int tokens, int headDim, double scale, int accumulate) {
        int th = tokens * headDim, tt = tokens * tokens;
        DeviceTensor ds = t(dScores);
        // dq (+)= scale·dS·k ; dk (+)= scale·dSᵀ·q
        submit(products.gemm(ds, t(k), t(dq), null, tokens, headDim, tokens, batchHeads, tt, th, th, 0, 0, (float) scale, accumulate),
               products.gemm(ds, t(q), t(dk), null, tokens, headDim, tokens, batchHeads, tt, th, th, 1, 0, (float) scale, accumulate));
    }

    static int activationCode(AttentionWeighting w) {
        return switch (w.activation()) {
            case RELU -> DeviceMath.RELU;
            case RELU2 -> DeviceMath.RELU2;
            case GELU -> DeviceMath.GELU;
            case SOFTPLUS -> DeviceMath.SOFTPLUS;
            case IDENTITY -> DeviceMath.IDENTITY;
            case RELU6 -> DeviceMath.RELU6;
            case SIGMOID -> DeviceMath.SIGMOID;
        };
    }

    void attentionWeights(Tensor scores, Tensor weights, int rows, int keys, AttentionWeighting weighting) {
        DeviceTensor s = t(scores), a = t(weights);
        if (weighting.softmax()) {
            int local = rowLocal(keys);
            submit(task("softmax", grid1(rows * local, local), (g, id) -> g.task(id, RowKernels::softmax,
                   new KernelContext(), s.array, a.array, keys), s, a, rows, keys)
                   .withOp(new SoftmaxAttention.SoftmaxOp(s, a, rows, keys)));
        } else {
            int kind = activationCode(weighting), n = rows * keys;
            float scale = (float) weighting.scale(keys);
            submit(task("pointwiseWeights", null, (g, id) -> g.task(id, ElementwiseKernels::pointwiseWeights, s.array,
                   a.array, n, kind, scale), s, a, n, kind, scale).withOp(new PointwiseOp(s, a, rows, keys, kind, scale)));
        }
    }

    void attentionWeightsBackward(Tensor scores, Tensor weights, Tensor dWeights, Tensor dScores, int rows,
                                  int keys, AttentionWeighting weighting) {
        attentionWeightsBackward(scores, weights, dWeights, dScores, rows, keys, weighting, 1);
    }

    private void attentionWeightsBackward(Tensor scores, Tensor weights, Tensor dWeights, Tensor dScores, int rows,
                                          int keys, AttentionWeighting weighting, int accumulate) {
        DeviceTensor s = t(scores), a = t(weights), ga = t(dWeights), gs = t(dScores);
        if (weighting.softmax()) {
            int local = rowLocal(keys);
            submit(task("softmaxBackward", grid1(rows * local, local), (g, id) -> g.task(id, RowKernels::softmaxBackward,
                   new KernelContext(), a.array, ga.array, gs.array, keys, accumulate), a, ga, gs, rows, keys, accumulate));
        } else {
            int kind = activationCode(weighting), n = rows * keys;
            float scale = (float) weighting.scale(keys);
            submit(task("pointwiseWeightsBackward", null, (g, id) -> g.task(id,
                   ElementwiseKernels::pointwiseWeightsBackward, s.array, ga.array, gs.array, n, kind, scale, accumulate),
                   s, ga, gs, n, kind, scale, accumulate));
        }
    }

    void headMix(Tensor maps, Tensor theta, Tensor bias, Tensor out, int batch, int heads, int mapSize) {
        DeviceTensor a = t(maps), th = t(theta), b = t(bias), y = t(out);
        submit(task("headMix", null, (g, id) -> g.task(id, ElementwiseKernels::headMix, a.array, th.array, b.array,
               y.array, batch, heads, mapSize), a, th, b, y, batch, heads, mapSize));
    }

    void headMixBackward(Tensor dOut, Tensor maps, Tensor theta, Tensor dMaps, Tensor dTheta, Tensor dBias,
                         int batch, int heads, int mapSize) {
        DeviceTensor gy = t(dOut), a = t(maps), th = t(theta), ga = t(dMaps), gt = t(dTheta), gb = t(dBias);
        distinctOutputs("headMixBackward", ga, gt, gb);
        int outputs = heads * heads + heads;
        int chunks = chunks((long) batch * mapSize, 256);
        DeviceTensor partial = scratch("headMixGrad", outputs * chunks, gy, a, batch, heads, mapSize);
        submit(task("headMixBackwardMaps", null, (g, id) -> g.task(id, ElementwiseKernels::headMixBackwardMaps,
               gy.array, th.array, ga.array, batch, heads, mapSize), gy, th, ga, batch, heads, mapSize),
               task("headMixGradPartial", grid2(chunks * REDUCE_LOCAL, outputs, REDUCE_LOCAL, 1), (g, id) -> g.task(id,
               ReductionKernels::headMixGradPartial, new KernelContext(), gy.array, a.array, partial.array,
               batch, heads, mapSize, chunks), gy, a, partial, batch, heads, mapSize, chunks),
               task("headMixGradFinish", grid1(outputs * REDUCE_LOCAL, REDUCE_LOCAL), (g, id) -> g.task(id,
               ReductionKernels::headMixGradFinish, new KernelContext(), partial.array, gt.array, gb.array,
               heads, chunks), partial, gt, gb, heads, chunks));
    }

    void attentionApply(Tensor weights, Tensor v, Tensor o, int batchHeads, int tokens, int headDim) {
        int th = tokens * headDim;
        DeviceTensor w = t(weights), vv = t(v), out = t(o);
        submit(products.gemm(w, vv, out, null, tokens, headDim, tokens, batchHeads, tokens * tokens, th, th, 0, 0, 1f, 0)
               .withOp(new ApplyOp(w, vv, out, batchHeads, tokens, headDim)));
    }

    void attentionApplyBackward(Tensor dO, Tensor weights, Tensor v, Tensor dWeights, Tensor dv,
                                int batchHeads, int tokens, int headDim) {
        attentionApplyBackward(dO, weights, v, dWeights, dv, batchHeads, tokens, headDim, 1, 1);
    }

    private void attentionApplyBackward(Tensor dO, Tensor weights, Tensor v, Tensor dWeights, Tensor dv, int batchHeads,
                                        int tokens, int headDim, int accumulateWeights, int accumulateV) {
        int th = tokens * headDim, tt = tokens * tokens;
        DeviceTensor go = t(dO);
        // dA (+)= dO·vᵀ ; dv (+)= Aᵀ·dO
        submit(products.gemm(go, t(v), t(dWeights), null, tokens, tokens, headDim, batchHeads, th, th, tt, 0, 1, 1f,
               accumulateWeights),
               products.gemm(t(weights), go, t(dv), null, tokens, headDim, tokens, batchHeads, tt, th, th, 1, 0, 1f, accumulateV));
    }

    /**
     * The attention core's backward writing its scratch dWeights and dScores instead of zeroing and adding into them;
     * dq, dk, dv are added into (as {@link Backend#attentionBackward}) or, with {@code accumulateInputs} 0, overwritten.
     */
    private void attentionBackward(Tensor dO, Tensor q, Tensor k, Tensor v, Tensor scores, Tensor weights,
                                   Tensor dWeights, Tensor dScores, Tensor dq, Tensor dk, Tensor dv, int batchHeads,
                                   int tokens, int headDim, double scale, AttentionWeighting weighting,
                                   int accumulateInputs) {
        attentionApplyBackward(dO, weights, v, dWeights, dv, batchHeads, tokens, headDim, 0, accumulateInputs);
        attentionWeightsBackward(scores, weights, dWeights, dScores, batchHeads * tokens, tokens, weighting, 0);
        attentionScoresBackward(dScores, q, k, dq, dk, batchHeads, tokens, headDim, scale, accumulateInputs);
    }

    void attentionBackward(Tensor dO, Tensor q, Tensor k, Tensor v, Tensor scores, Tensor weights,
                           Tensor dWeights, Tensor dScores, Tensor dq, Tensor dk, Tensor dv, int batchHeads,
                           int tokens, int headDim, double scale, AttentionWeighting weighting) {
        attentionBackward(dO, q, k, v, scores, weights, dWeights, dScores, dq, dk, dv, batchHeads, tokens, headDim,
                          scale, weighting, 1);
    }

    /** As {@link Backend#attentionBackwardToQkv}, with every intermediate gradient written, none zeroed first. */
    void attentionBackwardToQkv(Tensor dMerged, Tensor qkv, Tensor q, Tensor k, Tensor v, Tensor scores,
                                Tensor weights, Tensor dWeights, Tensor dScores, Tensor dO, Tensor dq,
                                Tensor dk, Tensor dv, Tensor dQkv, int batch, int tokens, int heads,
                                int headDim, double scale, AttentionWeighting weighting) {
        backend.mergeHeadsBackwardOverwriting(dMerged, dO, batch, tokens, heads, headDim);
        attentionBackward(dO, q, k, v, scores, weights, dWeights, dScores, dq, dk, dv, batch * heads, tokens, headDim,
                          scale, weighting, 0);
        backend.splitHeadsBackwardOverwriting(dq, dk, dv, dQkv, batch, tokens, heads, headDim);
    }
}
