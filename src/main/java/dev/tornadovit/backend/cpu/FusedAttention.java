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
 * the tile, dv += aᵀ·dO, dS from dA in place (from the weights alone unless φ's derivative needs the scores), then
 * dq += scale·dS·k, dk += scale·dSᵀ·q.
 *
 * <p>A task takes a group of heads when their tiles fit together (short sequences), so that each step runs over
 * the whole group (one product after the other, then φ in one pass) rather than switching between tiny products and
 * φ for every head; a long sequence is split into blocks of query rows instead.
 *
 * <p>Layouts as {@link dev.tornadovit.tensor.Backend}: q, k, v, o [BH,T,hd]; weights and scores [BH,T,T]. The
 * products go through {@link Matmul}; called inside this class's parallel loop they run on the calling thread.
 * Every head is computed by one thread in a fixed order, so results do not depend on scheduling.
 */
final class FusedAttention {

    /**
     * Most floats of one thread's tile (256 KiB, within a core's L2): longer sequences are split into blocks of
     * query rows. 197 tokens still fit whole; 785 go in blocks of 80 rows.
     */
    static final int TILE_FLOATS = 1 << 16;
    /** A parallel task should be worth about this many multiply-adds. */
    private static final long TASK_WORK = 1 << 16;
    /** Tasks per thread at least, when heads are grouped: several, so that an unevenly loaded machine balances. */
    private static final int TASKS_PER_THREAD = 4;

    private static final ThreadLocal<float[][]> TILE = ThreadLocal.withInitial(() -> new float[1][0]);

    /** Each thread's loop bodies of this class; see {@link ReusableLoops}. */
    private static final class Loops extends ReusableLoops {
        final Forward forward = own(new Forward());
        final Backward backward = own(new Backward());
    }

    private static final ThreadLocal<Loops> LOOPS = ThreadLocal.withInitial(Loops::new);

    private static Loops loops() {
        return ReusableLoops.ofThisThread(LOOPS, Loops::new);
    }

    private FusedAttention() {
    }

    /** Rows of queries per tile: all of them when the T×T tile fits, else a multiple of 4 (the GEMM's row panel). */
    static int rowBlock(int tokens) {
        if ((long) tokens * tokens <= TILE_FLOATS) return tokens;
        return Math.max(4, TILE_FLOATS / tokens / 4 * 4);
    }

    /** Heads per task: as many whole T×T tiles as fit, but leaving every thread several tasks. */
    static int headsPerTask(int batchHeads, int tokens) {
        if (rowBlock(tokens) < tokens) return 1;
        int fit = TILE_FLOATS / (tokens * tokens);
        int balanced = Gemm.ceilDiv(batchHeads, TASKS_PER_THREAD * CpuParallel.threads());
        return Math.max(1, Math.min(fit, balanced));
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
        int group = headsPerTask(batchHeads, tokens), groups = Gemm.ceilDiv(batchHeads, group);
        float phiScale = (float) weighting.scale(tokens);
        PointwiseActivation h = weighting.softmax() ? null : weighting.activation();
        int grain = grain((long) group * rowBlock * tokens * headDim * 2);
        // Query-row blocks are independent in the forward: (head group, row block) pairs are the tasks.
        loops().forward.run(q, k, v, scores, weights, o, batchHeads, tokens, headDim, scale, h, phiScale, keepScores,
                rowBlock, blocks, group, groups * blocks, grain);
    }

    /** The forward's tasks: task t is row block t % blocks of head group t / blocks. */
    private static final class Forward extends ReusableLoops.Body {
        private float[] q, k, v, scores, weights, o;
        private int batchHeads, tokens, headDim, rowBlock, blocks, group;
        private float scale, phiScale;
        /** φ's h, or null for softmax. */
        private PointwiseActivation h;
        private boolean keepScores;

        void run(float[] q, float[] k, float[] v, float[] scores, float[] weights, float[] o, int batchHeads,
                 int tokens, int headDim, float scale, PointwiseActivation h, float phiScale, boolean keepScores,
                 int rowBlock, int blocks, int group, int tasks, int grain) {
            this.q = q;
            this.k = k;
            this.v = v;
            this.scores = scores;
            this.weights = weights;
            this.o = o;
            this.batchHeads = batchHeads;
            this.tokens = tokens;
            this.headDim = headDim;
            this.scale = scale;
            this.h = h;
            this.phiScale = phiScale;
            this.keepScores = keepScores;
            this.rowBlock = rowBlock;
            this.blocks = blocks;
            this.group = group;
            parallelFor(tasks, grain);
        }

        @Override
        public void run(int start, int end) {
            float[] tile = keepScores ? null : tile(group * rowBlock * tokens);
            for (int task = start; task < end; task++) {
                int head0 = task / blocks * group, heads = Math.min(group, batchHeads - head0);
                int row0 = task % blocks * rowBlock, rows = Math.min(rowBlock, tokens - row0);
                forwardBlock(q, k, v, keepScores ? scores : tile, keepScores, weights, o, head0, heads, row0, rows,
                        tokens, headDim, scale, h, phiScale);
            }
        }

        @Override
        protected void clearInputs() {
            q = k = v = scores = weights = o = null;
            h = null;
        }
    }

    /**
     * Heads [head0, head0+heads), query rows [row0, row0+rows) of each. With several heads, rows is all of them, so
     * their scores and weights are contiguous.
     */
    private static void forwardBlock(float[] q, float[] k, float[] v, float[] scoreBuffer, boolean scoresInPlace,
                                     float[] weights, float[] o, int head0, int heads, int row0, int rows, int tokens,
                                     int headDim, float scale, PointwiseActivation h, float phiScale) {
        int headStride = tokens * headDim, mapStride = tokens * tokens;
        int headOff = head0 * headStride, rowOff = headOff + row0 * headDim;
        int mapOff = (head0 * tokens + row0) * tokens;
        int sOff = scoresInPlace ? mapOff : 0, sStride = scoresInPlace ? mapStride : rows * tokens;
        Matmul.batchedNT(heads, q, rowOff, headStride, headDim, k, headOff, headStride, headDim,
                scoreBuffer, sOff, sStride, tokens, rows, tokens, headDim, scale, false);
        if (h == null) {
            for (int r = 0; r < heads * rows; r++) {
                VectorMath.softmaxRow(scoreBuffer, sOff + r * tokens, weights, mapOff + r * tokens, tokens);
            }
        } else {
            VectorMath.pointwiseWeights(h, phiScale, scoreBuffer, sOff, weights, mapOff, heads * rows * tokens);
        }
        Matmul.batchedNN(heads, weights, mapOff, mapStride, tokens, v, headOff, headStride, headDim,
                o, rowOff, headStride, headDim, rows, headDim, tokens, 1f, false);
    }

    /** See {@link dev.tornadovit.tensor.Backend#attentionBackward}; adds into dq, dk, dv. */
    static void backward(float[] dO, float[] q, float[] k, float[] v, float[] scores, float[] weights, float[] dq,
                         float[] dk, float[] dv, int batchHeads, int tokens, int headDim, float scale,
                         AttentionWeighting weighting) {
        int rowBlock = rowBlock(tokens);
        int group = headsPerTask(batchHeads, tokens), groups = Gemm.ceilDiv(batchHeads, group);
        float phiScale = (float) weighting.scale(tokens);
        PointwiseActivation h = weighting.softmax() ? null : weighting.activation();
        boolean fromScores = weighting.backwardNeedsScores();
        int grain = grain((long) group * tokens * tokens * headDim * 4);
        // dk and dv sum over all query rows of a head: one task per head group keeps that sum in one thread, in order.
        loops().backward.run(dO, q, k, v, scores, weights, dq, dk, dv, batchHeads, tokens, headDim, scale, h, phiScale,
                fromScores, rowBlock, group, groups, grain);
    }

    /** The backward's tasks: task g is head group g, all its query rows in order. */
    private static final class Backward extends ReusableLoops.Body {
        private float[] dO, q, k, v, scores, weights, dq, dk, dv;
        private int batchHeads, tokens, headDim, rowBlock, group;
        private float scale, phiScale;
        /** φ's h, or null for softmax. */
        private PointwiseActivation h;
        private boolean fromScores;

        void run(float[] dO, float[] q, float[] k, float[] v, float[] scores, float[] weights, float[] dq, float[] dk,
                 float[] dv, int batchHeads, int tokens, int headDim, float scale, PointwiseActivation h,
                 float phiScale, boolean fromScores, int rowBlock, int group, int groups, int grain) {
            this.dO = dO;
            this.q = q;
            this.k = k;
            this.v = v;
            this.scores = scores;
            this.weights = weights;
            this.dq = dq;
            this.dk = dk;
            this.dv = dv;
            this.batchHeads = batchHeads;
            this.tokens = tokens;
            this.headDim = headDim;
            this.scale = scale;
            this.h = h;
            this.phiScale = phiScale;
            this.fromScores = fromScores;
            this.rowBlock = rowBlock;
            this.group = group;
            parallelFor(groups, grain);
        }

        @Override
        public void run(int start, int end) {
            float[] tile = tile(group * rowBlock * tokens);
            for (int g = start; g < end; g++) {
                int head0 = g * group, heads = Math.min(group, batchHeads - head0);
                for (int row0 = 0; row0 < tokens; row0 += rowBlock) {
                    backwardBlock(dO, q, k, v, scores, weights, dq, dk, dv, tile, head0, heads, row0,
                            Math.min(rowBlock, tokens - row0), tokens, headDim, scale, h, phiScale, fromScores);
                }
            }
        }

        @Override
        protected void clearInputs() {
            dO = q = k = v = scores = weights = dq = dk = dv = null;
            h = null;
        }
    }

    private static void backwardBlock(float[] dO, float[] q, float[] k, float[] v, float[] scores, float[] weights,
                                      float[] dq, float[] dk, float[] dv, float[] tile, int head0, int heads, int row0,
                                      int rows, int tokens, int headDim, float scale, PointwiseActivation h,
                                      float phiScale, boolean fromScores) {
        int headStride = tokens * headDim, mapStride = tokens * tokens, tileStride = rows * tokens;
        int headOff = head0 * headStride, rowOff = headOff + row0 * headDim;
        int mapOff = (head0 * tokens + row0) * tokens;
        // dA = dO·vᵀ for these rows.
        Matmul.batchedNT(heads, dO, rowOff, headStride, headDim, v, headOff, headStride, headDim,
                tile, 0, tileStride, tokens, rows, tokens, headDim, 1f, false);
        // dv += aᵀ·dO: reads dO before dA is turned into dS, and the weights while they are in cache.
        Matmul.batchedTN(heads, weights, mapOff, mapStride, tokens, dO, rowOff, headStride, headDim,
                dv, headOff, headStride, headDim, tokens, headDim, rows, 1f, true);
        // dS in place of dA; with several heads, rows is all of them, so the maps are contiguous.
        if (h == null) {
            for (int r = 0; r < heads * rows; r++) {
                int t = r * tokens;
                VectorMath.softmaxBackwardRow(weights, mapOff + t, tile, t, tile, t, tokens, false);
            }
        } else if (fromScores) {
            VectorMath.pointwiseBackwardFromScores(h, phiScale, scores, mapOff, tile, 0, tile, 0, heads * tileStride,
                    false);
        } else {
            VectorMath.pointwiseBackwardFromWeights(h, phiScale, weights, mapOff, tile, 0, tile, 0, heads * tileStride,
                    false);
        }
        // dq += scale·dS·k ; dk += scale·dSᵀ·q
        Matmul.batchedNN(heads, tile, 0, tileStride, tokens, k, headOff, headStride, headDim,
                dq, rowOff, headStride, headDim, rows, headDim, tokens, scale, true);
        Matmul.batchedTN(heads, tile, 0, tileStride, tokens, q, rowOff, headStride, headDim,
                dk, headOff, headStride, headDim, tokens, headDim, rows, scale, true);
    }

    private static int grain(long workPerTask) {
        return (int) Math.max(1, TASK_WORK / Math.max(1, workPerTask));
    }
}
