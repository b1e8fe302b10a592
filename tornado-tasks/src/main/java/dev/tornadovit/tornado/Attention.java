package dev.tornadovit.tornado;

import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Precision;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tornado.kernels.AttentionKernels;
import dev.tornadovit.tornado.kernels.DeviceMath;
import dev.tornadovit.tornado.kernels.ElementwiseKernels;
import dev.tornadovit.tornado.kernels.PointwiseAttentionBackwardKernels;
import dev.tornadovit.tornado.kernels.ReductionKernels;
import dev.tornadovit.tornado.kernels.RowKernels;
import dev.tornadovit.tornado.kernels.SoftmaxAttentionKernels;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.WorkerGrid;
import uk.ac.manchester.tornado.api.WorkerGrid3D;

import static dev.tornadovit.tornado.Launches.REDUCE_LOCAL;
import static dev.tornadovit.tornado.Launches.ceilDiv;
import static dev.tornadovit.tornado.Launches.chunks;
import static dev.tornadovit.tornado.Launches.distinctOutputs;
import static dev.tornadovit.tornado.Launches.grid1;
import static dev.tornadovit.tornado.Launches.grid2;
import static dev.tornadovit.tornado.Launches.rowsGrid;
import static dev.tornadovit.tornado.Launches.task;

/**
 * {@link TornadoBackend}'s attention operations: scores, weights (softmax or pointwise), their application to the
 * values, Re-attention's head mix, their backward passes, and the fused pointwise-attention kernel that
 * {@link FusedPointwiseCore} runs in place of scores → weights → ·V.
 */
final class Attention extends DeviceOperations {
    private final MatrixProducts products;
    /** Whether cores record pointwise attention as one fused kernel ({@link TornadoBackend#setFusedAttention}). */
    private boolean fused;

    Attention(TornadoBackend backend, MatrixProducts products) {
        super(backend);
        this.products = products;
    }

    void setFused(boolean on) {
        this.fused = on;
    }

    boolean fused() {
        return fused;
    }

    /**
     * Whether {@link #pointwiseAttention} takes the place of scores → φ → ·V now: pointwise φ, a head dimension the
     * kernel takes, and a graph being recorded (an operation outside any graph runs each step as a graph of its own).
     */
    boolean fusesPointwise(AttentionWeighting weighting, int headDim) {
        return fused && recording() && !weighting.softmax() && headDim <= AttentionKernels.MAX_HEAD_DIM;
    }

    /** As {@link #fusesPointwise}, for softmax and {@link #softmaxAttention}. */
    boolean fusesSoftmax(AttentionWeighting weighting, int headDim) {
        return fused && recording() && weighting.softmax() && headDim <= SoftmaxAttentionKernels.MAX_HEAD_DIM;
    }

    /**
     * scores → softmax → ·V as one fused task that writes the weights (softmax's backward and attention-map readers
     * use them) but not the scores, which nothing reads after a softmax.
     */
    void softmaxAttention(Tensor q, Tensor k, Tensor v, Tensor weights, Tensor o, int batchHeads, int tokens,
                          int headDim, double scale) {
        if (headDim > SoftmaxAttentionKernels.MAX_HEAD_DIM) {
            throw new IllegalArgumentException("the fused softmax-attention kernel takes head dimensions up to "
                                               + SoftmaxAttentionKernels.MAX_HEAD_DIM + ", not " + headDim);
        }
        submit(SoftmaxAttention.withWeights(t(q), t(k), t(v), t(weights), t(o), batchHeads, tokens, headDim,
               (float) scale));
    }

    /**
     * scores → pointwise φ → ·V as one fused task that also writes the scores and weights (the backward pass and
     * attention-map readers use them).
     */
    void pointwiseAttention(Tensor q, Tensor k, Tensor v, Tensor scores, Tensor weights, Tensor o, int batchHeads,
                            int tokens, int headDim, double scale, AttentionWeighting weighting) {
        submit(fusedAttention(t(q), t(k), t(v), t(scores), t(weights), t(o), batchHeads, tokens, headDim,
               (float) scale, activationCode(weighting), (float) weighting.scale(tokens), true));
    }

