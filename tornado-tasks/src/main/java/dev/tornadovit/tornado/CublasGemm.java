package dev.tornadovit.tornado;

import dev.tornadovit.tornado.cuda.CudaLibraryProvider;
import dev.tornadovit.tornado.cuda.GemmCompute;
import dev.tornadovit.tornado.cuda.HeadBatch;
import dev.tornadovit.tornado.cuda.ProductEpilogue;

/**
 * The batched matrix product of {@link TornadoBackend} as one cuBLAS call ({@code cublasGemmEx}, or
 * {@code cublasGemmStridedBatchedEx} for the attention products), a TornadoVM library task in the same task graph as
 * our kernels: TornadoVM passes the device pointers of our buffers, and the call runs on the CUDA backend's stream, in
 * order with the kernels around it ({@link CudaLibraryProvider}). The compute type ({@link GemmCompute}) chooses fp32,
 * TF32 or bf16 arithmetic on the fp32 tensors, or bf16 products of operands stored as bf16 ({@link Bf16Operands}'
 * copies, passed here in place of the fp32 tensors).
 *
 * <p>cuBLAS is column-major and our matrices row-major: a row-major M×N matrix is its column-major transpose, so
 * row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, an N×M product with the operands swapped. A stored
 * untransposed row-major [R,C] is the column-major C×R matrix with leading dimension C.
 */
final class CublasGemm {
    private CublasGemm() {
    }

    /** cublasOperation_t. */
    private static final int OP_N = 0, OP_T = 1;

    /**
     * One operand or result of a product as a view into a tensor: row-major rows of {@code rowLength} values (the
     * leading dimension, at least the matrix's stored row), starting {@code offset} values into the tensor, matrix z
     * of a batch {@code stride} values after matrix z − 1. An attention head's q in the qkv activation [B,T,3,H,hd] is
     * a view: rows of 3·H·hd values, one batch of tokens after another.
     */
    record View(DeviceTensor tensor, long offset, int rowLength, long stride) {
        /** A whole tensor holding contiguous [rows, rowLength] matrices, one every {@code stride} values. */
        static View whole(DeviceTensor tensor, int rowLength, long stride) {
            return new View(tensor, 0, rowLength, stride);
        }
    }

    /**
     * C[z] = alpha·op(A[z])·op(B[z]) + (accumulate ? C[z] : 0) for z in [0, batches), operand z at z·stride (stride 0:
     * shared). Layouts as {@link MatrixProducts#gemm}.
     */
    static Task task(DeviceTensor a, DeviceTensor b, DeviceTensor c, int m, int n, int k, int batches,
                     int strideA, int strideB, int strideC, int transA, int transB, float alpha,
                     int accumulate, GemmCompute compute) {
        return task(View.whole(a, transA == 0 ? k : m, strideA), View.whole(b, transB == 0 ? n : k, strideB),
                View.whole(c, n, strideC), false, m, n, k, batches, transA, transB, alpha, accumulate, compute);
    }

    /**
     * {@link #task} on views: A, B and C are matrices of the views' tensors, row-major with the views' row lengths;
     * {@code partialC}: C's view leaves values of its tensor that other products write.
     */
    static Task task(View a, View b, View c, boolean partialC, int m, int n, int k, int batches, int transA,
                     int transB, float alpha, int accumulate, GemmCompute compute) {
        // column-major first operand: op(B)ᵀ (N×K); second: op(A)ᵀ (K×M)
        int operations = CudaLibraryProvider.gemmOperations(transB == 0 ? OP_N : OP_T, transA == 0 ? OP_N : OP_T,
                partialC);
        float beta = accumulate == 1 ? 1f : 0f;
        DeviceTensor first = b.tensor(), second = a.tensor(), out = c.tensor();
        int ldFirst = b.rowLength(), ldSecond = a.rowLength(), ldc = c.rowLength();
        long sFirst = b.stride(), sSecond = a.stride(), sC = c.stride();
        long oFirst = b.offset(), oSecond = a.offset(), oC = c.offset();
        return Launches.task("cublasGemm", null, (g, id) -> g.libraryTask(id, CudaLibraryProvider::gemm,
                        operations, n, m, k, alpha, first.buffer(), ldFirst, sFirst, second.buffer(), ldSecond, sSecond,
                        beta, out.array, ldc, sC, batches, compute, oFirst, oSecond, oC),
                operations, n, m, k, alpha, first, ldFirst, sFirst, second, ldSecond, sSecond, beta, out, ldc, sC,
                batches, compute, oFirst, oSecond, oC);
    }

