package dev.tornadovit.backend.cpu;

import dev.tornadovit.tensor.Precision;

/**
 * Fast float32 matrix products for the CPU backend: row-major, on sub-arrays given by offsets,
 * vectorised with the Vector API and run in parallel on {@link CpuParallel}.
 * The tests' MatmulReference has a plain triple-loop version of every method, with the same signature.
 *
 * <p><b>Linear layers</b> use PyTorch's weight layout {@code w[N,K]} ([out, in]); x is
 * {@code [M,K]}, y is {@code [M,N]}, all contiguous.
 *
 * <p><b>Batched products</b> (attention) take every matrix by offset, batch strides and a row
 * stride ("leading dimension"): element (i, j) of matrix {@code b·heads + h} of A is
 * {@code a[aOff + b·aBatchStride + h·aHeadStride + i·lda + j]}, likewise for B and C. The two batch
 * levels let q, k and v be read in place from a {@code [B,T,3,H,hd]} qkv buffer: for q,
 * {@code aOff = 0, aBatchStride = T·3·H·hd, aHeadStride = hd, lda = 3·H·hd}; k and v are the same
 * with offsets {@code H·hd} and {@code 2·H·hd}. The single-level overloads are the case
 * {@code heads = 1}. In every form, C_b is M×N and K is the contracted dimension.
 *
 * <p><b>Precision</b>: the methods that take a {@link Precision} round both operands of the product to it (tf32,
 * bf16: emulated, for reference and testing) and accumulate in fp32; the others, and {@link Precision#FP32}, are the
 * plain fp32 product.
 */
public final class Matmul {

    private Matmul() {}

    /** y[M,N] = x[M,K]·w[N,K]ᵀ + bias[N]; {@code bias} may be null. Overwrites y. */
    public static void linearForward(float[] x, int xOff, float[] w, int wOff, float[] bias, int bOff,
                                     float[] y, int yOff, int M, int K, int N) {
        linearForward(Precision.FP32, x, xOff, w, wOff, bias, bOff, y, yOff, M, K, N);
    }

    /** {@link #linearForward} with x and w rounded to {@code precision}; the bias is added in fp32. */
    public static void linearForward(Precision precision, float[] x, int xOff, float[] w, int wOff, float[] bias,
                                     int bOff, float[] y, int yOff, int M, int K, int N) {
        Gemm.gemm(precision, false, true, M, N, K, 1f, x, xOff, K, w, wOff, K, y, yOff, N, false, bias, bOff, true);
    }

    /** dx[M,K] = dy[M,N]·w[N,K], or dx += that when {@code accumulate}. */
    public static void linearBackwardInput(float[] dy, int dyOff, float[] w, int wOff, float[] dx, int dxOff,
                                           int M, int K, int N, boolean accumulate) {
        linearBackwardInput(Precision.FP32, dy, dyOff, w, wOff, dx, dxOff, M, K, N, accumulate);
    }

    /** {@link #linearBackwardInput} with dy and w rounded to {@code precision}. */
    public static void linearBackwardInput(Precision precision, float[] dy, int dyOff, float[] w, int wOff,
                                           float[] dx, int dxOff, int M, int K, int N, boolean accumulate) {
        Gemm.gemm(precision, false, false, M, K, N, 1f, dy, dyOff, N, w, wOff, K, dx, dxOff, K, accumulate, null, 0,
                true);
    }

    /**
     * dw[N,K] += dy[M,N]ᵀ·x[M,K] and dbias[N] += Σ_m dy[m,:] ({@code dbias} may be null). Always
     * accumulates, as gradients do; zero the gradients before the first micro-batch.
     */
    public static void linearBackwardWeight(float[] dy, int dyOff, float[] x, int xOff, float[] dw, int dwOff,
                                            float[] dbias, int dbOff, int M, int K, int N) {
        linearBackwardWeight(Precision.FP32, dy, dyOff, x, xOff, dw, dwOff, dbias, dbOff, M, K, N);
    }

