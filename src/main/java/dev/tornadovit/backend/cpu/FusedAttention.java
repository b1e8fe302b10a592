package dev.tornadovit.backend.cpu;

import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.PointwiseActivation;

/**
 * The attention core fused per (batch, head) for the CPU backend: the [T,T] scores and their gradients live in a
 * per-thread scratch tile that stays in cache between the products, instead of making round trips through memory
 * as whole [BH,T,T] tensors between separate operations.
 *
 * <p>Forward, per block of query rows: S = scale·q·kᵀ into the tile, φ from the tile into the weights (the only
 * [T,T] write), then o = weights·v while those rows are still in cache. Backward, per (batch, head): dA = dO·vᵀ into
 * the tile, dS from dA in place (from the weights alone unless φ's derivative needs the scores), then
 * dv += aᵀ·dO, dq += scale·dS·k, dk += scale·dSᵀ·q.
 *
 * <p>Layouts as {@link dev.tornadovit.tensor.Backend}: q, k, v, o [BH,T,hd]; weights and scores [BH,T,T]. The
 * products go through {@link Matmul}; called inside this class's parallel loop they run on the calling thread.
 * Every (batch, head) is computed by one thread in a fixed order, so results do not depend on scheduling.
 */
final class FusedAttention {

    /**
     * Most floats of one thread's tile (256 KiB, within a core's L2): longer sequences are split into blocks of
     * query rows. 197 tokens still fit whole; 785 go in blocks of 80 rows.
     */
    static final int TILE_FLOATS = 1 << 16;
    /** A parallel task should be worth about this many multiply-adds. */
    private static final long TASK_WORK = 1 << 16;

    private static final ThreadLocal<float[][]> TILE = ThreadLocal.withInitial(() -> new float[1][0]);

    private FusedAttention() {
    }

    /** Rows of queries per tile: all of them when the T×T tile fits, else a multiple of 4 (the GEMM's row panel). */
    static int rowBlock(int tokens) {
        if ((long) tokens * tokens <= TILE_FLOATS) return tokens;
        return Math.max(4, TILE_FLOATS / tokens / 4 * 4);
    }

    private static float[] tile(int size) {
        float[][] holder = TILE.get();
        if (holder[0].length < size) holder[0] = new float[size];
        return holder[0];
    }

    /** See {@link dev.tornadovit.tensor.Backend#attentionForward}; {@code scores} may be null unless kept. */
    static void forward(float[] q, float[] k, float[] v, float[] scores, float[] weights, float[] o, int batchHeads,
                        int tokens, int headDim, float scale, AttentionWeighting weighting, boolean keepScores) {
        int rowBlock = rowBlock(tokens), blocks = Gemm.ceilDiv(tokens, rowBlock);
        float phiScale = (float) weighting.scale(tokens);
        PointwiseActivation h = weighting.softmax() ? null : weighting.activation();
        int grain = grain((long) rowBlock * tokens * headDim * 2);
        // Query-row blocks are independent in the forward: (head, block) pairs are the tasks.
        CpuParallel.parallelFor(batchHeads * blocks, grain, (start, end) -> {
            float[] tile = keepScores ? null : tile(rowBlock * tokens);
            for (int task = start; task < end; task++) {
                int bh = task / blocks, row0 = task % blocks * rowBlock, rows = Math.min(rowBlock, tokens - row0);
                forwardBlock(q, k, v, keepScores ? scores : tile, keepScores, weights, o, bh, row0, rows, tokens,
                        headDim, scale, h, phiScale);
            }
        });
    }

