package dev.tornadovit.backend.cpu;

import static dev.tornadovit.backend.cpu.GemmKernels.kernel;
import static dev.tornadovit.backend.cpu.GemmKernels.kernel1;
import static dev.tornadovit.backend.cpu.GemmKernels.kernel2;
import static dev.tornadovit.backend.cpu.GemmKernels.writeTile;
import static dev.tornadovit.backend.cpu.GemmPacking.PACK_GROUP_PANELS;
import static dev.tornadovit.backend.cpu.GemmPacking.PR;
import static dev.tornadovit.backend.cpu.GemmPacking.packPanels;
import static dev.tornadovit.backend.cpu.GemmPacking.packRoundedRows;
import static dev.tornadovit.backend.cpu.GemmPacking.packTransposedA;
import static dev.tornadovit.backend.cpu.GemmPacking.packTransposedPanels;
import static dev.tornadovit.backend.cpu.GemmPacking.pairedRows;

import dev.tornadovit.tensor.Precision;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The packed, blocked, vectorised GEMM behind {@link Matmul}:
 * {@code C = alpha·op(A)·op(B) + (accumulate ? C : 0) + bias}, with op(A) of shape M×K and op(B)
 * of shape K×N.
 *
 * <p>Layout: {@code transA == false}: A(i,k) = a[aOff + i·lda + k]; {@code transA == true}:
 * A(i,k) = a[aOff + k·lda + i]. {@code transB == false}: B(k,j) = b[bOff + k·ldb + j];
 * {@code transB == true}: B(k,j) = b[bOff + j·ldb + k]. C(i,j) = c[cOff + i·ldc + j].
 *
 * <p>Structure (after Goto/BLIS): B is packed once per call into panels NR columns wide and at most
 * KC deep, shared by all threads; packing makes every transpose and stride of B look the same to
 * the micro-kernel and zero-pads the last panel. Each task owns a block of C rows (and, when rows
 * are too few to keep the threads busy, a range of B panels) and, for every K block, runs the
 * micro-kernel for every (B panel, MR rows) pair: the B panel stays in L1 across the row panels,
 * the task's rows of A stay in L2 across the B panels. A whose rows are contiguous along K is read
 * in place (the kernel broadcasts single elements, so a copy would cost as much as it saves); a
 * transposed A is packed per task and K block. The packed B starts on a vector boundary of its buffer's memory
 * ({@link ArrayAlignment}), so that no vector load of B straddles two cache lines.
 *
 * <p>In a reduced {@link Precision} (tf32, bf16: emulated, for reference and testing) the operands are rounded as
 * they are packed, and an untransposed A is then packed too (rounded, row by row) instead of read in place; the
 * kernels and their fp32 accumulation are the same for every precision.
 *
 * <p>This class plans the blocks and tasks and runs them; {@link GemmPacking} packs the operands and
 * {@link GemmKernels} holds the micro-kernels.
 */
final class Gemm {

    static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    static final int VL = SPECIES.length();
    /**
     * Micro-tile: MR rows × NV vectors. 12 accumulators + 3 B vectors + 1 broadcast fill AVX2's 16
     * registers; per k it loads 3 vectors and broadcasts 4 scalars for 12 multiply-adds: fewer loads than a 6×2
     * tile (2 + 6 for 12), and fewer of A's strided rows when A is transposed.
     */
    static final int MR = 4;
    static final int NV = 3;
    static final int NR = NV * VL;
    /**
     * K block. A B panel of KC×NR floats (48 KiB at NR = 24) streams from L2, which keeps up (3
     * vectors per 12 multiply-adds); larger blocks read and write C fewer times.
     */
    static final int KC = 512;
    /** Most rows per task: MC rows of A, reused across all B panels, should stay in L2. */
    static final int MC_PANELS = 60;
    /** Fewest rows per task before splitting columns instead: B panels are reused over these rows. */
    static final int MIN_MC_PANELS = 12;
    /** The packed copy of B holds at most this many floats (16 MiB); wider B is done in column slabs. */
    static final int B_PACK_LIMIT = 1 << 22;
    /**
     * Fewest K for {@link #gemmTransposed}: its extra pass over C (m·n) must be small against the product (m·n·k),
     * which holds for weight gradients, where K is the batch's token count.
     */
    static final int SWAP_MIN_K = 1024;
    /** Side of the square tiles {@link #addTransposed} copies. */
    static final int TRANSPOSE_BLOCK = 32;
    /** Below this many multiply-adds a GEMM is not worth waking the pool for. */
    static final long PARALLEL_MIN_WORK = 1 << 18;
    /** Tasks per thread: several, so that an unevenly loaded machine still balances. */
    static final int TASKS_PER_THREAD = 4;
    /**
     * Fewest tasks per thread for a transposed A (weight gradients), more only when a task would exceed MC_PANELS:
     * each task packs its rows of A, and wider strips read dy in longer runs and B fewer times. The ViT's weight
     * gradients are the products that gain from this.
     */
    static final int TRANSPOSED_A_TASKS_PER_THREAD = 2;