    /** {@link #linearBackwardWeight} with dy and x rounded to {@code precision}; dbias sums dy as it is. */
    public static void linearBackwardWeight(Precision precision, float[] dy, int dyOff, float[] x, int xOff,
                                            float[] dw, int dwOff, float[] dbias, int dbOff, int M, int K, int N) {
        // dbias is dy's column sums, the row sums of the GEMM's A (dyᵀ), taken while dyᵀ is packed.
        Gemm.gemm(precision, true, false, N, K, M, 1f, dy, dyOff, N, x, xOff, K, dw, dwOff, K, true, null, 0, dbias,
                dbOff, false, true);
    }

    /** C_b = alpha·A_b·B_bᵀ (+ C_b): A_b is M×K, B_b is N×K. One batch level; see the class comment. */
    public static void batchedNT(int batch,
                                 float[] a, int aOff, int aBatchStride, int lda,
                                 float[] b, int bOff, int bBatchStride, int ldb,
                                 float[] c, int cOff, int cBatchStride, int ldc,
                                 int M, int N, int K, float alpha, boolean accumulate) {
        batchedNT(Precision.FP32, batch, a, aOff, aBatchStride, lda, b, bOff, bBatchStride, ldb, c, cOff, cBatchStride,
                ldc, M, N, K, alpha, accumulate);
    }

    /** batchedNT with A and B rounded to {@code precision}: the attention products in tf32 or bf16. */
    public static void batchedNT(Precision precision, int batch,
                                 float[] a, int aOff, int aBatchStride, int lda,
                                 float[] b, int bOff, int bBatchStride, int ldb,
                                 float[] c, int cOff, int cBatchStride, int ldc,
                                 int M, int N, int K, float alpha, boolean accumulate) {
        batched(precision, false, true, batch, 1, a, aOff, aBatchStride, 0, lda, b, bOff, bBatchStride, 0, ldb,
                c, cOff, cBatchStride, 0, ldc, M, N, K, alpha, accumulate);
    }

    /** C_b = alpha·A_b·B_b (+ C_b): A_b is M×K, B_b is K×N. One batch level; see the class comment. */
    public static void batchedNN(int batch,
                                 float[] a, int aOff, int aBatchStride, int lda,
                                 float[] b, int bOff, int bBatchStride, int ldb,
                                 float[] c, int cOff, int cBatchStride, int ldc,
                                 int M, int N, int K, float alpha, boolean accumulate) {
        batchedNN(Precision.FP32, batch, a, aOff, aBatchStride, lda, b, bOff, bBatchStride, ldb, c, cOff, cBatchStride,
                ldc, M, N, K, alpha, accumulate);
    }

    /** batchedNN with A and B rounded to {@code precision}: the attention products in tf32 or bf16. */
    public static void batchedNN(Precision precision, int batch,
                                 float[] a, int aOff, int aBatchStride, int lda,
                                 float[] b, int bOff, int bBatchStride, int ldb,
                                 float[] c, int cOff, int cBatchStride, int ldc,
                                 int M, int N, int K, float alpha, boolean accumulate) {
        batched(precision, false, false, batch, 1, a, aOff, aBatchStride, 0, lda, b, bOff, bBatchStride, 0, ldb,
                c, cOff, cBatchStride, 0, ldc, M, N, K, alpha, accumulate);
    }

    /** C_b = alpha·A_bᵀ·B_b (+ C_b): A_b is stored K×M, B_b is K×N. One batch level; see the class comment. */
    public static void batchedTN(int batch,
                                 float[] a, int aOff, int aBatchStride, int lda,
                                 float[] b, int bOff, int bBatchStride, int ldb,
                                 float[] c, int cOff, int cBatchStride, int ldc,
                                 int M, int N, int K, float alpha, boolean accumulate) {
        batchedTN(Precision.FP32, batch, a, aOff, aBatchStride, lda, b, bOff, bBatchStride, ldb, c, cOff, cBatchStride,
                ldc, M, N, K, alpha, accumulate);
    }

