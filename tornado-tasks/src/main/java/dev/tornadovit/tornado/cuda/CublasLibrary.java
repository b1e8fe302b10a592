package dev.tornadovit.tornado.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The few cuBLAS functions our CUDA library tasks call, bound with Java's foreign-function API: {@code libcublas.so.13}
 * is found by the dynamic loader (PyTorch's NVIDIA wheels ship it; {@code run.sh} puts their folder on
 * {@code LD_LIBRARY_PATH}). Binding it ourselves, rather than through TornadoVM's cuBLAS module, lets a product choose
 * cuBLAS's compute type (fp32, TF32 or bf16 tensor cores on fp32 buffers) and needs no JNI library of the SDK.
 */
final class CublasLibrary {
    static final String SONAME = "libcublas.so.13";
    /** cudaDataType CUDA_R_32F. */
    static final int CUDA_R_32F = 0;
    /** cublasGemmAlgo_t CUBLAS_GEMM_DEFAULT: cuBLAS's heuristic picks the kernel. */
    static final int GEMM_DEFAULT = -1;

    private static CublasLibrary instance;
    private static Throwable loadFailure;

    private final MethodHandle create, destroy, setStream, gemmEx, gemmStridedBatchedEx, gemmBatchedEx, statusString;

    private CublasLibrary(SymbolLookup lib) {
        Linker linker = Linker.nativeLinker();
        create = linker.downcallHandle(find(lib, "cublasCreate_v2"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        destroy = linker.downcallHandle(find(lib, "cublasDestroy_v2"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        setStream = linker.downcallHandle(find(lib, "cublasSetStream_v2"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        gemmEx = linker.downcallHandle(find(lib, "cublasGemmEx"), FunctionDescriptor.of(JAVA_INT, ADDRESS,
                JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT,
                JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        gemmStridedBatchedEx = linker.downcallHandle(find(lib, "cublasGemmStridedBatchedEx"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS,
                        ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS,
                        JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT));
        gemmBatchedEx = linker.downcallHandle(find(lib, "cublasGemmBatchedEx"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS,
                        JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT,
                        JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        statusString = linker.downcallHandle(find(lib, "cublasGetStatusString"), FunctionDescriptor.of(ADDRESS,
                JAVA_INT));
    }

    private static MemorySegment find(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new UnsatisfiedLinkError(SONAME + " has no " + name));
    }

    /** The library, loaded once; an error naming {@link #SONAME} and why when the loader cannot find or bind it. */
    static synchronized CublasLibrary get() {
        if (instance != null) return instance;
        if (loadFailure == null) {
            try {
                instance = new CublasLibrary(SymbolLookup.libraryLookup(SONAME, Arena.global()));
                return instance;
            } catch (RuntimeException | UnsatisfiedLinkError e) {
                loadFailure = e;
            }
        }
        throw new IllegalStateException("cannot load " + SONAME + " (NVIDIA's cuBLAS 13; put its folder on "
                + "LD_LIBRARY_PATH): " + loadFailure.getMessage(), loadFailure);
    }

    /** Why {@link #get} fails here, or null when cuBLAS loads. */
    static String unavailableReason() {
        try {
            get();
            return null;
        } catch (IllegalStateException e) {
            return e.getMessage();
        }
    }

    long create() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment handle = arena.allocate(ADDRESS);
            check((int) create.invokeExact(handle), "cublasCreate");
            return handle.get(ADDRESS, 0).address();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void destroy(long handle) {
        try {
            check((int) destroy.invokeExact(MemorySegment.ofAddress(handle)), "cublasDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void setStream(long handle, long stream) {
        try {
            check((int) setStream.invokeExact(MemorySegment.ofAddress(handle), MemorySegment.ofAddress(stream)),
                    "cublasSetStream");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Column-major C[z] = alpha·op(A[z])·op(B[z]) + beta·C[z], C fp32 and A, B of cudaDataType {@code operandType},
     * {@code compute} the cublasComputeType_t; {@code scalars} holds alpha then beta (host memory, read during the call).
     */
    void gemm(long handle, int transA, int transB, int m, int n, int k, MemorySegment scalars, long a, int lda,
              long strideA, long b, int ldb, long strideB, long c, int ldc, long strideC, int batches, int compute,
              int operandType) {
        MemorySegment alpha = scalars, beta = scalars.asSlice(Float.BYTES);
        int status;
        try {
            if (batches == 1) {
                status = (int) gemmEx.invokeExact(MemorySegment.ofAddress(handle), transA, transB, m, n, k, alpha,
                        MemorySegment.ofAddress(a), operandType, lda, MemorySegment.ofAddress(b), operandType, ldb,
                        beta, MemorySegment.ofAddress(c), CUDA_R_32F, ldc, compute, GEMM_DEFAULT);
            } else {
                status = (int) gemmStridedBatchedEx.invokeExact(MemorySegment.ofAddress(handle), transA, transB, m,
                        n, k, alpha, MemorySegment.ofAddress(a), operandType, lda, strideA,
                        MemorySegment.ofAddress(b), operandType, ldb, strideB, beta, MemorySegment.ofAddress(c),
                        CUDA_R_32F, ldc, strideC, batches, compute, GEMM_DEFAULT);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check(status, batches == 1 ? "cublasGemmEx" : "cublasGemmStridedBatchedEx");
    }

    /**
     * Column-major C[z] = alpha·op(A[z])·op(B[z]) + beta·C[z] for z in [0, batches), each matrix anywhere: {@code
     * aPointers}, {@code bPointers} and {@code cPointers} are device arrays of {@code batches} device pointers each
     * ({@code cublasGemmBatchedEx}); types as {@link #gemm}.
     */
    void gemmPointers(long handle, int transA, int transB, int m, int n, int k, MemorySegment scalars, long aPointers,
                      int lda, long bPointers, int ldb, long cPointers, int ldc, int batches, int compute,
                      int operandType) {
        MemorySegment alpha = scalars, beta = scalars.asSlice(Float.BYTES);
        int status;
        try {
            status = (int) gemmBatchedEx.invokeExact(MemorySegment.ofAddress(handle), transA, transB, m, n, k, alpha,
                    aPointers, operandType, lda, bPointers, operandType, ldb, beta, cPointers, CUDA_R_32F, ldc,
                    batches, compute, GEMM_DEFAULT);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check(status, "cublasGemmBatchedEx");
    }

    private void check(int status, String function) {
        if (status == 0) return;
        String text;
        try {
            text = ((MemorySegment) statusString.invokeExact(status)).reinterpret(256).getString(0);
        } catch (Throwable t) {
            text = "status " + status;
        }
        throw new IllegalStateException(function + " failed: " + text);
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    /** A two-float host buffer for alpha and beta. */
    static MemorySegment scalars(Arena arena) {
        return arena.allocate(ValueLayout.JAVA_FLOAT, 2);
    }
}
