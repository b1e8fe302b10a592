package dev.tornadovit.tornado.cuda;

import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

/**
 * What a {@value CudaLibraryProvider#GEMM_EPILOGUE} call adds to a {@value CudaLibraryProvider#GEMM} call: its ReLU
 * epilogue, where its operands' first matrices start in their buffers ({@code offsetA}, {@code offsetB},
 * {@code offsetC}, in values), and, where the epilogue has one ({@link #hasMask}), its mask's geometry: the mask of
 * matrix z starts {@code maskOffsetBytes} + z · {@code maskStride} / 8 bytes into the mask tensor's values,
 * column-major with {@code maskLd} bits a column (a multiple of 128, at least the product's m); all three 0 without a
 * mask. The descriptor's tuning object: a library task takes at most twenty arguments.
 */
public record ProductEpilogue(CudaLibraryProvider.Epilogue epilogue, long offsetA, long offsetB, long offsetC,
                              long maskOffsetBytes, long maskLd, long maskStride) {
    /** The mask tensor's place among the call's arguments. */
    static final int MASK_ARGUMENT = 17;

    public ProductEpilogue {
        if (epilogue != CudaLibraryProvider.Epilogue.RELU && epilogue != CudaLibraryProvider.Epilogue.RELU_WITH_MASK
            && epilogue != CudaLibraryProvider.Epilogue.RELU_GRADIENT) {
            throw new IllegalArgumentException("a product's epilogue here is ReLU's or its gradient, not " + epilogue);
        }
        if (!epilogue.hasMask() && (maskLd != 0 || maskStride != 0 || maskOffsetBytes != 0)) {
            throw new IllegalArgumentException("ReLU without a mask has no mask geometry");
        }
        if (epilogue.hasMask() && (maskLd % 128 != 0 || maskStride % 128 != 0
            || (TornadoNativeArray.ARRAY_HEADER + maskOffsetBytes) % CublasLtLibrary.MASK_ALIGNMENT != 0)) {
            throw new IllegalArgumentException("a ReLU mask's columns and batches are multiples of 128 bits, and it "
                    + "starts " + CublasLtLibrary.MASK_ALIGNMENT + "-byte aligned: ld " + maskLd + ", stride "
                    + maskStride + ", offset " + maskOffsetBytes + " bytes");
        }
    }

    /** Whether the epilogue writes or reads a mask (all but {@link CudaLibraryProvider.Epilogue#RELU}). */
    public boolean hasMask() {
        return epilogue.hasMask();
    }

    /** The first offset into a tensor's values at which a mask may start. */
    public static long maskStartBytes() {
        return (CublasLtLibrary.MASK_ALIGNMENT - TornadoNativeArray.ARRAY_HEADER % CublasLtLibrary.MASK_ALIGNMENT)
               % CublasLtLibrary.MASK_ALIGNMENT;
    }

    /** A mask's bits a column for a product whose column-major output has {@code rows} rows. */
    public static long maskLd(int rows) {
        return (rows + 127L) / 128 * 128;
    }
}