    /**
     * One {@link CudaLibraryProvider#GEMM_HEADS} call in cuBLAS's column-major terms: {@code operations} from
     * {@link CudaLibraryProvider#gemmOperations}, each column-major m×n C = alpha·op(first)·op(second) + beta·C, the
     * views' offsets and row lengths as cuBLAS's matrix starts and leading dimensions, and {@code batch}'s A the first
     * operand's matrices, B the second's.
     */
    record HeadsCall(int operations, int m, int n, int k, View first, View second, View c, HeadBatch batch,
                     float alpha, float beta) {
    }

    /**
     * {@link #task} on views over images and heads as one product: matrix (image i, head h) of each operand at i·the
     * view's stride + h·its {@code headStep} values past the view's offset, {@code images}·{@code heads} matrices.
     */
    static HeadsCall headsCall(View a, long headStepA, View b, long headStepB, View c, long headStepC, int heads,
                               int m, int n, int k, int images, int transA, int transB, float alpha, int accumulate) {
        // column-major first operand: op(B)ᵀ (N×K); second: op(A)ᵀ (K×M)
        int operations = CudaLibraryProvider.gemmOperations(transB == 0 ? OP_N : OP_T, transA == 0 ? OP_N : OP_T,
                true);
        HeadBatch batch = new HeadBatch(images, heads, b.stride(), headStepB, a.stride(), headStepA, c.stride(),
                headStepC);
        return new HeadsCall(operations, n, m, k, b, a, c, batch, alpha, accumulate == 1 ? 1f : 0f);
    }

    /** {@link #headsCall} as a library task; C's view is taken to share its tensor with other products'. */
    static Task headsTask(HeadsCall call, GemmCompute compute) {
        View first = call.first(), second = call.second(), c = call.c();
        DeviceTensor a = first.tensor(), b = second.tensor(), out = c.tensor();
        int operations = call.operations(), m = call.m(), n = call.n(), k = call.k();
        int lda = first.rowLength(), ldb = second.rowLength(), ldc = c.rowLength();
        long offsetA = first.offset(), offsetB = second.offset(), offsetC = c.offset();
        float alpha = call.alpha(), beta = call.beta();
        HeadBatch batch = call.batch();
        return Launches.task("cublasGemmHeads", null, (g, id) -> g.libraryTask(id, CudaLibraryProvider::gemmHeads,
                        operations, m, n, k, alpha, a.buffer(), lda, b.buffer(), ldb, beta, out.array, ldc, compute,
                        offsetA, offsetB, offsetC, batch),
                operations, m, n, k, alpha, a, lda, b, ldb, beta, out, ldc, compute, offsetA, offsetB, offsetC, batch);
    }

    /**
     * One {@value CudaLibraryProvider#GEMM_EPILOGUE} call in cuBLAS's column-major terms, as {@link HeadsCall}: a
     * strided batch of {@code batches} matrices, and its epilogue with the mask's geometry.
     */
    record EpilogueCall(int operations, int m, int n, int k, View first, View second, View c, int batches, float alpha,
                        float beta, ProductEpilogue epilogue, DeviceTensor mask) {
    }

    /**
     * Values of a tensor that holds the ReLU masks of {@code images}·{@code heads} row-major m×n products, as
     * {@link #headsWithEpilogue} lays them out.
     */
    static long maskValues(int images, int heads, int m, int n) {
        long bytes = ProductEpilogue.maskStartBytes() + (long) images * heads * maskBitsPerMatrix(m, n) / 8;
        return (bytes + Float.BYTES - 1) / Float.BYTES;
    }

    /** Row-major m×n C is column-major n×m: n rows a column, m columns. */
    private static long maskBitsPerMatrix(int m, int n) {
        return ProductEpilogue.maskLd(n) * m;
    }

    /**
     * {@link #task} on views per head, as {@link MatrixProducts#gemmHeads} without one batch (cuBLAS's pointer-array
     * product has no epilogues), each with {@code epilogue}: one call a head, each a strided batch over the images.
     * The mask of image i's head h is matrix i·heads + h of {@code mask} ({@link #maskValues} values); ReLU without a
     * mask ({@link CudaLibraryProvider.Epilogue#RELU}) takes none (null).
     */
    static EpilogueCall[] headsWithEpilogue(View a, long headStepA, View b, long headStepB, View c, long headStepC,
                                            int heads, int m, int n, int k, int images, int transA, int transB,
                                            float alpha, int accumulate, CudaLibraryProvider.Epilogue epilogue,
                                            DeviceTensor mask) {
        int operations = CudaLibraryProvider.gemmOperations(transB == 0 ? OP_N : OP_T, transA == 0 ? OP_N : OP_T,
                true);
        boolean masked = epilogue.hasMask();
        if (!masked && mask != null) throw new IllegalArgumentException(epilogue + " has no mask");
        long bits = masked ? maskBitsPerMatrix(m, n) : 0;
        EpilogueCall[] calls = new EpilogueCall[heads];
        for (int h = 0; h < heads; h++) {
            ProductEpilogue e = new ProductEpilogue(epilogue, b.offset() + h * headStepB, a.offset() + h * headStepA,
                    c.offset() + h * headStepC, masked ? ProductEpilogue.maskStartBytes() + h * bits / 8 : 0,
                    masked ? ProductEpilogue.maskLd(n) : 0, heads * bits);
            calls[h] = new EpilogueCall(operations, n, m, k, b, a, c, images, alpha, accumulate == 1 ? 1f : 0f, e,
                    mask);
        }
        return calls;
    }