    /** Per-thread buffers and loop bodies, reused across calls to avoid allocating and zeroing. */
    private static final class Scratch extends ReusableLoops {
        float[] packA = new float[0];
        /** A transposed A packed whole, for tasks that share its rows. */
        float[] packAll = new float[0];
        float[] packB = new float[0];
        /** packB as a segment, for {@link ArrayAlignment}: made once per buffer, not per call. */
        MemorySegment packBView = MemorySegment.ofArray(packB);
        final float[] tile = new float[MR * NR];
        /** The transposed product of {@link #gemmTransposed}. */
        float[] transposed = new float[0];
        final AddTransposed addTransposed = own(new AddTransposed());
        final GemmPacking.PackTransposedPanels packTransposedPanels = own(new GemmPacking.PackTransposedPanels());
        final GemmPacking.PackPanels packPanels = own(new GemmPacking.PackPanels());
        final ComputeTasks computeTasks = own(new ComputeTasks());
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private Gemm() {}

    static void gemm(Precision precision, boolean transA, boolean transB, int m, int n, int k, float alpha,
                     float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                     float[] c, int cOff, int ldc, boolean accumulate, float[] bias, int biasOff,
                     boolean parallel) {
        gemm(precision, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, accumulate, bias,
                biasOff, null, 0, false, parallel);
    }