    /**
     * Pointwise attention for inference as one kernel: o [BH,T,hd] = φ(qkScale·q·kᵀ)·v without writing the
     * [BH,T,T] scores and weights anywhere (head dimension at most 64). Not part of {@link Backend}: the model keeps
     * the maps (backward pass, attention maps) and gets the fused kernel through its attention core
     * ({@link FusedPointwiseCore}); this is the kernel alone, for benchmarks and inference code that needs no maps.
     */
    void pointwiseAttentionWithoutMaps(Tensor q, Tensor k, Tensor v, Tensor o, int batchHeads, int tokens,
                                       int headDim, double qkScale, AttentionWeighting weighting) {
        requireFusable(weighting, headDim);
        submit(fusedAttention(t(q), t(k), t(v), unused, unused2, t(o), batchHeads, tokens, headDim, (float) qkScale,
               activationCode(weighting), (float) weighting.scale(tokens), false));
    }

    /**
     * Pointwise attention's backward as two fused tasks, from dO, q, k, v and the kept scores: dk, dv, then dq, with
     * no [BH,T,T] gradient written ({@link PointwiseAttentionBackwardKernels}); {@code accumulate} 1 adds into dq,
     * dk, dv, 0 overwrites them.
     */
    void pointwiseAttentionBackward(Tensor dO, Tensor q, Tensor k, Tensor v, Tensor scores, Tensor dq, Tensor dk,
                                    Tensor dv, int batchHeads, int tokens, int headDim, double qkScale,
                                    AttentionWeighting weighting, int accumulate) {
        requireFusable(weighting, headDim);
        DeviceTensor go = t(dO), qq = t(q), kk = t(k), vv = t(v), s = t(scores), gq = t(dq), gk = t(dk), gv = t(dv);
        distinctOutputs("pointwiseAttentionBackward", gq, gk, gv);
        int kind = activationCode(weighting);
        float scale = (float) weighting.scale(tokens), c = (float) qkScale;
        submit(task("pointwiseAttentionKeyValueGradients", tileGrid(tokens, batchHeads), (g, id) -> g.task(id,
               PointwiseAttentionBackwardKernels::keyValueGradients, new KernelContext(), qq.array, go.array, vv.array,
               s.array, gk.array, gv.array, tokens, headDim, c, kind, scale, accumulate),
               qq, go, vv, s, gk, gv, tokens, headDim, c, kind, scale, accumulate),
               task("pointwiseAttentionQueryGradients", tileGrid(tokens, batchHeads), (g, id) -> g.task(id,
               PointwiseAttentionBackwardKernels::queryGradients, new KernelContext(), go.array, kk.array, vv.array,
               s.array, gq.array, tokens, headDim, c, kind, scale, accumulate),
               go, kk, vv, s, gq, tokens, headDim, c, kind, scale, accumulate));
    }

    /** 16×16 threads for each 64 tokens of each (batch, head): the fused attention kernels' grid. */
    private static WorkerGrid3D tileGrid(int tokens, int batchHeads) {
        WorkerGrid3D grid = new WorkerGrid3D(16, ceilDiv(tokens, AttentionKernels.QUERIES) * 16, batchHeads);
        grid.setLocalWork(16, 16, 1);
        return grid;
    }

    /** Refuses the fused kernels, which compute in fp32, to a backend of another precision. */
    static void requireFp32(Precision precision) {
        if (precision != Precision.FP32) {
            throw new IllegalArgumentException("fused attention (-Dtornadovit.fusedAttention=true) computes in fp32, "
                                               + "and this backend runs precision " + precision
                                               + ": leave fused attention off, or use --precision fp32");
        }
    }

    /** Refuses what the fused kernel cannot run: softmax weights, heads longer than it takes. */
    static void requireFusable(AttentionWeighting weighting, int headDim) {
        if (weighting.softmax()) throw new IllegalArgumentException("softmax weights are not pointwise");
        if (headDim > AttentionKernels.MAX_HEAD_DIM) {
            throw new IllegalArgumentException("the fused kernel takes head dimensions up to "
                                               + AttentionKernels.MAX_HEAD_DIM + ", not " + headDim);
        }
    }

    /** The fused pointwise-attention task; without {@code storeMaps} scores and weights are not written. */
    static Task fusedAttention(DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor scores, DeviceTensor weights,
                               DeviceTensor o, int batchHeads, int tokens, int headDim, float qkScale, int kind, float scale,
                               boolean storeMaps) {
        int store = storeMaps ? 1 : 0;
        return task("pointwiseAttention", tileGrid(tokens, batchHeads), (g, id) -> g.task(id, AttentionKernels::pointwiseAttention,
                    new KernelContext(), q.array, k.array, v.array, scores.array, weights.array, o.array, tokens,
                    headDim, qkScale, kind, scale, store),
                    q, k, v, scores, weights, o, tokens, headDim, qkScale, kind, scale, store);
    }

