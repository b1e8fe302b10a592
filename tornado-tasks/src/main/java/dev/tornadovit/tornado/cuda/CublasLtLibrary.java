package dev.tornadovit.tornado.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cuBLASLt's matrix product with an epilogue ({@code cublasLtMatmul}), bound with Java's foreign-function API, and the
 * two CUDA driver calls that give it workspace memory. The epilogues we use fuse a linear layer's bias into its
 * forward product ({@link #EPILOGUE_BIAS}) and its bias gradient into the weight-gradient product
 * ({@link #EPILOGUE_BGRADB}), as PyTorch's fused {@code addmm} does: one kernel, and one library task, instead of two
 * or three; and pointwise ReLU attention's φ into the product of the scores ({@link #EPILOGUE_RELU}, or
 * {@link #EPILOGUE_RELU_AUX}, which also writes a bit mask of where the product was positive) and φ's backward into
 * the product of the weights' gradient ({@link #EPILOGUE_DRELU}, which reads the mask), so that the [B,H,T,T] maps
 * pass through memory fewer times.
 */
final class CublasLtLibrary {
    static final String SONAME = "libcublasLt.so.13", DRIVER = "libcuda.so.1";
    /** cublasLtEpilogue_t. */
    static final int EPILOGUE_DEFAULT = 1, EPILOGUE_RELU = 2, EPILOGUE_BIAS = 4, EPILOGUE_RELU_AUX = 2 | 128,
            EPILOGUE_DRELU = 8 | 128, EPILOGUE_BGRADB = 512;
    /** cublasLtMatmulDescAttributes_t. */
    private static final int DESC_TRANSA = 3, DESC_TRANSB = 4, DESC_EPILOGUE = 7, DESC_BIAS_POINTER = 8,
            DESC_AUX_POINTER = 11, DESC_AUX_LD = 12, DESC_AUX_BATCH_STRIDE = 13;
    /** cublasLtMatmulPreferenceAttributes_t: workspace limit, then the minimum alignment of A, B, C and D in bytes. */
    private static final int PREF_MAX_WORKSPACE_BYTES = 1, PREF_MIN_ALIGNMENT_A = 5;
    /** cublasLtMatrixLayoutAttribute_t: batch count (int32) and the stride between batches in elements (int64). */
    private static final int LAYOUT_BATCH_COUNT = 5, LAYOUT_STRIDED_BATCH_OFFSET = 6;
    /** sizeof(cublasLtMatmulHeuristicResult_t): a 64-byte algorithm, size_t, status, float, int[4]. */
    private static final long HEURISTIC_RESULT_BYTES = 96, ALGO_BYTES = 64;

    private static CublasLtLibrary instance;

    private final MethodHandle create, destroy, descCreate, descSet, layoutCreate, prefCreate, prefSet, heuristic,
            matmul, layoutSet, memAlloc, memFree, memsetD32, ctxGetCurrent, ctxSetCurrent, eventCreate, eventRecord,
            eventSynchronize, eventElapsed, eventDestroy, hostAlloc, hostFree, copyToDeviceAsync;

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
        layoutSet = linker.downcallHandle(find(lt, "cublasLtMatrixLayoutSetAttribute"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
        // what algorithm tuning needs besides the product itself; a driver without one of them only turns tuning off
        memsetD32 = optional(linker, driver, FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_LONG),
                "cuMemsetD32_v2");
        eventCreate = optional(linker, driver, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), "cuEventCreate");
        eventRecord = optional(linker, driver, FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG), "cuEventRecord");
        eventSynchronize = optional(linker, driver, FunctionDescriptor.of(JAVA_INT, JAVA_LONG), "cuEventSynchronize");
        // CUDA 13's headers name the _v2 entry point cuEventElapsedTime; older drivers export only the first one
        eventElapsed = optional(linker, driver, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG),
                "cuEventElapsedTime_v2", "cuEventElapsedTime");
        eventDestroy = optional(linker, driver, FunctionDescriptor.of(JAVA_INT, JAVA_LONG), "cuEventDestroy_v2");
        memAlloc = linker.downcallHandle(find(driver, "cuMemAlloc_v2"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        memFree = linker.downcallHandle(find(driver, "cuMemFree_v2"), FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        ctxGetCurrent = linker.downcallHandle(find(driver, "cuCtxGetCurrent"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        ctxSetCurrent = linker.downcallHandle(find(driver, "cuCtxSetCurrent"), FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        // the pointer arrays of batched products over heads ({@link PointerArrays})
        hostAlloc = linker.downcallHandle(find(driver, "cuMemHostAlloc"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
        hostFree = linker.downcallHandle(find(driver, "cuMemFreeHost"), FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        copyToDeviceAsync = linker.downcallHandle(find(driver, "cuMemcpyHtoDAsync_v2"),
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG));
    }

    /** The first of {@code names} that {@code lib} exports, bound; null when it exports none. */
    private static MethodHandle optional(Linker linker, SymbolLookup lib, FunctionDescriptor descriptor,
                                         String... names) {
        for (String name : names) {
            var symbol = lib.find(name);
            if (symbol.isPresent()) return linker.downcallHandle(symbol.get(), descriptor);
        }
        return null;
    }

    /** Whether the driver has what timing algorithms needs: events and a device memset. */
    boolean canTime() {
        return memsetD32 != null && eventCreate != null && eventRecord != null && eventSynchronize != null
                && eventElapsed != null && eventDestroy != null;
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

    /** Whether {@code epilogue} reads or writes a vector of its own: the bias, or the bias gradient. */
    static boolean hasBias(int epilogue) {
        return epilogue == EPILOGUE_BIAS || epilogue == EPILOGUE_BGRADB;
    }

    /** Whether {@code epilogue} writes or reads ReLU's bit mask (the auxiliary matrix). */
    static boolean hasMask(int epilogue) {
        return epilogue == EPILOGUE_RELU_AUX || epilogue == EPILOGUE_DRELU;
    }

    /** The bytes the pointer to a ReLU mask is a multiple of: its rows are multiples of 128 bits. */
    static final int MASK_ALIGNMENT = 16;

    /**
     * Everything a product's plan depends on: column-major D = op(A)·op(B) (m×n, inner k) for each of {@code batches}
     * matrices {@code stride*} elements apart (0: shared), lda/ldb/ldc the leading dimensions of the stored matrices,
     * {@code compute} a cublasComputeType_t, {@code operandType} the cudaDataType of A and B (C and D are fp32),
     * {@code epilogue} a cublasLtEpilogue_t, {@code alignment} and {@code alignmentC} the bytes every pointer to
     * A and B, and to C and D, is a multiple of, and for a {@link #hasMask mask} epilogue the mask's leading
     * dimension and batch stride in bits ({@code maskLd} a multiple of 128, at least m; 0 without a mask).
     */
    record Shape(int transA, int transB, int m, int n, int k, int lda, int ldb, int ldc, long strideA, long strideB,
                 long strideC, int batches, int compute, int operandType, int epilogue, int alignment, int alignmentC,
                 long maskLd, long maskStride) {
        /** Bytes of the mask, all batches: the values a product with a mask epilogue writes or reads. */
        long maskBytes() {
            return (maskStride * (batches - 1) + maskLd * n) / 8;
        }

        /** Columns of the stored A and B (their rows are lda and ldb). */
        long columnsA() {
            return transA == 0 ? k : m;
        }

        long columnsB() {
            return transB == 0 ? n : k;
        }

        /** Multiply-adds ×2 of the whole product. */
        double flops() {
            return 2.0 * m * n * k * batches;
        }

        /** Bytes of one value of A or B. */
        int operandBytes() {
            return operandType == GemmCompute.CUDA_R_16BF ? 2 : 4;
        }

        @Override
        public String toString() {
            return (transA == 0 ? "N" : "T") + (transB == 0 ? "N" : "T") + " " + m + "x" + n + "x" + k
                    + (operandType == GemmCompute.CUDA_R_16BF ? " bf16" : "")
                    + (batches > 1 ? " x" + batches : "") + switch (epilogue) {
                        case EPILOGUE_BIAS -> " +bias";
                        case EPILOGUE_BGRADB -> " +bias gradient";
                        case EPILOGUE_RELU -> " +relu";
                        case EPILOGUE_RELU_AUX -> " +relu, mask";
                        case EPILOGUE_DRELU -> " +relu gradient";
                        default -> "";
                    };
        }
    }

    /**
     * A planned product: the operation descriptor, the three matrix layouts (C and D alike) and the algorithm chosen
     * for it, all host-side objects kept for the life of the execution plan.
     */
    record Plan(MemorySegment desc, MemorySegment layoutA, MemorySegment layoutB, MemorySegment layoutC,
                MemorySegment algo, int epilogue) {
    }

    /** The descriptor and layouts of a product, and the algorithms cuBLASLt's heuristic offers, best guess first. */
    record Candidates(MemorySegment desc, MemorySegment layoutA, MemorySegment layoutB, MemorySegment layoutC,
                      List<MemorySegment> algos) {
        Plan plan(MemorySegment algo, int epilogue) {
            return new Plan(desc, layoutA, layoutB, layoutC, algo, epilogue);
        }
    }

    /**
     * Describes {@code shape} for a workspace of {@code workspaceBytes} and asks the heuristic for up to
     * {@code wanted} algorithms; {@code epiloguePointer} (not dereferenced) tells the heuristic the alignment of the
     * epilogue's bias or mask. Objects live in {@code arena}.
     */
    Candidates candidates(long handle, Arena arena, Shape shape, long workspaceBytes, long epiloguePointer,
                          int wanted) {
        try {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) descCreate.invokeExact(out, shape.compute(), CublasLibrary.CUDA_R_32F), "cublasLtMatmulDescCreate");
            MemorySegment desc = out.get(ADDRESS, 0);
            setInt(desc, DESC_TRANSA, shape.transA(), arena);
            setInt(desc, DESC_TRANSB, shape.transB(), arena);
            setInt(desc, DESC_EPILOGUE, shape.epilogue(), arena);
            if (hasBias(shape.epilogue())) {
                setEpiloguePointer(desc, DESC_BIAS_POINTER, epiloguePointer, arena.allocate(JAVA_LONG));
            }
            if (hasMask(shape.epilogue())) {
                setLong(desc, DESC_AUX_LD, shape.maskLd(), arena);
                setLong(desc, DESC_AUX_BATCH_STRIDE, shape.maskStride(), arena);
                setEpiloguePointer(desc, DESC_AUX_POINTER, epiloguePointer, arena.allocate(JAVA_LONG));
            }
            MemorySegment a = layout(arena, shape.operandType(), shape.transA() == 0 ? shape.m() : shape.k(),
                    shape.columnsA(), shape.lda(), shape.batches(), shape.strideA());
            MemorySegment b = layout(arena, shape.operandType(), shape.transB() == 0 ? shape.k() : shape.n(),
                    shape.columnsB(), shape.ldb(), shape.batches(), shape.strideB());
            MemorySegment c = layout(arena, CublasLibrary.CUDA_R_32F, shape.m(), shape.n(), shape.ldc(), shape.batches(),
                    shape.strideC());
            check((int) prefCreate.invokeExact(out), "cublasLtMatmulPreferenceCreate");
            MemorySegment pref = out.get(ADDRESS, 0);
            MemorySegment bytes = arena.allocate(JAVA_LONG);
            bytes.set(JAVA_LONG, 0, workspaceBytes);
            check((int) prefSet.invokeExact(pref, PREF_MAX_WORKSPACE_BYTES, bytes, 8L),
                    "cublasLtMatmulPreferenceSetAttribute");
            // cuBLASLt assumes 256-byte aligned operands unless told otherwise; ours start a TornadoVM array header
            // past an allocation, so only algorithms that accept that alignment may be offered
            MemorySegment alignment = arena.allocate(JAVA_INT);
            for (int operand = 0; operand < 4; operand++) { // A, B, C, D
                alignment.set(JAVA_INT, 0, operand < 2 ? shape.alignment() : shape.alignmentC());
                check((int) prefSet.invokeExact(pref, PREF_MIN_ALIGNMENT_A + operand, alignment, 4L),
                        "cublasLtMatmulPreferenceSetAttribute(alignment)");
            }
            MemorySegment results = arena.allocate(HEURISTIC_RESULT_BYTES * wanted, 8);
            MemorySegment found = arena.allocate(JAVA_INT);
            check((int) heuristic.invokeExact(MemorySegment.ofAddress(handle), desc, a, b, c, c, pref, wanted, results,
                    found), "cublasLtMatmulAlgoGetHeuristic");
            List<MemorySegment> algos = new ArrayList<>();
            for (int i = 0; i < found.get(JAVA_INT, 0); i++) {
                MemorySegment result = results.asSlice(i * HEURISTIC_RESULT_BYTES, HEURISTIC_RESULT_BYTES);
                // the result's status (after the algorithm and its workspace size) is 0 for a usable algorithm
                if (result.get(JAVA_INT, ALGO_BYTES + 8) == 0) algos.add(result.asSlice(0, ALGO_BYTES));
            }
            return new Candidates(desc, a, b, c, algos);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private MemorySegment layout(Arena arena, int type, long rows, long cols, long ld, int batches, long stride)
            throws Throwable {
        MemorySegment layout = layout(arena, type, rows, cols, ld);
        if (batches > 1) {
            MemorySegment count = arena.allocate(JAVA_INT);
            count.set(JAVA_INT, 0, batches);
            check((int) layoutSet.invokeExact(layout, LAYOUT_BATCH_COUNT, count, 4L),
                    "cublasLtMatrixLayoutSetAttribute(batch count)");
            MemorySegment offset = arena.allocate(JAVA_LONG);
            offset.set(JAVA_LONG, 0, stride);
            check((int) layoutSet.invokeExact(layout, LAYOUT_STRIDED_BATCH_OFFSET, offset, 8L),
                    "cublasLtMatrixLayoutSetAttribute(batch stride)");
        }
        return layout;
    }

    private MemorySegment layout(Arena arena, int type, long rows, long cols, long ld) throws Throwable {
        MemorySegment out = arena.allocate(ADDRESS);
        check((int) layoutCreate.invokeExact(out, type, rows, cols, ld), "cublasLtMatrixLayoutCreate");
        return out.get(ADDRESS, 0);
    }

    private void setInt(MemorySegment desc, int attribute, int value, Arena arena) throws Throwable {
        MemorySegment v = arena.allocate(JAVA_INT);
        v.set(JAVA_INT, 0, value);
        check((int) descSet.invokeExact(desc, attribute, v, 4L), "cublasLtMatmulDescSetAttribute");
    }

    private void setLong(MemorySegment desc, int attribute, long value, Arena arena) throws Throwable {
        MemorySegment v = arena.allocate(JAVA_LONG);
        v.set(JAVA_LONG, 0, value);
        check((int) descSet.invokeExact(desc, attribute, v, 8L), "cublasLtMatmulDescSetAttribute");
    }

    /**
     * Runs {@code plan} on {@code stream}: D = alpha·op(A)·op(B) + beta·C with C = D (in place), {@code extra} the
     * epilogue's bias (read) or bias-gradient (written) vector, or its ReLU mask (written by
     * {@link #EPILOGUE_RELU_AUX}, read by {@link #EPILOGUE_DRELU}), 0 for none; {@code scalars} holds alpha then beta
     * and {@code pointer} is an 8-byte host buffer for the pointer attribute.
     */
    void matmul(long handle, Plan plan, MemorySegment scalars, MemorySegment pointer, long a, long b, long c,
                long extra, long workspace, long workspaceBytes, long stream) {
        check(tryMatmul(handle, plan, scalars, pointer, a, b, c, extra, workspace, workspaceBytes, stream), "cublasLtMatmul");
    }

    /** {@link #matmul}, returning cuBLAS's status instead of failing on it. */
    int tryMatmul(long handle, Plan plan, MemorySegment scalars, MemorySegment pointer, long a, long b, long c,
                  long extra, long workspace, long workspaceBytes, long stream) {
        try {
            if (extra != 0) {
                setEpiloguePointer(plan.desc(), hasMask(plan.epilogue()) ? DESC_AUX_POINTER : DESC_BIAS_POINTER, extra,
                        pointer);
            }
            MemorySegment d = MemorySegment.ofAddress(c);
            return (int) matmul.invokeExact(MemorySegment.ofAddress(handle), plan.desc(), scalars,
                    MemorySegment.ofAddress(a), plan.layoutA(), MemorySegment.ofAddress(b), plan.layoutB(),
                    scalars.asSlice(Float.BYTES), d, plan.layoutC(), d, plan.layoutC(), plan.algo(),
                    MemorySegment.ofAddress(workspace), workspaceBytes, MemorySegment.ofAddress(stream));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private void setEpiloguePointer(MemorySegment desc, int attribute, long value, MemorySegment pointer)
            throws Throwable {
        pointer.set(JAVA_LONG, 0, value);
        check((int) descSet.invokeExact(desc, attribute, pointer, 8L),
                "cublasLtMatmulDescSetAttribute(" + (attribute == DESC_AUX_POINTER ? "mask" : "bias") + ")");
    }

    /**
     * Page-locked host memory in the calling thread's CUDA context: a copy from it stays asynchronous, and may be
     * captured into a CUDA graph.
     */
    long hostAlloc(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            driverCheck((int) hostAlloc.invokeExact(out, bytes, 0), "cuMemHostAlloc of " + bytes + " bytes");
            return out.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void hostFree(long pointer) {
        try {
            driverCheck((int) hostFree.invokeExact(pointer), "cuMemFreeHost");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Copies {@code bytes} from page-locked host memory to the device, in order on {@code stream}. */
    void copyToDeviceAsync(long device, long host, long bytes, long stream) {
        try {
            driverCheck((int) copyToDeviceAsync.invokeExact(device, host, bytes, stream), "cuMemcpyHtoDAsync");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Sets {@code count} floats at {@code pointer} to the bit pattern {@code bits}, on the null stream. */
    void fill(long pointer, int bits, long count) {
        try {
            int status = (int) memsetD32.invokeExact(pointer, bits, count);
            if (status != 0) throw new IllegalStateException("cuMemsetD32 failed: CUresult " + status);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    long eventCreate() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            driverCheck((int) eventCreate.invokeExact(out, 0), "cuEventCreate");
            return out.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void eventRecord(long event, long stream) {
        try {
            driverCheck((int) eventRecord.invokeExact(event, stream), "cuEventRecord");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Milliseconds between two recorded events, once {@code end} has completed. */
    float elapsedMillis(long start, long end) {
        try (Arena arena = Arena.ofConfined()) {
            driverCheck((int) eventSynchronize.invokeExact(end), "cuEventSynchronize");
            MemorySegment ms = arena.allocate(JAVA_FLOAT);
            driverCheck((int) eventElapsed.invokeExact(ms, start, end), "cuEventElapsedTime");
            return ms.get(JAVA_FLOAT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void eventDestroy(long event) {
        try {
            driverCheck((int) eventDestroy.invokeExact(event), "cuEventDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static void driverCheck(int status, String function) {
        if (status != 0) throw new IllegalStateException(function + " failed: CUresult " + status);
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