    /**
     * {@link #gemm} that also adds to {@code sums} (from {@code sumsOff}) the row sums of op(A) over K, sums[i] +=
     * Σ_k A(i,k), or with {@code sumsOfB} the column sums of op(B), sums[j] += Σ_k B(k,j): the bias gradient of a
     * weight gradient dyᵀ·x is dy's column sums, op(A)'s row sums. They are taken while the operand is packed, which
     * reads every element once anyway (a separate pass over dy cost 4–19 % of a small-ViT weight gradient). Row sums
     * need a transposed A (the one that is packed), column sums an untransposed B. Each sum is taken in K order,
     * whatever the number of threads, and of op(A) or op(B) as given, never rounded: they are sums, not products.
     */
    static void gemm(Precision precision, boolean transA, boolean transB, int m, int n, int k, float alpha,
                     float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                     float[] c, int cOff, int ldc, boolean accumulate, float[] bias, int biasOff,
                     float[] sums, int sumsOff, boolean sumsOfB, boolean parallel) {
        if (sums != null && (sumsOfB ? transB : !transA)) {
            throw new IllegalArgumentException(sumsOfB ? "column sums of B need an untransposed B"
                    : "row sums of A need a transposed A");
        }
        if (m <= 0 || n <= 0) {
            if (sums != null && k > 0) sumsWithoutProduct(sumsOfB ? b : a, sumsOfB ? bOff : aOff,
                    sumsOfB ? ldb : lda, sumsOfB ? n : m, k, sums, sumsOff);
            return;
        }
        if (k <= 0) {
            writeWithoutProduct(m, n, c, cOff, ldc, accumulate, bias, biasOff);
            return;
        }
        if (transA && !transB && alpha == 1f && bias == null && !sumsOfB && m < n && k >= SWAP_MIN_K) {
            gemmTransposed(precision, m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, accumulate, sums, sumsOff,
                    parallel);
            return;
        }
        final float[] sumsOfA = sumsOfB ? null : sums, sumsOfBColumns = sumsOfB ? sums : null;
        // Inside another parallel loop (fused attention's products) the tasks would all run here: split for one thread.
        int threads = parallel && (long) m * n * k >= PARALLEL_MIN_WORK && CpuParallel.canSplit()
                ? CpuParallel.threads() : 1;
        // This thread's scratch, unless one of its gemm loops is running here (none calls gemm today): then a new one,
        // so that the running loop keeps its bodies' inputs and its packed B.
        Scratch scratch = ReusableLoops.ofThisThread(SCRATCH, Scratch::new);
        int kBlocks = (k + KC - 1) / KC;
        int slabCols = Math.max(NR, Math.min(roundUp(n, NR), B_PACK_LIMIT / k / NR * NR));
        int mPanels = (m + MR - 1) / MR;

        // Split C into tasks: row blocks first, then column ranges too when rows run out.
        int tasksPerThread = transA
                ? Math.max(TRANSPOSED_A_TASKS_PER_THREAD, ceilDiv(mPanels, threads * MC_PANELS)) : TASKS_PER_THREAD;
        int targetTasks = threads == 1 ? 1 : threads * tasksPerThread;
        int mcPanels = Math.min(MC_PANELS, ceilDiv(mPanels, targetTasks));
        mcPanels = Math.max(mcPanels, Math.min(MIN_MC_PANELS, mPanels));
        final int rowsPerTask = mcPanels * MR;
        final int mBlocks = ceilDiv(mPanels, mcPanels);

        // A transposed (the weight gradient dyᵀ·x) is packed by each task, K block by K block, where it stays in
        // cache; but when tasks share rows (column ranges of a short C) or there are several slabs, each would pack
        // the same rows again, so A is then packed once, whole, before any task runs.
        boolean rowsShared = mBlocks < targetTasks && n > NR || n > slabCols;
        final float[] packA = transA && rowsShared
                ? (scratch.packAll = ensure(scratch.packAll, pairedRows(mPanels) * k)) : null;
        if (packA != null) {
            int groups = ceilDiv(mPanels, PACK_GROUP_PANELS);
            int groupGrain = Math.max(1, 32_768 / (PACK_GROUP_PANELS * MR * k));
            if (threads > 1 && !CpuParallel.runsInline(groups, groupGrain)) {
                scratch.packTransposedPanels.run(precision, a, aOff, lda, m, k, kBlocks, mPanels, packA, sumsOfA,
                        sumsOff, groups, groupGrain);
            } else {
                packTransposedPanels(precision, a, aOff, lda, m, k, kBlocks, mPanels, packA, sumsOfA, sumsOff, 0,
                        mPanels);
            }
        }

        for (int jc = 0; jc < n; jc += slabCols) {
            final int col0 = jc;
            final int nc = Math.min(slabCols, n - jc);
            final int nPanels = (nc + NR - 1) / NR;
            if (scratch.packB.length < nPanels * NR * k + VL - 1) {
                scratch.packB = new float[nPanels * NR * k + VL - 1];
                scratch.packBView = MemorySegment.ofArray(scratch.packB);
            }
            final float[] packB = scratch.packB;
            // The packed B starts on a vector boundary (rows of NR floats then all do), wherever the array lies.
            final int bBase = ArrayAlignment.floatsToAlign(scratch.packBView, VL * Float.BYTES);

            int panelGrain = Math.max(1, 32_768 / (NR * k));
            // The pool only when it splits the loop: a single-threaded call (inside another loop) goes straight on.
            if (threads > 1 && !CpuParallel.runsInline(nPanels, panelGrain)) {
                scratch.packPanels.run(precision, transB, b, bOff, ldb, k, kBlocks, col0, nc, nPanels, packB, bBase,
                        sumsOfBColumns, sumsOff, panelGrain);
            } else {
                packPanels(precision, transB, b, bOff, ldb, k, kBlocks, col0, nc, nPanels, packB, bBase,
                        sumsOfBColumns, sumsOff, 0, nPanels);
            }

            final int nParts = mBlocks >= targetTasks ? 1 : Math.min(nPanels, ceilDiv(targetTasks, mBlocks));

            int tasks = mBlocks * nParts;
            if (threads > 1 && !CpuParallel.runsInline(tasks, 1)) {
                scratch.computeTasks.run(precision, transA, a, aOff, lda, packA, mPanels, packB, bBase, nPanels, k,
                        kBlocks, alpha, c, cOff, ldc, accumulate, bias, biasOff, packA == null ? sumsOfA : null,
                        sumsOff, m, col0, nc, rowsPerTask, nParts, tasks);
            } else {
                computeTasks(precision, transA, a, aOff, lda, packA, mPanels, packB, bBase, nPanels, k, kBlocks,
                        alpha, c, cOff, ldc, accumulate, bias, biasOff, packA == null ? sumsOfA : null, sumsOff, m,
                        col0, nc, rowsPerTask, nParts, 0, tasks);
            }
        }
    }