    /** batchedTN with A and B rounded to {@code precision}: the attention products in tf32 or bf16. */
    public static void batchedTN(Precision precision, int batch,
                                 float[] a, int aOff, int aBatchStride, int lda,
                                 float[] b, int bOff, int bBatchStride, int ldb,
                                 float[] c, int cOff, int cBatchStride, int ldc,
                                 int M, int N, int K, float alpha, boolean accumulate) {
        batched(precision, true, false, batch, 1, a, aOff, aBatchStride, 0, lda, b, bOff, bBatchStride, 0, ldb,
                c, cOff, cBatchStride, 0, ldc, M, N, K, alpha, accumulate);
    }

    /** {@link #batchedNT} over {@code batch × heads} matrices; see the class comment for the strides. */
    public static void batchedNT(int batch, int heads,
                                 float[] a, int aOff, int aBatchStride, int aHeadStride, int lda,
                                 float[] b, int bOff, int bBatchStride, int bHeadStride, int ldb,
                                 float[] c, int cOff, int cBatchStride, int cHeadStride, int ldc,
                                 int M, int N, int K, float alpha, boolean accumulate) {
        batched(Precision.FP32, false, true, batch, heads, a, aOff, aBatchStride, aHeadStride, lda, b, bOff,
                bBatchStride, bHeadStride, ldb, c, cOff, cBatchStride, cHeadStride, ldc, M, N, K, alpha, accumulate);
    }

    /** {@link #batchedNN} over {@code batch × heads} matrices; see the class comment for the strides. */
    public static void batchedNN(int batch, int heads,
                                 float[] a, int aOff, int aBatchStride, int aHeadStride, int lda,
                                 float[] b, int bOff, int bBatchStride, int bHeadStride, int ldb,
                                 float[] c, int cOff, int cBatchStride, int cHeadStride, int ldc,
                                 int M, int N, int K, float alpha, boolean accumulate) {
        batched(Precision.FP32, false, false, batch, heads, a, aOff, aBatchStride, aHeadStride, lda, b, bOff,
                bBatchStride, bHeadStride, ldb, c, cOff, cBatchStride, cHeadStride, ldc, M, N, K, alpha, accumulate);
    }

    /** {@link #batchedTN} over {@code batch × heads} matrices; see the class comment for the strides. */
    public static void batchedTN(int batch, int heads,
                                 float[] a, int aOff, int aBatchStride, int aHeadStride, int lda,
                                 float[] b, int bOff, int bBatchStride, int bHeadStride, int ldb,
                                 float[] c, int cOff, int cBatchStride, int cHeadStride, int ldc,
                                 int M, int N, int K, float alpha, boolean accumulate) {
        batched(Precision.FP32, true, false, batch, heads, a, aOff, aBatchStride, aHeadStride, lda, b, bOff,
                bBatchStride, bHeadStride, ldb, c, cOff, cBatchStride, cHeadStride, ldc, M, N, K, alpha, accumulate);
    }

    private static void batched(Precision precision, boolean transA, boolean transB, int batch, int heads,
                                float[] a, int aOff, int aBatchStride, int aHeadStride, int lda,
                                float[] b, int bOff, int bBatchStride, int bHeadStride, int ldb,
                                float[] c, int cOff, int cBatchStride, int cHeadStride, int ldc,
                                int m, int n, int k, float alpha, boolean accumulate) {
        int count = batch * heads;
        if (count <= 0) {
            return;
        }
        long workPerMatrix = Math.max(1L, (long) m * n * k);
        int threads = CpuParallel.threads();
        if (count >= Gemm.TASKS_PER_THREAD * threads || workPerMatrix < Gemm.PARALLEL_MIN_WORK) {
            // Many (or small) matrices: one matrix per task, each multiplied single-threaded.
            int grain = (int) Math.max(1, Gemm.PARALLEL_MIN_WORK / workPerMatrix);
            if (CpuParallel.runsInline(count, grain)) {
                // Called inside a parallel loop (fused attention, per head group): straight to the products.
                multiplyEach(precision, transA, transB, heads, a, aOff, aBatchStride, aHeadStride, lda, b, bOff,
                        bBatchStride, bHeadStride, ldb, c, cOff, cBatchStride, cHeadStride, ldc, m, n, k, alpha,
                        accumulate, 0, count, false);
            } else {
                loops().multiplyEach.run(precision, transA, transB, heads, a, aOff, aBatchStride, aHeadStride, lda,
                        b, bOff, bBatchStride, bHeadStride, ldb, c, cOff, cBatchStride, cHeadStride, ldc, m, n, k,
                        alpha, accumulate, count, grain);
            }
        } else {
            // Few large matrices: parallelise inside each product instead.
            multiplyEach(precision, transA, transB, heads, a, aOff, aBatchStride, aHeadStride, lda, b, bOff,
                    bBatchStride, bHeadStride, ldb, c, cOff, cBatchStride, cHeadStride, ldc, m, n, k, alpha, accumulate,
                    0, count, true);
        }
    }