    void attentionScores(Tensor q, Tensor k, Tensor scores, int batchHeads, int tokens, int headDim,
                         double scale) {
        int th = tokens * headDim;
        DeviceTensor qq = t(q), kk = t(k), ss = t(scores);
        submit(products.gemm(qq, kk, ss, null, tokens, tokens, headDim, batchHeads, th, th, tokens * tokens, 0, 1, (float) scale, 0));
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
        submit(Launches.concat(
                products.gemm(ds, t(k), t(dq), null, tokens, headDim, tokens, batchHeads, tt, th, th, 0, 0, (float) scale, accumulate),
                products.gemm(ds, t(q), t(dk), null, tokens, headDim, tokens, batchHeads, tt, th, th, 1, 0, (float) scale, accumulate)));
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
            submit(task("softmax", rowsGrid(rows), (g, id) -> g.task(id, RowKernels::softmax,
                   new KernelContext(), s.array, a.array, rows, keys), s, a, rows, keys));
        } else {
            int kind = activationCode(weighting), n = rows * keys;
            float scale = (float) weighting.scale(keys);
            submit(task("pointwiseWeights", null, (g, id) -> g.task(id, ElementwiseKernels::pointwiseWeights, s.array,
                   a.array, n, kind, scale), s, a, n, kind, scale));
        }
    }

    void attentionWeightsBackward(Tensor scores, Tensor weights, Tensor dWeights, Tensor dScores, int rows,
                                  int keys, AttentionWeighting weighting) {
        attentionWeightsBackward(scores, weights, dWeights, dScores, rows, keys, weighting, 1);
    }

    /**
     * φ's backward: dScores added into with {@code accumulate} 1, written with 0. {@code scores} null: from the weights
     * alone, for a weighting whose backward does not need the scores ({@link AttentionWeighting#backwardNeedsScores}).
     */
    void attentionWeightsBackward(Tensor scores, Tensor weights, Tensor dWeights, Tensor dScores, int rows, int keys,
                                  AttentionWeighting weighting, int accumulate) {
        if (scores == null && weighting.backwardNeedsScores()) {
            throw new IllegalArgumentException(weighting + ": φ's backward needs the scores");
        }
        DeviceTensor a = t(weights), ga = t(dWeights), gs = t(dScores);
        if (weighting.softmax()) {
            submit(task("softmaxBackward", rowsGrid(rows), (g, id) -> g.task(id, RowKernels::softmaxBackward,
                   new KernelContext(), a.array, ga.array, gs.array, rows, keys, accumulate), a, ga, gs, rows, keys,
                   accumulate));
        } else if (scores == null) {
            int kind = activationCode(weighting), n = rows * keys;
            float scale = (float) weighting.scale(keys);
            submit(task("pointwiseWeightsBackwardFromWeights", null, (g, id) -> g.task(id,
                   ElementwiseKernels::pointwiseWeightsBackwardFromWeights, a.array, ga.array, gs.array, n, kind, scale,
                   accumulate), a, ga, gs, n, kind, scale, accumulate));
        } else {
            DeviceTensor s = t(scores);
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
        submit(products.gemm(w, vv, out, null, tokens, headDim, tokens, batchHeads, tokens * tokens, th, th, 0, 0, 1f, 0));
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
        submit(Launches.concat(
                products.gemm(go, t(v), t(dWeights), null, tokens, tokens, headDim, batchHeads, th, th, tt, 0, 1, 1f,
                        accumulateWeights),
                products.gemm(t(weights), go, t(dv), null, tokens, headDim, tokens, batchHeads, tt, th, th, 1, 0, 1f,
                        accumulateV)));
    }

    /**
     * The attention core's backward writing its scratch dWeights and dScores instead of zeroing and adding into them;
     * dq, dk, dv are added into or, with {@code accumulateInputs} 0, overwritten.
     */
    void attentionBackward(Tensor dO, Tensor q, Tensor k, Tensor v, Tensor scores, Tensor weights,
                           Tensor dWeights, Tensor dScores, Tensor dq, Tensor dk, Tensor dv, int batchHeads,
                           int tokens, int headDim, double scale, AttentionWeighting weighting,
                           int accumulateInputs) {
        attentionApplyBackward(dO, weights, v, dWeights, dv, batchHeads, tokens, headDim, 0, accumulateInputs);
        attentionWeightsBackward(scores, weights, dWeights, dScores, batchHeads * tokens, tokens, weighting, 0);
        attentionScoresBackward(dScores, q, k, dq, dk, batchHeads, tokens, headDim, scale, accumulateInputs);
    }
}