    /**
     * C (+)= Aᵀ·B for a transposed A with fewer rows than columns (the weight gradient dyᵀ·x of a layer with fewer
     * outputs than inputs, fc2's 192×768): computed as its transpose Bᵀ·A (768×192) into scratch, then added to C
     * transposed. Tasks own rows of C; with few rows they share them and split columns instead, which packs A
     * whole up front, slower than the per-task packing that many rows allow. Only short-and-wide products gain:
     * turned round, a tall-and-narrow one (qkv's 576×192) loses.
     */
    private static void gemmTransposed(Precision precision, int m, int n, int k, float[] a, int aOff, int lda,
                                       float[] b, int bOff, int ldb, float[] c, int cOff, int ldc, boolean accumulate,
                                       float[] sums, int sumsOff, boolean parallel) {
        Scratch scratch = ReusableLoops.ofThisThread(SCRATCH, Scratch::new);
        // The inner call uses the scratch's packing buffers, never this one.
        float[] transposed = scratch.transposed = ensure(scratch.transposed, m * n);
        // op(A)'s row sums are the column sums of the transposed product's B.
        gemm(precision, true, false, n, m, k, 1f, b, bOff, ldb, a, aOff, lda, transposed, 0, m, false, null, 0, sums,
                sumsOff, true, parallel);
        int blocks = ceilDiv(m, TRANSPOSE_BLOCK);
        if (parallel && CpuParallel.threads() > 1 && !CpuParallel.runsInline(blocks, 1)) {
            scratch.addTransposed.run(transposed, m, n, c, cOff, ldc, accumulate, blocks);
        } else {
            addTransposed(transposed, m, n, c, cOff, ldc, accumulate, 0, blocks);
        }
    }

    /**
     * C[i][j] (+)= t[j][i] for the rows of C in blocks [b0, b1) of {@link #TRANSPOSE_BLOCK}; t is n×m. Square tiles,
     * so that both sides' lines stay in L1 while a tile is copied.
     */
    private static void addTransposed(float[] t, int m, int n, float[] c, int cOff, int ldc, boolean accumulate,
                                      int b0, int b1) {
        for (int i0 = b0 * TRANSPOSE_BLOCK, iEnd = Math.min(m, b1 * TRANSPOSE_BLOCK); i0 < iEnd; i0 += TRANSPOSE_BLOCK) {
            int i1 = Math.min(iEnd, i0 + TRANSPOSE_BLOCK);
            for (int j0 = 0; j0 < n; j0 += TRANSPOSE_BLOCK) {
                int j1 = Math.min(n, j0 + TRANSPOSE_BLOCK);
                for (int i = i0; i < i1; i++) {
                    int row = cOff + i * ldc;
                    if (accumulate) {
                        for (int j = j0; j < j1; j++) c[row + j] += t[j * m + i];
                    } else {
                        for (int j = j0; j < j1; j++) c[row + j] = t[j * m + i];
                    }
                }
            }
        }
    }

    /** {@link #addTransposed} split over the pool. */
    private static final class AddTransposed extends ReusableLoops.Body {
        private float[] t, c;
        private int m, n, cOff, ldc;
        private boolean accumulate;

        void run(float[] t, int m, int n, float[] c, int cOff, int ldc, boolean accumulate, int blocks) {
            this.t = t;
            this.m = m;
            this.n = n;
            this.c = c;
            this.cOff = cOff;
            this.ldc = ldc;
            this.accumulate = accumulate;
            parallelFor(blocks, 1);
        }

        @Override
        public void run(int b0, int b1) {
            addTransposed(t, m, n, c, cOff, ldc, accumulate, b0, b1);
        }

        @Override
        protected void clearInputs() {
            t = c = null;
        }
    }

    /** {@link #computeTasks} split over the pool: the loop runs over the tasks. */
    private static final class ComputeTasks extends ReusableLoops.Body {
        private Precision precision;
        private boolean transA, accumulate;
        private float[] a, packA, packB, c, bias, rowSums;
        private int aOff, lda, mPanels, bBase, nPanels, k, kBlocks, cOff, ldc, biasOff, rowSumsOff, m, col0, nc,
                rowsPerTask, nParts;
        private float alpha;

