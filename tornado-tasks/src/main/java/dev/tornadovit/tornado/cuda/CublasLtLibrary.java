package dev.tornadovit.tornado.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cuBLASLt's matrix product with an epilogue ({@code cublasLtMatmul}), bound with Java's foreign-function API, and the
 * two CUDA driver calls that give it workspace memory. The epilogues we use fuse a linear layer's bias into its
 * forward product ({@link #EPILOGUE_BIAS}) and its bias gradient into the weight-gradient product
 * ({@link #EPILOGUE_BGRADB}), as PyTorch's fused {@code addmm} does: one kernel, and one library task, instead of two
 * or three.
 */
final class CublasLtLibrary {
    static final String SONAME = "libcublasLt.so.13", DRIVER = "libcuda.so.1";
    /** cublasLtEpilogue_t. */
    static final int EPILOGUE_DEFAULT = 1, EPILOGUE_BIAS = 4, EPILOGUE_BGRADB = 512;
    /** cublasLtMatmulDescAttributes_t. */
    private static final int DESC_TRANSA = 3, DESC_TRANSB = 4, DESC_EPILOGUE = 7, DESC_BIAS_POINTER = 8;
    /** CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES. */
    private static final int PREF_MAX_WORKSPACE_BYTES = 1;
    /** sizeof(cublasLtMatmulHeuristicResult_t): a 64-byte algorithm, size_t, status, float, int[4]. */
    private static final long HEURISTIC_RESULT_BYTES = 96, ALGO_BYTES = 64;

    private static CublasLtLibrary instance;

    private final MethodHandle create, destroy, descCreate, descSet, layoutCreate, prefCreate, prefSet, heuristic,
            matmul, memAlloc, memFree, ctxGetCurrent, ctxSetCurrent;

    private CublasLtLibrary(SymbolLookup lt, SymbolLookup driver) {
        Linker linker = Linker.nativeLinker();
        create = linker.downcallHandle(find(lt, "cublasLtCreate"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        destroy = linker.downcallHandle(find(lt, "cublasLtDestroy"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        descCreate = linker.downcallHandle(find(lt, "cublasLtMatmulDescCreate"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        descSet = linker.downcallHandle(find(lt, "cublasLtMatmulDescSetAttribute"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
        layoutCreate = linker.downcallHandle(find(lt, "cublasLtMatrixLayoutCreate"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG));
        prefCreate = linker.downcallHandle(find(lt, "cublasLtMatmulPreferenceCreate"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
        prefSet = linker.downcallHandle(find(lt, "cublasLtMatmulPreferenceSetAttribute"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
        heuristic = linker.downcallHandle(find(lt, "cublasLtMatmulAlgoGetHeuristic"), FunctionDescriptor.of(JAVA_INT,
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        matmul = linker.downcallHandle(find(lt, "cublasLtMatmul"), FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS,
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                ADDRESS, JAVA_LONG, ADDRESS));
        memAlloc = linker.downcallHandle(find(driver, "cuMemAlloc_v2"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        memFree = linker.downcallHandle(find(driver, "cuMemFree_v2"), FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        ctxGetCurrent = linker.downcallHandle(find(driver, "cuCtxGetCurrent"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        ctxSetCurrent = linker.downcallHandle(find(driver, "cuCtxSetCurrent"), FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
    }

    private static MemorySegment find(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new UnsatisfiedLinkError("no " + name));
    }

    static synchronized CublasLtLibrary get() {
        if (instance == null) {
            try {
                instance = new CublasLtLibrary(SymbolLookup.libraryLookup(SONAME, Arena.global()),
                        SymbolLookup.libraryLookup(DRIVER, Arena.global()));
            } catch (RuntimeException | UnsatisfiedLinkError e) {
                throw new IllegalStateException("cannot load " + SONAME + " and " + DRIVER + " (NVIDIA's cuBLASLt 13 "
                        + "and CUDA driver; put cuBLASLt's folder on LD_LIBRARY_PATH): " + e.getMessage(), e);
            }
        }
        return instance;
    }

    long create() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) create.invokeExact(out), "cublasLtCreate");
            return out.get(ADDRESS, 0).address();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void destroy(long handle) {
        try {
            check((int) destroy.invokeExact(MemorySegment.ofAddress(handle)), "cublasLtDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Device memory in the calling thread's CUDA context (TornadoVM's, inside a library task). */
    long deviceAlloc(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            int status = (int) memAlloc.invokeExact(out, bytes);
            if (status != 0) throw new IllegalStateException("cuMemAlloc of " + bytes + " bytes failed: CUresult " + status);
            return out.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The calling thread's current CUDA context (a CUcontext). */
    long currentContext() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            int status = (int) ctxGetCurrent.invokeExact(out);
            if (status != 0) throw new IllegalStateException("cuCtxGetCurrent failed: CUresult " + status);
            return out.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Makes {@code context} the calling thread's current CUDA context. */
    void makeCurrent(long context) {
        try {
            int status = (int) ctxSetCurrent.invokeExact(context);
            if (status != 0) throw new IllegalStateException("cuCtxSetCurrent failed: CUresult " + status);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void deviceFree(long pointer) {
        try {
            int status = (int) memFree.invokeExact(pointer);
            if (status != 0) throw new IllegalStateException("cuMemFree failed: CUresult " + status);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * A planned product: the operation descriptor, the three matrix layouts (C and D alike) and the algorithm cuBLASLt's
     * heuristic chose, all host-side objects kept for the life of the execution plan.
     */
    record Plan(MemorySegment desc, MemorySegment layoutA, MemorySegment layoutB, MemorySegment layoutC,
                MemorySegment algo) {
    }

    /**
     * Plans column-major D = op(A)·op(B) (m×n, inner k) in fp32 buffers with {@code epilogue}, computed as
     * {@code compute} (a cublasComputeType_t), for a workspace of {@code workspaceBytes}. A (m×k after op) is stored
     * as lda-strided columns of its stored shape, likewise B and C/D (ldc).
     */
    Plan plan(long handle, Arena arena, int transA, int transB, int m, int n, int k, int lda, int ldb, int ldc,
              int compute, int epilogue, long workspaceBytes) {
        try {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) descCreate.invokeExact(out, compute, CublasLibrary.CUDA_R_32F), "cublasLtMatmulDescCreate");
            MemorySegment desc = out.get(ADDRESS, 0);
            setInt(desc, DESC_TRANSA, transA, arena);
            setInt(desc, DESC_TRANSB, transB, arena);
            setInt(desc, DESC_EPILOGUE, epilogue, arena);
            MemorySegment a = layout(arena, transA == 0 ? m : k, transA == 0 ? k : m, lda);
            MemorySegment b = layout(arena, transB == 0 ? k : n, transB == 0 ? n : k, ldb);
            MemorySegment c = layout(arena, m, n, ldc);
            check((int) prefCreate.invokeExact(out), "cublasLtMatmulPreferenceCreate");
            MemorySegment pref = out.get(ADDRESS, 0);
            MemorySegment bytes = arena.allocate(JAVA_LONG);
            bytes.set(JAVA_LONG, 0, workspaceBytes);
            check((int) prefSet.invokeExact(pref, PREF_MAX_WORKSPACE_BYTES, bytes, 8L),
                    "cublasLtMatmulPreferenceSetAttribute");
            MemorySegment result = arena.allocate(HEURISTIC_RESULT_BYTES, 8);
            MemorySegment found = arena.allocate(JAVA_INT);
            check((int) heuristic.invokeExact(MemorySegment.ofAddress(handle), desc, a, b, c, c, pref, 1, result,
                    found), "cublasLtMatmulAlgoGetHeuristic");
            if (found.get(JAVA_INT, 0) < 1) {
                throw new IllegalStateException("cuBLASLt has no algorithm for " + m + "x" + n + "x" + k + " (ops "
                        + transA + "," + transB + ", epilogue " + epilogue + ", compute " + compute + ")");
            }
            return new Plan(desc, a, b, c, result.asSlice(0, ALGO_BYTES));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private MemorySegment layout(Arena arena, long rows, long cols, long ld) throws Throwable {
        MemorySegment out = arena.allocate(ADDRESS);
        check((int) layoutCreate.invokeExact(out, CublasLibrary.CUDA_R_32F, rows, cols, ld), "cublasLtMatrixLayoutCreate");
        return out.get(ADDRESS, 0);
    }

    private void setInt(MemorySegment desc, int attribute, int value, Arena arena) throws Throwable {
        MemorySegment v = arena.allocate(JAVA_INT);
        v.set(JAVA_INT, 0, value);
        check((int) descSet.invokeExact(desc, attribute, v, 4L), "cublasLtMatmulDescSetAttribute");
    }

    /**
     * Runs {@code plan} on {@code stream}: D = alpha·op(A)·op(B) + beta·C with C = D (in place), {@code bias} the
     * epilogue's bias (read) or bias-gradient (written) vector, 0 for none; {@code scalars} holds alpha then beta and
     * {@code pointer} is an 8-byte host buffer for the bias attribute.
     */
    void matmul(long handle, Plan plan, MemorySegment scalars, MemorySegment pointer, long a, long b, long c,
                long bias, long workspace, long workspaceBytes, long stream) {
        try {
            if (bias != 0) {
                pointer.set(JAVA_LONG, 0, bias);
                check((int) descSet.invokeExact(plan.desc(), DESC_BIAS_POINTER, pointer, 8L),
                        "cublasLtMatmulDescSetAttribute(bias)");
            }
            MemorySegment d = MemorySegment.ofAddress(c);
            check((int) matmul.invokeExact(MemorySegment.ofAddress(handle), plan.desc(), scalars,
                    MemorySegment.ofAddress(a), plan.layoutA(), MemorySegment.ofAddress(b), plan.layoutB(),
                    scalars.asSlice(Float.BYTES), d, plan.layoutC(), d, plan.layoutC(), plan.algo(),
                    MemorySegment.ofAddress(workspace), workspaceBytes, MemorySegment.ofAddress(stream)),
                    "cublasLtMatmul");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static void check(int status, String function) {
        if (status != 0) throw new IllegalStateException(function + " failed: cublasStatus_t " + status);
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }
}
