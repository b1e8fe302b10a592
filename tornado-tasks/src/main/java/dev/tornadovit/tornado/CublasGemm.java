package dev.tornadovit.tornado;

import dev.tornadovit.tornado.cuda.CudaLibraryProvider;
import dev.tornadovit.tornado.cuda.GemmCompute;

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
     * C[z] = alpha·op(A[z])·op(B[z]) + (accumulate ? C[z] : 0) for z in [0, batches), operand z at z·stride (stride 0:
     * shared). Layouts as {@link MatrixProducts#gemm}.
     */
    static Task task(DeviceTensor a, DeviceTensor b, DeviceTensor c, int m, int n, int k, int batches,
                     int strideA, int strideB, int strideC, int transA, int transB, float alpha,
                     int accumulate, GemmCompute compute) {
        // column-major first operand: op(B)ᵀ (N×K); second: op(A)ᵀ (K×M)
        int opFirst = transB == 0 ? OP_N : OP_T, ldFirst = transB == 0 ? n : k;
        int opSecond = transA == 0 ? OP_N : OP_T, ldSecond = transA == 0 ? k : m;
        float beta = accumulate == 1 ? 1f : 0f;
        long sFirst = strideB, sSecond = strideA, sC = strideC;
        return Launches.task("cublasGemm", null, (g, id) -> g.libraryTask(id, CudaLibraryProvider::gemm,
                        opFirst, opSecond, n, m, k, alpha, b.buffer(), ldFirst, sFirst, a.buffer(), ldSecond, sSecond, beta,
                        c.array, n, sC, batches, compute),
                opFirst, opSecond, n, m, k, alpha, b, ldFirst, sFirst, a, ldSecond, sSecond, beta, c, n, sC, batches,
                compute);
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