        void run(Precision precision, boolean transA, float[] a, int aOff, int lda, float[] packA, int mPanels,
                 float[] packB, int bBase, int nPanels, int k, int kBlocks, float alpha, float[] c, int cOff, int ldc,
                 boolean accumulate, float[] bias, int biasOff, float[] rowSums, int rowSumsOff, int m, int col0,
                 int nc, int rowsPerTask, int nParts, int tasks) {
            this.precision = precision;
            this.bBase = bBase;
            this.rowSums = rowSums;
            this.rowSumsOff = rowSumsOff;
            this.transA = transA;
            this.a = a;
            this.aOff = aOff;
            this.lda = lda;
            this.packA = packA;
            this.mPanels = mPanels;
            this.packB = packB;
            this.nPanels = nPanels;
            this.k = k;
            this.kBlocks = kBlocks;
            this.alpha = alpha;
            this.c = c;
            this.cOff = cOff;
            this.ldc = ldc;
            this.accumulate = accumulate;
            this.bias = bias;
            this.biasOff = biasOff;
            this.m = m;
            this.col0 = col0;
            this.nc = nc;
            this.rowsPerTask = rowsPerTask;
            this.nParts = nParts;
            parallelFor(tasks, 1);
        }

        @Override
        public void run(int t0, int t1) {
            computeTasks(precision, transA, a, aOff, lda, packA, mPanels, packB, bBase, nPanels, k, kBlocks, alpha, c,
                    cOff, ldc, accumulate, bias, biasOff, rowSums, rowSumsOff, m, col0, nc, rowsPerTask, nParts, t0,
                    t1);
        }

        @Override
        protected void clearInputs() {
            a = packA = packB = c = bias = rowSums = null;
        }
    }

    /**
     * Tasks [t0, t1): task t owns a block of rows of C and one of nParts ranges of the slab's B panels. packA: a
     * transposed A packed whole by {@link GemmPacking#packTransposedPanels}, or null (A read in place, or packed by
     * the task).
     */
    private static void computeTasks(Precision precision, boolean transA, float[] a, int aOff, int lda,
                                     float[] packA, int mPanels, float[] packB, int bBase, int nPanels, int k,
                                     int kBlocks, float alpha, float[] c, int cOff, int ldc, boolean accumulate,
                                     float[] bias, int biasOff, float[] rowSums, int rowSumsOff, int m, int col0,
                                     int nc, int rowsPerTask, int nParts, int t0, int t1) {
        Scratch own = SCRATCH.get();
        for (int t = t0; t < t1; t++) {
            int row0 = (t / nParts) * rowsPerTask;
            int rows = Math.min(rowsPerTask, m - row0);
            int part = t % nParts;
            int q0 = (int) ((long) part * nPanels / nParts);
            int q1 = (int) ((long) (part + 1) * nPanels / nParts);
            computeBlock(own, precision, transA, a, aOff, lda, packA, mPanels, packB, bBase, nPanels, k, kBlocks, alpha,
                    c, cOff, ldc, accumulate, bias, biasOff, rowSums, rowSumsOff, row0, rows, col0, nc, q0, q1);
        }
    }