    /** Matrices [start, end) of a batched product in turn; each product itself uses the pool only if {@code parallel}. */
    private static void multiplyEach(Precision precision, boolean transA, boolean transB, int heads,
                                     float[] a, int aOff, int aBatchStride, int aHeadStride, int lda,
                                     float[] b, int bOff, int bBatchStride, int bHeadStride, int ldb,
                                     float[] c, int cOff, int cBatchStride, int cHeadStride, int ldc,
                                     int m, int n, int k, float alpha, boolean accumulate, int start, int end,
                                     boolean parallel) {
        for (int i = start; i < end; i++) {
            int bi = i / heads, h = i % heads;
            Gemm.gemm(precision, transA, transB, m, n, k, alpha,
                    a, aOff + bi * aBatchStride + h * aHeadStride, lda,
                    b, bOff + bi * bBatchStride + h * bHeadStride, ldb,
                    c, cOff + bi * cBatchStride + h * cHeadStride, ldc, accumulate, null, 0, parallel);
        }
    }

    /** The products of a batched call, split over the pool by matrix: each runs {@link #multiplyEach} on its share. */
    private static final class MultiplyEach extends ReusableLoops.Body {
        private Precision precision;
        private boolean transA, transB, accumulate;
        private int heads, aOff, aBatchStride, aHeadStride, lda, bOff, bBatchStride, bHeadStride, ldb;
        private int cOff, cBatchStride, cHeadStride, ldc, m, n, k;
        private float alpha;
        private float[] a, b, c;

        void run(Precision precision, boolean transA, boolean transB, int heads,
                 float[] a, int aOff, int aBatchStride, int aHeadStride, int lda,
                 float[] b, int bOff, int bBatchStride, int bHeadStride, int ldb,
                 float[] c, int cOff, int cBatchStride, int cHeadStride, int ldc,
                 int m, int n, int k, float alpha, boolean accumulate, int count, int grain) {
            this.precision = precision;
            this.transA = transA;
            this.transB = transB;
            this.heads = heads;
            this.a = a;
            this.aOff = aOff;
            this.aBatchStride = aBatchStride;
            this.aHeadStride = aHeadStride;
            this.lda = lda;
            this.b = b;
            this.bOff = bOff;
            this.bBatchStride = bBatchStride;
            this.bHeadStride = bHeadStride;
            this.ldb = ldb;
            this.c = c;
            this.cOff = cOff;
            this.cBatchStride = cBatchStride;
            this.cHeadStride = cHeadStride;
            this.ldc = ldc;
            this.m = m;
            this.n = n;
            this.k = k;
            this.alpha = alpha;
            this.accumulate = accumulate;
            parallelFor(count, grain);
        }

        @Override
        public void run(int start, int end) {
            multiplyEach(precision, transA, transB, heads, a, aOff, aBatchStride, aHeadStride, lda, b, bOff,
                    bBatchStride, bHeadStride, ldb, c, cOff, cBatchStride, cHeadStride, ldc, m, n, k, alpha, accumulate,
                    start, end, false);
        }

        @Override
        protected void clearInputs() {
            a = b = c = null;
        }
    }

    /** Each thread's loop bodies of this class; see {@link ReusableLoops}. */
    private static final class Loops extends ReusableLoops {
        final MultiplyEach multiplyEach = own(new MultiplyEach());
    }

    private static final ThreadLocal<Loops> LOOPS = ThreadLocal.withInitial(Loops::new);

    private static Loops loops() {
        return ReusableLoops.ofThisThread(LOOPS, Loops::new);
    }
}