    /** {@link #headsWithEpilogue}'s call as a library task; C's view is taken to share its tensor with others'. */
    static Task epilogueTask(EpilogueCall call, GemmCompute compute) {
        View first = call.first(), second = call.second(), c = call.c();
        DeviceTensor a = first.tensor(), b = second.tensor(), out = c.tensor(), mask = call.mask();
        int operations = call.operations(), m = call.m(), n = call.n(), k = call.k(), batches = call.batches();
        int lda = first.rowLength(), ldb = second.rowLength(), ldc = c.rowLength();
        long strideA = first.stride(), strideB = second.stride(), strideC = c.stride();
        float alpha = call.alpha(), beta = call.beta();
        ProductEpilogue epilogue = call.epilogue();
        if (mask == null) {
            return Launches.task("cublasLtEpilogue", null, (g, id) -> g.libraryTask(id,
                            CudaLibraryProvider::gemmEpilogue, operations, m, n, k, alpha, a.buffer(), lda, strideA,
                            b.buffer(), ldb, strideB, beta, out.array, ldc, strideC, batches, compute, epilogue),
                    operations, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, out, ldc, strideC, batches,
                    compute, epilogue);
        }
        return Launches.task("cublasLtEpilogue", null, (g, id) -> g.libraryTask(id, CudaLibraryProvider::gemmEpilogue,
                        operations, m, n, k, alpha, a.buffer(), lda, strideA, b.buffer(), ldb, strideB, beta, out.array,
                        ldc, strideC, batches, compute, mask.array, epilogue),
                operations, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, out, ldc, strideC, batches,
                compute, mask, epilogue);
    }

    /** y[M,N] = x[M,K]·w[N,K]ᵀ + bias[N]: one cuBLASLt product with the bias in its epilogue. */
    static Task linearForward(DeviceTensor x, DeviceTensor w, DeviceTensor bias, DeviceTensor y, int m,
                              int k, int n, GemmCompute compute) {
        // column-major yᵀ (N×M) = wᵀᵀ·xᵀ: first operand w (stored K×N, transposed), second x (K×M); bias per row of yᵀ
        return Launches.task("cublasLtLinear", null, (g, id) -> g.libraryTask(id, CudaLibraryProvider::linear,
                        OP_T, OP_N, n, m, k, 1f, w.buffer(), k, x.buffer(), k, 0f, y.array, n, bias.array,
                        CudaLibraryProvider.Epilogue.BIAS, compute),
                OP_T, OP_N, n, m, k, 1f, w, k, x, k, 0f, y, n, bias, CudaLibraryProvider.Epilogue.BIAS, compute);
    }

    /**
     * dw[N,K] += dy[M,N]ᵀ·x[M,K], and biasGradient[N] = Σ_M dy (written, not added): one cuBLASLt product with the
     * bias gradient in its epilogue.
     */
    static Task weightGradientWithBias(DeviceTensor dy, DeviceTensor x, DeviceTensor dw,
                                       DeviceTensor biasGradient, int m, int k, int n,
                                       GemmCompute compute) {
        // column-major dwᵀ (K×N) = xᵀ (K×M) · dy (M×N, dy stored N×M read transposed); the bias gradient sums op(dy)
        // over the inner M: one value per column of dwᵀ
        return Launches.task("cublasLtWeightGradient", null, (g, id) -> g.libraryTask(id,
                        CudaLibraryProvider::linear, OP_N, OP_T, k, n, m, 1f, x.buffer(), k, dy.buffer(), n, 1f, dw.array, k,
                        biasGradient.array, CudaLibraryProvider.Epilogue.BIAS_GRADIENT_OF_B, compute),
                OP_N, OP_T, k, n, m, 1f, x, k, dy, n, 1f, dw, k, biasGradient,
                CudaLibraryProvider.Epilogue.BIAS_GRADIENT_OF_B, compute);
    }
}
