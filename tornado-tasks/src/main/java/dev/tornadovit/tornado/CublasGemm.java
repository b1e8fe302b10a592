package dev.tornadovit.tornado;

import uk.ac.manchester.tornado.api.common.Access;
import uk.ac.manchester.tornado.api.common.LibraryTaskDescriptor;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

import java.util.Arrays;

/**
 * The batched matrix product of {@link TornadoBackend} as one cuBLAS call, a TornadoVM library task in the same task
 * graph as our kernels: TornadoVM passes the device pointers of our buffers, and the call runs on the CUDA backend's
 * stream, in order with the kernels around it.
 *
 * <p>The calls are described to TornadoVM's hybrid API directly ({@link LibraryTaskDescriptor}, naming the provider
 * {@code nvidia/cublas} and its function, with the arguments in the order of the SDK's {@code CuBlas} factories), so
 * this module compiles against TornadoVM's API alone and runs on an SDK without the cuBLAS module, where this class is
 * never used ({@link GemmStrategy}).
 *
 * <p>cuBLAS is column-major and our matrices row-major: a row-major M×N matrix is its column-major transpose, so
 * row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, an N×M product with the operands swapped. A stored
 * untransposed row-major [R,C] is the column-major C×R matrix with leading dimension C.
 */
final class CublasGemm {
    private CublasGemm() {
    }

    static final String LIBRARY = "nvidia/cublas";
    /** cublasOperation_t. */
    private static final int OP_N = 0, OP_T = 1;

    /**
     * C[z] = alpha·op(A[z])·op(B[z]) + (accumulate ? C[z] : 0) for z in [0, batches), operand z at z·stride (stride 0:
     * shared). Layouts as {@link dev.tornadovit.tornado.kernels.MatmulKernels#gemm}.
     */
    static TornadoBackend.Task task(DeviceTensor a, DeviceTensor b, DeviceTensor c, int m, int n, int k, int batches,
                                    int strideA, int strideB, int strideC, int transA, int transB, float alpha,
                                    int accumulate) {
        // column-major first operand: op(B)ᵀ (N×K); second: op(A)ᵀ (K×M)
        int opFirst = transB == 0 ? OP_N : OP_T, ldFirst = transB == 0 ? n : k;
        int opSecond = transA == 0 ? OP_N : OP_T, ldSecond = transA == 0 ? k : m;
        float beta = accumulate == 1 ? 1f : 0f;
        if (batches == 1) {
            return TornadoBackend.task("cublasSgemm", null, (g, id) -> g.libraryTask(id, CublasGemm::sgemm, opFirst,
                            opSecond, n, m, k, alpha, b.array, ldFirst, a.array, ldSecond, beta, c.array, n),
                    opFirst, opSecond, n, m, k, alpha, b, ldFirst, a, ldSecond, beta, c, n);
        }
        long sFirst = strideB, sSecond = strideA, sC = strideC;
        return TornadoBackend.task("cublasSgemmStridedBatched", null, (g, id) -> g.libraryTask(id,
                        CublasGemm::sgemmStridedBatched, opFirst, opSecond, n, m, k, alpha, b.array, ldFirst, sFirst,
                        a.array, ldSecond, sSecond, beta, c.array, n, sC, batches),
                opFirst, opSecond, n, m, k, alpha, b, ldFirst, sFirst, a, ldSecond, sSecond, beta, c, n, sC, batches);
    }

    /** cublasSgemm, column-major: C = alpha·op(A)·op(B) + beta·C; arguments as the SDK's CuBlas.cublasSgemm. */
    static LibraryTaskDescriptor sgemm(int transa, int transb, int m, int n, int k, float alpha, FloatArray a, int lda,
                                       FloatArray b, int ldb, float beta, FloatArray c, int ldc) {
        return new LibraryTaskDescriptor().withLibrary(LIBRARY).withFunction("cublasSgemm")
                .withParameters(new Object[]{transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc})
                .withAccess(readOnlyExcept(13, 11, beta));
    }

    /** cublasSgemmStridedBatched; arguments as the SDK's CuBlas.cublasSgemmStridedBatched. */
    static LibraryTaskDescriptor sgemmStridedBatched(int transa, int transb, int m, int n, int k, float alpha,
                                                     FloatArray a, int lda, long strideA, FloatArray b, int ldb,
                                                     long strideB, float beta, FloatArray c, int ldc, long strideC,
                                                     int batchCount) {
        return new LibraryTaskDescriptor().withLibrary(LIBRARY).withFunction("cublasSgemmStridedBatched")
                .withParameters(new Object[]{transa, transb, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c,
                        ldc, strideC, batchCount})
                .withAccess(readOnlyExcept(17, 13, beta));
    }

    /** Every argument read-only but the output, which is also read when beta is not 0. */
    private static Access[] readOnlyExcept(int count, int output, float beta) {
        Access[] access = new Access[count];
        Arrays.fill(access, Access.READ_ONLY);
        access[output] = beta != 0f ? Access.READ_WRITE : Access.WRITE_ONLY;
        return access;
    }
}
