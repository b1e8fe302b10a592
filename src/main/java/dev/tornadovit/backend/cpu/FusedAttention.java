package dev.tornadovit.backend.cpu;

import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.tensor.Precision;

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
 * <p>q, k, v and o (and their gradients) are either separate [BH,T,hd] tensors, as {@link dev.tornadovit.tensor.Backend}
 * lays out heads, or read and written in place in the projections' own layouts: q, k, v in the qkv Linear's output
 * [B,T,3,H,hd] and o in the merged [B,T,H,hd] that the output projection reads ({@link HeadLayout}), which saves
 * the four copies that split and merge the heads. Weights and scores are [BH,T,T] either way. The products go
 * through {@link Matmul} in the backend's {@link Precision} (φ and its backward in fp32 whatever it is); called
 * inside this class's parallel loop they run on the calling thread. Every head is
 * computed by one thread in a fixed order, so results do not depend on scheduling.
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

    /**
     * Where each head's [T,hd] matrix lies in its array: head bh = b·H + h starts at
     * {@code offset + b·batchStride + h·headStride}, and its rows are {@code rowStride} apart. Separate [BH,T,hd]
     * tensors are the case H = 1.
     */
    record HeadLayout(int offset, int heads, int batchStride, int headStride, int rowStride) {

        /** A [BH,T,hd] tensor of its own. */
        static HeadLayout separate(int tokens, int headDim) {
            return new HeadLayout(0, 1, tokens * headDim, 0, headDim);
        }

        /**
         * Part {@code part} of {@code parts} side by side in each token's row, each part H heads of hd: q, k, v
         * (parts 0, 1, 2 of 3) in qkv [B,T,3,H,hd], or o (part 0 of 1) in merged [B,T,H,hd].
         */
        static HeadLayout inRows(int part, int parts, int heads, int tokens, int headDim) {
            int width = parts * heads * headDim;
            return new HeadLayout(part * heads * headDim, heads, tokens * width, headDim, width);
        }

        /** Offset of head bh's row {@code row}. */
        int start(int bh, int row) {
            return offset + bh / heads * batchStride + bh % heads * headStride + row * rowStride;
        }

        /** The distance from head bh to head bh + 1 while both are in one batch element. */
        int headStep() {
            return heads == 1 ? batchStride : headStride;
        }

        /** How many heads from bh on are evenly spaced ({@link #headStep} apart): up to its batch element's last. */
        int evenRun(int bh) {
            return heads == 1 ? Integer.MAX_VALUE : heads - bh % heads;
        }
    }

    /** The layouts of q, k, v and o; their gradients dq, dk, dv and dO are laid out as they are. */
    record Layouts(HeadLayout q, HeadLayout k, HeadLayout v, HeadLayout o) {

        // The last of each kind made: a model asks for the same shapes every layer and step, and a training step
        // allocates nothing.
        private static volatile Layouts lastSeparate, lastInProjections;

        /** Separate [BH,T,hd] tensors, as the Backend interface's attention operations take them. */
        static Layouts separate(int tokens, int headDim) {
            Layouts last = lastSeparate;
            if (last != null && last.o.heads() == 1 && last.o.batchStride() == tokens * headDim
                    && last.o.rowStride() == headDim) {
                return last;
            }
            HeadLayout each = HeadLayout.separate(tokens, headDim);
            return lastSeparate = new Layouts(each, each, each, each);
        }

        /** q, k, v in place in qkv [B,T,3,H,hd], o in place in merged [B,T,H,hd]. */
        static Layouts inProjections(int heads, int tokens, int headDim) {
            Layouts last = lastInProjections;
            if (last != null && last.o.heads() == heads && last.o.headStride() == headDim
                    && last.o.batchStride() == tokens * heads * headDim) {
                return last;
            }
            return lastInProjections = new Layouts(HeadLayout.inRows(0, 3, heads, tokens, headDim),
                    HeadLayout.inRows(1, 3, heads, tokens, headDim), HeadLayout.inRows(2, 3, heads, tokens, headDim),
                    HeadLayout.inRows(0, 1, heads, tokens, headDim));
        }

        /**
         * How many heads from bh on, before {@code end}, every layout spaces evenly, so that one batched product can
         * take them.
         */
        int evenRun(int bh, int end) {
            return Math.min(end - bh,
                    Math.min(Math.min(q.evenRun(bh), k.evenRun(bh)), Math.min(v.evenRun(bh), o.evenRun(bh))));
        }
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

    /**
     * o = φ(scale · q·kᵀ) · v per (batch, head) with q, k, v, o [BH,T,hd]; writes the weights, and the scores when
     * {@code keepScores} ({@code scores} may be null otherwise).
     */
    static void forward(Precision precision, float[] q, float[] k, float[] v, float[] scores, float[] weights,
                        float[] o, int batchHeads, int tokens, int headDim, float scale, AttentionWeighting weighting,
                        boolean keepScores) {
        forward(precision, Layouts.separate(tokens, headDim), q, k, v, scores, weights, o, batchHeads, tokens, headDim,
                scale, weighting, keepScores);
    }

    /**
     * The forward with q, k, v and o where {@code layouts} says: q, k, v may be one array (qkv) read in three
     * places.
     */
    static void forward(Precision precision, Layouts layouts, float[] q, float[] k, float[] v, float[] scores,
                        float[] weights, float[] o, int batchHeads, int tokens, int headDim, float scale,
                        AttentionWeighting weighting, boolean keepScores) {
        int rowBlock = rowBlock(tokens), blocks = Gemm.ceilDiv(tokens, rowBlock);
        int group = headsPerTask(batchHeads, tokens), groups = Gemm.ceilDiv(batchHeads, group);
        float phiScale = (float) weighting.scale(tokens);
        PointwiseActivation h = weighting.softmax() ? null : weighting.activation();
        int grain = grain((long) group * rowBlock * tokens * headDim * 2);
        // Query-row blocks are independent in the forward: (head group, row block) pairs are the tasks.
        loops().forward.run(precision, layouts, q, k, v, scores, weights, o, batchHeads, tokens, headDim, scale, h,
                phiScale, keepScores, rowBlock, blocks, group, groups * blocks, grain);
    }

    /** The forward's tasks: task t is row block t % blocks of head group t / blocks. */
    private static final class Forward extends ReusableLoops.Body {
        private Precision precision;
        private Layouts layouts;
        private float[] q, k, v, scores, weights, o;
        private int batchHeads, tokens, headDim, rowBlock, blocks, group;
        private float scale, phiScale;
        /** φ's h, or null for softmax. */
        private PointwiseActivation h;
        private boolean keepScores;

        void run(Precision precision, Layouts layouts, float[] q, float[] k, float[] v, float[] scores,
                 float[] weights, float[] o, int batchHeads, int tokens, int headDim, float scale,
                 PointwiseActivation h, float phiScale, boolean keepScores, int rowBlock, int blocks, int group,
                 int tasks, int grain) {
            this.precision = precision;
            this.layouts = layouts;
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
                forwardBlock(precision, layouts, q, k, v, keepScores ? scores : tile, keepScores, weights, o, head0,
                        heads, row0, rows, tokens, headDim, scale, h, phiScale);
            }
        }

        @Override
        protected void clearInputs() {
            q = k = v = scores = weights = o = null;
            layouts = null;
            h = null;
        }
    }

    /**
     * Heads [head0, head0+heads), query rows [row0, row0+rows) of each. With several heads, rows is all of them, so
     * their scores and weights are contiguous. The products take the heads in runs that every layout spaces evenly.
     */
    private static void forwardBlock(Precision precision, Layouts lay, float[] q, float[] k, float[] v,
                                     float[] scoreBuffer, boolean scoresInPlace, float[] weights, float[] o, int head0,
                                     int heads, int row0, int rows, int tokens, int headDim, float scale,
                                     PointwiseActivation h, float phiScale) {
        int mapStride = tokens * tokens, mapOff = (head0 * tokens + row0) * tokens;
        int sOff = scoresInPlace ? mapOff : 0, sStride = scoresInPlace ? mapStride : rows * tokens;
        for (int bh = head0, n; bh < head0 + heads; bh += n) {
            n = lay.evenRun(bh, head0 + heads);
            Matmul.batchedNT(precision, n, q, lay.q().start(bh, row0), lay.q().headStep(), lay.q().rowStride(),
                    k, lay.k().start(bh, 0), lay.k().headStep(), lay.k().rowStride(),
                    scoreBuffer, sOff + (bh - head0) * sStride, sStride, tokens, rows, tokens, headDim, scale, false);
        }
        if (h == null) {
            for (int r = 0; r < heads * rows; r++) {
                VectorMath.softmaxRow(scoreBuffer, sOff + r * tokens, weights, mapOff + r * tokens, tokens);
            }
        } else {
            VectorMath.pointwiseWeights(h, phiScale, scoreBuffer, sOff, weights, mapOff, heads * rows * tokens);
        }
        for (int bh = head0, n; bh < head0 + heads; bh += n) {
            n = lay.evenRun(bh, head0 + heads);
            Matmul.batchedNN(precision, n, weights, mapOff + (bh - head0) * mapStride, mapStride, tokens,
                    v, lay.v().start(bh, 0), lay.v().headStep(), lay.v().rowStride(),
                    o, lay.o().start(bh, row0), lay.o().headStep(), lay.o().rowStride(), rows, headDim, tokens, 1f,
                    false);
        }
    }

    /**
     * Backward of the forward: adds into dq, dk, dv given dO; reads the scores only where φ's backward needs them
     * ({@code scores} may be null otherwise).
     */
    static void backward(Precision precision, float[] dO, float[] q, float[] k, float[] v, float[] scores,
                         float[] weights, float[] dq, float[] dk, float[] dv, int batchHeads, int tokens, int headDim,
                         float scale, AttentionWeighting weighting) {
        backward(precision, Layouts.separate(tokens, headDim), dO, q, k, v, scores, weights, dq, dk, dv, batchHeads,
                tokens, headDim, scale, weighting, false);
    }

    /**
     * The backward with each tensor where {@code layouts} says (dO as o, dq as q, and so on): q, k, v may be one
     * array, and so may dq, dk, dv. Adds into dq, dk, dv, or overwrites them when {@code overwrite}.
     */
    static void backward(Precision precision, Layouts layouts, float[] dO, float[] q, float[] k, float[] v,
                         float[] scores, float[] weights, float[] dq, float[] dk, float[] dv, int batchHeads,
                         int tokens, int headDim, float scale, AttentionWeighting weighting, boolean overwrite) {
        int rowBlock = rowBlock(tokens);
        int group = headsPerTask(batchHeads, tokens), groups = Gemm.ceilDiv(batchHeads, group);
        float phiScale = (float) weighting.scale(tokens);
        PointwiseActivation h = weighting.softmax() ? null : weighting.activation();
        boolean fromScores = weighting.backwardNeedsScores();
        int grain = grain((long) group * tokens * tokens * headDim * 4);
        // dk and dv sum over all query rows of a head: one task per head group keeps that sum in one thread, in order.
        loops().backward.run(precision, layouts, dO, q, k, v, scores, weights, dq, dk, dv, batchHeads, tokens, headDim,
                scale, h, phiScale, fromScores, overwrite, rowBlock, group, groups, grain);
    }

    /** The backward's tasks: task g is head group g, all its query rows in order. */
    private static final class Backward extends ReusableLoops.Body {
        private Precision precision;
        private Layouts layouts;
        private float[] dO, q, k, v, scores, weights, dq, dk, dv;
        private int batchHeads, tokens, headDim, rowBlock, group;
        private float scale, phiScale;
        /** φ's h, or null for softmax. */
        private PointwiseActivation h;
        private boolean fromScores, overwrite;

        void run(Precision precision, Layouts layouts, float[] dO, float[] q, float[] k, float[] v, float[] scores,
                 float[] weights, float[] dq, float[] dk, float[] dv, int batchHeads, int tokens, int headDim,
                 float scale, PointwiseActivation h, float phiScale, boolean fromScores, boolean overwrite,
                 int rowBlock, int group, int groups, int grain) {
            this.precision = precision;
            this.layouts = layouts;
            this.overwrite = overwrite;
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
                    backwardBlock(precision, layouts, dO, q, k, v, scores, weights, dq, dk, dv, tile, head0, heads,
                            row0, Math.min(rowBlock, tokens - row0), tokens, headDim, scale, h, phiScale, fromScores,
                            overwrite);
                }
            }
        }

        @Override
        protected void clearInputs() {
            dO = q = k = v = scores = weights = dq = dk = dv = null;
            layouts = null;
            h = null;
        }
    }

    /**
     * Heads [head0, head0+heads), query rows [row0, row0+rows). When {@code overwrite}, the first row block writes dk
     * and dv and the later ones add to them; every block writes its own rows of dq.
     */
    private static void backwardBlock(Precision precision, Layouts lay, float[] dO, float[] q, float[] k, float[] v,
                                      float[] scores, float[] weights, float[] dq, float[] dk, float[] dv, float[] tile,
                                      int head0, int heads, int row0, int rows, int tokens, int headDim, float scale,
                                      PointwiseActivation h, float phiScale, boolean fromScores, boolean overwrite) {
        int mapStride = tokens * tokens, tileStride = rows * tokens, mapOff = (head0 * tokens + row0) * tokens;
        boolean addQ = !overwrite, addKv = !overwrite || row0 > 0;
        for (int bh = head0, n; bh < head0 + heads; bh += n) {
            n = lay.evenRun(bh, head0 + heads);
            int tileOff = (bh - head0) * tileStride, mapsOff = mapOff + (bh - head0) * mapStride;
            // dA = dO·vᵀ for these rows.
            Matmul.batchedNT(precision, n, dO, lay.o().start(bh, row0), lay.o().headStep(), lay.o().rowStride(),
                    v, lay.v().start(bh, 0), lay.v().headStep(), lay.v().rowStride(),
                    tile, tileOff, tileStride, tokens, rows, tokens, headDim, 1f, false);
            // dv += aᵀ·dO: reads dO before dA is turned into dS, and the weights while they are in cache.
            Matmul.batchedTN(precision, n, weights, mapsOff, mapStride, tokens,
                    dO, lay.o().start(bh, row0), lay.o().headStep(), lay.o().rowStride(),
                    dv, lay.v().start(bh, 0), lay.v().headStep(), lay.v().rowStride(), tokens, headDim, rows, 1f,
                    addKv);
        }
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
        for (int bh = head0, n; bh < head0 + heads; bh += n) {
            n = lay.evenRun(bh, head0 + heads);
            int tileOff = (bh - head0) * tileStride;
            // dq += scale·dS·k ; dk += scale·dSᵀ·q
            Matmul.batchedNN(precision, n, tile, tileOff, tileStride, tokens,
                    k, lay.k().start(bh, 0), lay.k().headStep(), lay.k().rowStride(),
                    dq, lay.q().start(bh, row0), lay.q().headStep(), lay.q().rowStride(), rows, headDim, tokens, scale,
                    addQ);
            Matmul.batchedTN(precision, n, tile, tileOff, tileStride, tokens,
                    q, lay.q().start(bh, row0), lay.q().headStep(), lay.q().rowStride(),
                    dk, lay.k().start(bh, 0), lay.k().headStep(), lay.k().rowStride(), tokens, headDim, rows, scale,
                    addKv);
        }
    }

    private static int grain(long workPerTask) {
        return (int) Math.max(1, TASK_WORK / Math.max(1, workPerTask));
    }
}