    private static void forwardBlock(float[] q, float[] k, float[] v, float[] scoreBuffer, boolean scoresInPlace,
                                     float[] weights, float[] o, int bh, int row0, int rows, int tokens, int headDim,
                                     float scale, PointwiseActivation h, float phiScale) {
        int headOff = bh * tokens * headDim, rowOff = headOff + row0 * headDim;
        int mapOff = (bh * tokens + row0) * tokens;
        int sOff = scoresInPlace ? mapOff : 0;
        Matmul.batchedNT(1, q, rowOff, 0, headDim, k, headOff, 0, headDim, scoreBuffer, sOff, 0, tokens,
                rows, tokens, headDim, scale, false);
        if (h == null) {
            for (int r = 0; r < rows; r++) {
                VectorMath.softmaxRow(scoreBuffer, sOff + r * tokens, weights, mapOff + r * tokens, tokens);
            }
        } else {
            VectorMath.pointwiseWeights(h, phiScale, scoreBuffer, sOff, weights, mapOff, rows * tokens);
        }
        Matmul.batchedNN(1, weights, mapOff, 0, tokens, v, headOff, 0, headDim, o, rowOff, 0, headDim,
                rows, headDim, tokens, 1f, false);
    }

    /** See {@link dev.tornadovit.tensor.Backend#attentionBackward}; adds into dq, dk, dv. */
    static void backward(float[] dO, float[] q, float[] k, float[] v, float[] scores, float[] weights, float[] dq,
                         float[] dk, float[] dv, int batchHeads, int tokens, int headDim, float scale,
                         AttentionWeighting weighting) {
        int rowBlock = rowBlock(tokens);
        float phiScale = (float) weighting.scale(tokens);
        PointwiseActivation h = weighting.softmax() ? null : weighting.activation();
        boolean fromScores = weighting.backwardNeedsScores();
        int grain = grain((long) tokens * tokens * headDim * 4);
        // dk and dv sum over all query rows of a head: one task per head keeps that sum in one thread, in order.
        CpuParallel.parallelFor(batchHeads, grain, (start, end) -> {
            float[] tile = tile(rowBlock * tokens);
            for (int bh = start; bh < end; bh++) {
                for (int row0 = 0; row0 < tokens; row0 += rowBlock) {
                    backwardBlock(dO, q, k, v, scores, weights, dq, dk, dv, tile, bh, row0,
                            Math.min(rowBlock, tokens - row0), tokens, headDim, scale, h, phiScale, fromScores);
                }
            }
        });
    }

    private static void backwardBlock(float[] dO, float[] q, float[] k, float[] v, float[] scores, float[] weights,
                                      float[] dq, float[] dk, float[] dv, float[] tile, int bh, int row0, int rows,
                                      int tokens, int headDim, float scale, PointwiseActivation h, float phiScale,
                                      boolean fromScores) {
        int headOff = bh * tokens * headDim, rowOff = headOff + row0 * headDim;
        int mapOff = (bh * tokens + row0) * tokens;
        // dA = dO·vᵀ for these rows.
        Matmul.batchedNT(1, dO, rowOff, 0, headDim, v, headOff, 0, headDim, tile, 0, 0, tokens,
                rows, tokens, headDim, 1f, false);
        // dv += aᵀ·dO: reads dO before dA is turned into dS, and the weights while they are in cache.
        Matmul.batchedTN(1, weights, mapOff, 0, tokens, dO, rowOff, 0, headDim, dv, headOff, 0, headDim,
                tokens, headDim, rows, 1f, true);
        // dS in place of dA.
        if (h == null) {
            for (int r = 0; r < rows; r++) {
                int t = r * tokens;
                VectorMath.softmaxBackwardRow(weights, mapOff + t, tile, t, tile, t, tokens, false);
            }
        } else if (fromScores) {
            VectorMath.pointwiseBackwardFromScores(h, phiScale, scores, mapOff, tile, 0, tile, 0, rows * tokens, false);
        } else {
            VectorMath.pointwiseBackwardFromWeights(h, phiScale, weights, mapOff, tile, 0, tile, 0, rows * tokens, false);
        }
        // dq += scale·dS·k ; dk += scale·dSᵀ·q
        Matmul.batchedNN(1, tile, 0, 0, tokens, k, headOff, 0, headDim, dq, rowOff, 0, headDim,
                rows, headDim, tokens, scale, true);
        Matmul.batchedTN(1, tile, 0, 0, tokens, q, rowOff, 0, headDim, dk, headOff, 0, headDim,
                tokens, headDim, rows, scale, true);
    }

    private static int grain(long workPerTask) {
        return (int) Math.max(1, TASK_WORK / Math.max(1, workPerTask));
    }
}
