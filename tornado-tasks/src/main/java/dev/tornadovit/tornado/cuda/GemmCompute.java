package dev.tornadovit.tornado.cuda;

import dev.tornadovit.tensor.Precision;
import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

/**
 * How cuBLAS computes a product (its {@code cublasComputeType_t}) and the type its two operands are stored in. Results
 * and accumulation are fp32 in every case, and so are the model's tensors: bf16 operands are copies the backend makes
 * for the product, so the choice changes neither the model's buffers nor checkpoints.
 */
public enum GemmCompute {
    /** IEEE fp32 multiply-adds (CUDA cores): the reference. */
    FP32(68, GemmCompute.CUDA_R_32F),
    /** fp32 operands rounded to TF32 (10-bit mantissa) on the tensor cores, fp32 accumulation. */
    TF32(77, GemmCompute.CUDA_R_32F),
    /** fp32 operands rounded to bf16 (7-bit mantissa) by cuBLAS on the tensor cores, fp32 accumulation. */
    BF16(75, GemmCompute.CUDA_R_32F),
    /**
     * Operands stored as bf16 (rounded to nearest even before the product, half the bytes to read), bf16 products on
     * the tensor cores, fp32 accumulation and result.
     */
    BF16_STORED(68, GemmCompute.CUDA_R_16BF);

    /** cudaDataType values. */
    static final int CUDA_R_32F = 0, CUDA_R_16BF = 14;

    /**
     * Bytes into a stored bf16 operand's buffer where its values start: TornadoVM's device buffers hold an array header
     * before the values, which leaves them 8-byte aligned, and cuBLASLt's fastest tensor-core kernels load 16 bytes at
     * a time; starting the values past a 32-byte boundary lets them.
     */
    public static final int BF16_OFFSET_BYTES = (int) ((32 - TornadoNativeArray.ARRAY_HEADER % 32) % 32);

    /** The cublasComputeType_t value: CUBLAS_COMPUTE_32F, _32F_FAST_TF32, _32F_FAST_16BF. */
    final int cublasValue;
    /** The cudaDataType of both operands. */
    final int operandType;

    GemmCompute(int cublasValue, int operandType) {
        this.cublasValue = cublasValue;
        this.operandType = operandType;
    }

    /** The compute type that rounds a product's fp32 operands as {@code precision} does. */
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

    /** Whether the operands are bf16 copies (made by the caller) rather than the fp32 tensors themselves. */
    public boolean storedBf16() {
        return operandType == CUDA_R_16BF;
    }

    /** Bytes from the start of an operand's buffer to its first value. */
    int operandOffsetBytes() {
        return storedBf16() ? BF16_OFFSET_BYTES : 0;
    }

    /** Bytes of one operand value. */
    int operandBytes() {
        return storedBf16() ? 2 : 4;
    }
}