    /** One task: rows [row0, row0+rows) of C against B panels [q0, q1) of the current slab. */
    private static void computeBlock(Scratch scratch, Precision precision, boolean transA, float[] a, int aOff,
                                     int lda, float[] packedA, int mPanels, float[] packB, int bBase, int nPanels,
                                     int k, int kBlocks, float alpha, float[] c, int cOff, int ldc, boolean accumulate,
                                     float[] bias, int biasOff, float[] rowSums, int rowSumsOff, int row0, int rows,
                                     int col0, int nc, int q0, int q1) {
        int aPanels = (rows + MR - 1) / MR;
        float[] tile = scratch.tile;
        boolean packHere = transA && packedA == null;
        // In a reduced precision an untransposed A is packed too, rounded: its rows, kc floats each.
        boolean roundRows = !transA && precision != Precision.FP32;
        float[] packA = packHere ? (scratch.packA = ensure(scratch.packA, pairedRows(aPanels) * Math.min(k, KC)))
                : roundRows ? (scratch.packA = ensure(scratch.packA, rows * Math.min(k, KC))) : packedA;
        for (int kb = 0; kb < kBlocks; kb++) {
            int pc = blockStart(k, kBlocks, kb);
            int kc = blockStart(k, kBlocks, kb + 1) - pc;
            // The kernel reads A(r,k) = aSource[aIndex + r·aRowStride + k·aColStride].
            float[] aSource;
            int aRowStride, aColStride;
            if (transA) {
                // A task owns its rows (tasks that pack A here never share rows), so it may add their sums.
                if (packHere) {
                    packTransposedA(precision, a, aOff, lda, row0, rows, pc, kc, packA, 0, rowSums,
                            rowSumsOff + row0);
                }
                aSource = packA;
                aRowStride = 1;
                aColStride = PR;
            } else if (roundRows) {
                packRoundedRows(precision, a, aOff, lda, row0, rows, pc, kc, packA);
                aSource = packA;
                aRowStride = kc;
                aColStride = 1;
            } else {
                aSource = a;
                aRowStride = lda;
                aColStride = 1;
            }
            boolean first = kb == 0;
            boolean addC = !first || accumulate;
            float[] blockBias = first ? bias : null;
            // A full tile goes straight to C when the kernel can produce it: it starts from C, the
            // bias or zero (not C and bias) and cannot scale. Others are parked and written back.
            boolean direct = alpha == 1f && !(addC && blockBias != null);
            float[] init = addC ? c : blockBias;
            int blockBase = bBase + nPanels * NR * pc;
            int packedABlock = pairedRows(mPanels) * pc;
            for (int q = q0; q < q1; q++) {
                int col = col0 + q * NR;
                int cols = Math.min(NR, col0 + nc - col);
                int bIndex = blockBase + q * NR * kc;
                // The last panel may be narrower than NR: skip the vectors of the tile that are padding.
                int liveVectors = ceilDiv(cols, VL);
                for (int p = 0; p < aPanels; p++) {
                    int row = row0 + p * MR;
                    int liveRows = Math.min(MR, row0 + rows - row);
                    // Packed here: this task's pairs from row0; packed whole: the pairs of all of A, K block by block.
                    int aIndex = roundRows ? p * MR * kc : !transA ? aOff + row * lda + pc
                            : packHere ? p / 2 * PR * kc + p % 2 * MR
                            : packedABlock + row / PR * PR * kc + row / MR % 2 * MR;
                    int cIndex = cOff + row * ldc + col;
                    if (direct && liveRows == MR && cols == NR) {
                        kernel(kc, aSource, aIndex, aRowStride, aColStride, MR, packB, bIndex,
                                init, addC ? cIndex : biasOff + col, addC ? ldc : 0, c, cIndex, ldc);
                        continue;
                    }
                    if (liveVectors == NV) {
                        kernel(kc, aSource, aIndex, aRowStride, aColStride, liveRows, packB, bIndex,
                                null, 0, 0, tile, 0, NR);
                    } else if (liveVectors == 2) {
                        kernel2(kc, aSource, aIndex, aRowStride, aColStride, liveRows, packB, bIndex, tile);
                    } else {
                        kernel1(kc, aSource, aIndex, aRowStride, aColStride, liveRows, packB, bIndex, tile);
                    }
                    writeTile(tile, c, cIndex, ldc, liveRows, cols, alpha, addC, blockBias, biasOff + col);
                }
            }
        }
    }

    /** m = 0 or n = 0 but K > 0: no product, only the sums (row sums of a transposed A, or column sums of B). */
    private static void sumsWithoutProduct(float[] x, int off, int ld, int count, int k, float[] sums, int sumsOff) {
        for (int kk = 0; kk < k; kk++) {
            for (int i = 0; i < count; i++) sums[sumsOff + i] += x[off + kk * ld + i];
        }
    }

    /** K = 0: the product is empty, so C becomes bias (+ C). */
    private static void writeWithoutProduct(int m, int n, float[] c, int cOff, int ldc, boolean accumulate,
                                            float[] bias, int biasOff) {
        for (int i = 0; i < m; i++) {
            int row = cOff + i * ldc;
            for (int j = 0; j < n; j++) {
                float v = bias == null ? 0f : bias[biasOff + j];
                c[row + j] = accumulate ? c[row + j] + v : v;
            }
        }
    }

    /** Start of block {@code index} when [0, total) is split into {@code blocks} near-equal blocks. */
    static int blockStart(int total, int blocks, int index) {
        return (int) ((long) total * index / blocks);
    }

    private static float[] ensure(float[] buffer, int size) {
        return buffer.length >= size ? buffer : new float[size];
    }

    static int ceilDiv(int x, int y) {
        return (x + y - 1) / y;
    }

    private static int roundUp(int x, int multiple) {
        return ceilDiv(x, multiple) * multiple;
    }
}
