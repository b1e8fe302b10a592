package dev.tornadovit.tornado.cuda;

import dev.tornadovit.tensor.Precision;

/**
 * How cuBLAS computes a product of fp32 matrices (its {@code cublasComputeType_t}); operands, results and accumulation
 * stay fp32 in memory in every case, so the choice changes neither buffers nor checkpoints.
 */
public enum GemmCompute {
    /** IEEE fp32 multiply-adds (CUDA cores): the reference. */
    FP32(68),
    /** Operands rounded to TF32 (10-bit mantissa) on the tensor cores, fp32 accumulation. */
    TF32(77),
    /** Operands rounded to bf16 (7-bit mantissa) on the tensor cores, fp32 accumulation. */
    BF16(75);

    /** The cublasComputeType_t value: CUBLAS_COMPUTE_32F, _32F_FAST_TF32, _32F_FAST_16BF. */
    final int cublasValue;

    GemmCompute(int cublasValue) {
        this.cublasValue = cublasValue;
    }

    /** The compute type that rounds a product's operands as {@code precision} does. */
    public static GemmCompute of(Precision precision) {
        return switch (precision) {
            case FP32 -> FP32;
            case TF32 -> TF32;
            case BF16 -> BF16;
        };
    }

    public int cublasValue() {
        return cublasValue;
    }

}
