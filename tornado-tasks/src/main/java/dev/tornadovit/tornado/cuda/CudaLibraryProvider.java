package dev.tornadovit.tornado.cuda;

import dev.tornadovit.distributed.NcclLibrary;
import uk.ac.manchester.tornado.api.common.Access;
import uk.ac.manchester.tornado.api.common.LibraryTaskDescriptor;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;
import uk.ac.manchester.tornado.runtime.common.TornadoXPUDevice;
import uk.ac.manchester.tornado.runtime.library.spi.LibraryContext;
import uk.ac.manchester.tornado.runtime.library.spi.LibraryInvocation;
import uk.ac.manchester.tornado.runtime.library.spi.TornadoLibraryProvider;
import uk.ac.manchester.tornado.runtime.library.spi.TornadoNativeStreamSupport;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.IntFunction;

/**
 * TornadoViT's library tasks on TornadoVM's CUDA backend: TornadoVM hands each call the device pointers of our buffers
 * and runs it on the execution plan's CUDA stream, in order with the kernels around it (TornadoVM's library-task
 * interface, found through {@link java.util.ServiceLoader}). TornadoVM gives each thread its own stream of a plan,
 * so every call runs on the stream of the thread that runs it — the stream its kernels, transfers and CUDA-graph
 * capture use — with one cuBLAS handle per stream: a backend used from several threads in turn (a server's request
 * threads, JUnit's timeout threads) keeps its products in order with the rest of its work.
 *
 * <p>Function {@value #GEMM}: column-major C[z] = alpha·op(A[z])·op(B[z]) + beta·C[z] for z in [0, batches), C fp32,
 * A and B fp32 or stored bf16, computed as {@link GemmCompute} says; see {@link #gemm} for the arguments. Function
 * {@value #GEMM_HEADS}: the same product over every (image, head) matrix of a {@link HeadBatch}, which no single stride
 * reaches, as one {@code cublasGemmBatchedEx} on arrays of matrix pointers ({@link PointerArrays}). Function
 * {@value #LINEAR}: one product with a cuBLASLt epilogue (the bias added, or the bias gradient written); see
 * {@link #linear}. Function {@value #GEMM_EPILOGUE}: a {@value #GEMM} product with ReLU or its gradient in cuBLASLt's
 * epilogue ({@link ProductEpilogue}). They run through cuBLASLt with each shape's algorithm chosen once per process
 * ({@link CublasLtTuning}); a {@value #GEMM} shape cuBLASLt has no algorithm for runs through cuBLAS. Function
 * {@value #ALL_REDUCE_MEAN}: a buffer averaged in place over the ranks of an NCCL communicator ({@link NcclGroups}).
 */
public final class CudaLibraryProvider implements TornadoLibraryProvider {
    /** The library name our task descriptors give. */
    public static final String LIBRARY = "tornadovit/cuda";
    public static final String GEMM = "gemm", GEMM_HEADS = "gemmHeads", GEMM_EPILOGUE = "gemmEpilogue",
            LINEAR = "linear", ALL_REDUCE_MEAN = "allReduceMean";
    /** cuBLASLt's workspace per execution plan: room for split-K kernels on the model's long weight-gradient sums. */
    private static final long LT_WORKSPACE_BYTES = 8L << 20;

    private static final class Context implements LibraryContext {
        final TornadoNativeStreamSupport device;
        final long planId;
        /** cuBLAS handles by stream, each bound to its stream. */
        final Map<Long, Long> handles = new ConcurrentHashMap<>();
        final Arena arena = Arena.ofShared();
        final MemorySegment scalars = CublasLibrary.scalars(arena), pointer = arena.allocate(ValueLayout.JAVA_LONG);
        /** cuBLASLt's handle and workspace, made when the first {@value #LINEAR} call is prepared. */
        long ltHandle, ltWorkspace;
        /** Each product shape's plan; {@link #NO_PLAN} where cuBLASLt has no algorithm (cuBLAS runs it instead). */
        final Map<CublasLtLibrary.Shape, CublasLtLibrary.Plan> plans = new HashMap<>();
        /** Each {@value #GEMM_HEADS} call's pointer arrays, by its descriptor's {@link HeadBatch} (one per call). */
        final Map<HeadBatch, PointerArrays> pointerArrays = Collections.synchronizedMap(new IdentityHashMap<>());

        Context(TornadoNativeStreamSupport device, long planId) {
            this.device = device;
            this.planId = planId;
        }

        /** The calling thread's stream of the plan. */
        long stream() {
            return device.getNativeStream(planId);
        }

        /** The cuBLAS handle bound to {@code stream}, made on first use (it allocates: never first inside a capture). */
        long handle(long stream) {
            return handles.computeIfAbsent(stream, s -> {
                CublasLibrary cublas = CublasLibrary.get();
                long handle = cublas.create();
                cublas.setStream(handle, s);
                return handle;
            });
        }
    }

    /** cuBLASLt's epilogue of a {@value #LINEAR} call (the bias ones) or a {@value #GEMM_EPILOGUE} call (ReLU's). */
    public enum Epilogue {
        /** D = op(A)·op(B) + bias, the bias one value per row of column-major D (per output feature). */
        BIAS(CublasLtLibrary.EPILOGUE_BIAS),
        /** D (+)= op(A)·op(B), and bias[j] = Σ over the inner dimension of op(B)'s column j (written, not added). */
        BIAS_GRADIENT_OF_B(CublasLtLibrary.EPILOGUE_BGRADB),
        /** D = max(0, alpha·op(A)·op(B) + beta·C). */
        RELU(CublasLtLibrary.EPILOGUE_RELU),
        /** {@link #RELU}, and a bit mask of where D is positive (written). */
        RELU_WITH_MASK(CublasLtLibrary.EPILOGUE_RELU_AUX),
        /** D = alpha·op(A)·op(B) + beta·C where a mask that {@link #RELU_WITH_MASK} wrote has its bit set, else 0. */
        RELU_GRADIENT(CublasLtLibrary.EPILOGUE_DRELU);

        final int value;

        Epilogue(int value) {
            this.value = value;
        }

        /** Whether it writes or reads ReLU's bit mask ({@link #RELU_WITH_MASK}, {@link #RELU_GRADIENT}). */
        public boolean hasMask() {
            return CublasLtLibrary.hasMask(value);
        }
    }

    public CudaLibraryProvider() {
    }

    private static final CublasLtLibrary.Plan NO_PLAN = new CublasLtLibrary.Plan(null, null, null, null, null, 0);

    /** Why our CUDA library tasks cannot run in this process (cuBLAS missing), or null when they can. */
    public static String unavailableReason() {
        return CublasLibrary.unavailableReason();
    }

    @Override
    public String libraryName() {
        return LIBRARY;
    }

    @Override
    public boolean canHandle(TornadoXPUDevice device) {
        return device instanceof TornadoNativeStreamSupport;
    }

    @Override
    public LibraryContext createContext(TornadoXPUDevice device, long executionPlanId) {
        Context context = new Context((TornadoNativeStreamSupport) device, executionPlanId);
        context.handle(context.stream());
        return context;
    }

    @Override
    public void dispatch(String functionName, LibraryInvocation call) {
        Context context = (Context) call.getContext();
        switch (functionName) {
            case GEMM -> gemm(context, call);
            case GEMM_HEADS -> gemmHeads(context, call);
            case GEMM_EPILOGUE -> gemmEpilogue(context, call);
            case LINEAR -> linear(context, call);
            case ALL_REDUCE_MEAN -> NcclGroups.communicator((long) call.getArg(2)).allReduce(call.getDevicePointer(0),
                    call.getDevicePointer(0), (int) call.getArg(1), NcclLibrary.DataType.FLOAT32,
                    NcclLibrary.ReduceOp.AVG, context.stream());
            default -> throw new IllegalArgumentException(LIBRARY + " has no function " + functionName);
        }
    }

    /**
     * A {@value #GEMM} call's arguments by name, from the descriptor's parameters ({@link #gemm(int, int, int, int,
     * float, TornadoNativeArray, int, long, TornadoNativeArray, int, long, float, FloatArray, int, long, int,
     * GemmCompute, long, long, long)} lists them).
     */
    private record GemmArgs(int transA, int transB, int m, int n, int k, float alpha, int lda, long strideA, int ldb,
                            long strideB, float beta, int ldc, long strideC, int batches, GemmCompute compute,
                            long offsetA, long offsetB, long offsetC) {
        static final int A = 5, B = 8, C = 12;

        static GemmArgs of(IntFunction<Object> arg) {
            return of(arg, (long) arg.apply(17), (long) arg.apply(18), (long) arg.apply(19));
        }

        /** The arguments of a call whose first 17 parameters are {@value #GEMM}'s, the offsets given. */
        static GemmArgs of(IntFunction<Object> arg, long offsetA, long offsetB, long offsetC) {
            int ops = (int) arg.apply(0), batches = (int) arg.apply(15);
            // strides mean nothing for one matrix: left out of the plan's shape, so that equal shapes share a plan
            long strideA = batches > 1 ? (long) arg.apply(7) : 0, strideB = batches > 1 ? (long) arg.apply(10) : 0;
            long strideC = batches > 1 ? (long) arg.apply(14) : 0;
            return new GemmArgs(ops & 1, ops >> 1 & 1, (int) arg.apply(1), (int) arg.apply(2), (int) arg.apply(3),
                    (float) arg.apply(4), (int) arg.apply(6), strideA, (int) arg.apply(9), strideB,
                    (float) arg.apply(11), (int) arg.apply(13), strideC, batches,
                    CudaLibraryProvider.compute(arg.apply(16)), offsetA, offsetB, offsetC);
        }

        /** Bytes from the device pointers of A's, B's and C's buffers to the matrices' first values. */
        long startA() {
            return operandStartBytes(compute, offsetA);
        }

        long startB() {
            return operandStartBytes(compute, offsetB);
        }

        long startC() {
            return offsetC * Float.BYTES;
        }
    }

    /**
     * Through cuBLASLt with the shape's tuned algorithm, or cuBLAS's {@code cublasGemmEx} /
     * {@code cublasGemmStridedBatchedEx} where cuBLASLt offers none.
     */
    private static void gemm(Context context, LibraryInvocation call) {
        GemmArgs g = GemmArgs.of(call::getArg);
        context.scalars.set(ValueLayout.JAVA_FLOAT, 0, g.alpha());
        context.scalars.set(ValueLayout.JAVA_FLOAT, Float.BYTES, g.beta());
        long a = call.getDevicePointer(GemmArgs.A) + g.startA(), b = call.getDevicePointer(GemmArgs.B) + g.startB();
        long c = call.getDevicePointer(GemmArgs.C) + g.startC();
        CublasLtLibrary.Plan plan = gemmPlan(context, g);
        long stream = context.stream();
        if (plan != NO_PLAN) {
            CublasLtLibrary.get().matmul(context.ltHandle, plan, context.scalars, context.pointer, a, b, c, 0,
                    context.ltWorkspace, LT_WORKSPACE_BYTES, stream);
            return;
        }
        CublasLibrary.get().gemm(context.handle(stream), g.transA(), g.transB(), g.m(), g.n(), g.k(), context.scalars,
                a, g.lda(), g.strideA(), b, g.ldb(), g.strideB(), c, g.ldc(), g.strideC(), g.batches(),
                g.compute().cublasValue, g.compute().operandType);
    }

    /** One product with a ReLU epilogue: arguments as {@link #gemmEpilogue(int, int, int, int, float,
     * TornadoNativeArray, int, long, TornadoNativeArray, int, long, float, FloatArray, int, long, int, GemmCompute,
     * FloatArray, ProductEpilogue)}'s. */
    private static void gemmEpilogue(Context context, LibraryInvocation call) {
        ProductEpilogue e = (ProductEpilogue) call.getTuning();
        GemmArgs g = GemmArgs.of(call::getArg, e.offsetA(), e.offsetB(), e.offsetC());
        CublasLtLibrary.Plan plan = epiloguePlan(context, g, e);
        context.scalars.set(ValueLayout.JAVA_FLOAT, 0, g.alpha());
        context.scalars.set(ValueLayout.JAVA_FLOAT, Float.BYTES, g.beta());
        long a = call.getDevicePointer(GemmArgs.A) + g.startA(), b = call.getDevicePointer(GemmArgs.B) + g.startB();
        long c = call.getDevicePointer(GemmArgs.C) + g.startC();
        long mask = e.hasMask() ? call.getDevicePointer(ProductEpilogue.MASK_ARGUMENT)
                                  + TornadoNativeArray.ARRAY_HEADER + e.maskOffsetBytes() : 0;
        CublasLtLibrary.get().matmul(context.ltHandle, plan, context.scalars, context.pointer, a, b, c, mask,
                context.ltWorkspace, LT_WORKSPACE_BYTES, context.stream());
    }

    /**
     * One {@code cublasGemmBatchedEx} over every (image, head) matrix of a {@link HeadBatch}: arguments as {@link
     * #gemmHeads(int, int, int, int, float, TornadoNativeArray, int, TornadoNativeArray, int, float, FloatArray, int,
     * GemmCompute, long, long, long, HeadBatch)}'s.
     */
    private static void gemmHeads(Context context, LibraryInvocation call) {
        HeadBatch batch = (HeadBatch) call.getTuning();
        PointerArrays arrays = context.pointerArrays.get(batch);
        if (arrays == null) throw new IllegalStateException(GEMM_HEADS + " ran before it was prepared");
        int operations = (int) call.getArg(0);
        float alpha = (float) call.getArg(4), beta = (float) call.getArg(9);
        GemmCompute compute = compute(call.getArg(12));
        context.scalars.set(ValueLayout.JAVA_FLOAT, 0, alpha);
        context.scalars.set(ValueLayout.JAVA_FLOAT, Float.BYTES, beta);
        long stream = context.stream();
        arrays.write(call.getDevicePointer(5) + operandStartBytes(compute, (long) call.getArg(13)),
                call.getDevicePointer(7) + operandStartBytes(compute, (long) call.getArg(14)),
                call.getDevicePointer(10) + (long) call.getArg(15) * Float.BYTES, compute.operandBytes(), stream);
        CublasLibrary.get().gemmPointers(context.handle(stream), operations & 1, operations >> 1 & 1,
                (int) call.getArg(1), (int) call.getArg(2), (int) call.getArg(3), context.scalars, arrays.aPointers(),
                (int) call.getArg(6), arrays.bPointers(), (int) call.getArg(8), arrays.cPointers(),
                (int) call.getArg(11), batch.count(), compute.cublasValue, compute.operandType);
    }

    /** Where an operand's first value lies past its buffer's device pointer: {@code offset} values into it. */
    private static long operandStartBytes(GemmCompute compute, long offset) {
        return compute.operandOffsetBytes() + offset * compute.operandBytes();
    }

    /** A descriptor's compute argument: the {@link GemmCompute}'s ordinal. */
    private static GemmCompute compute(Object ordinal) {
        return GemmCompute.values()[(int) ordinal];
    }

    /**
     * Makes what a call will need that allocates device memory — the calling thread's cuBLAS handle, cuBLASLt's handle,
     * its workspace and the call's execution plan — before the call runs: TornadoVM calls this on the running thread
     * before it starts capturing a CUDA graph, inside which an allocation fails (CUresult 900).
     */
    @Override
    public void prepare(LibraryTaskDescriptor descriptor, LibraryContext context) {
        Object[] args = descriptor.getParameters();
        Context c = (Context) context;
        switch (descriptor.getFunctionName()) {
            case LINEAR -> linearPlan(c, i -> args[i]);
            case GEMM -> {
                c.handle(c.stream());
                gemmPlan(c, GemmArgs.of(i -> args[i]));
            }
            case GEMM_HEADS -> {
                c.handle(c.stream());
                c.pointerArrays.computeIfAbsent((HeadBatch) descriptor.getTuning(), PointerArrays::new);
            }
            case GEMM_EPILOGUE -> {
                ProductEpilogue e = (ProductEpilogue) descriptor.getTuning();
                epiloguePlan(c, GemmArgs.of(i -> args[i], e.offsetA(), e.offsetB(), e.offsetC()), e);
            }
            default -> {
            }
        }
    }

    /** The plan of one {@value #LINEAR} call, {@code arg} giving {@link #linear}'s parameters; made once per shape. */
    private static CublasLtLibrary.Plan linearPlan(Context context, IntFunction<Object> arg) {
        int transA = (int) arg.apply(0), transB = (int) arg.apply(1), m = (int) arg.apply(2), n = (int) arg.apply(3);
        int k = (int) arg.apply(4), lda = (int) arg.apply(7), ldb = (int) arg.apply(9), ldc = (int) arg.apply(12);
        int epilogue = (int) arg.apply(14);
        GemmCompute compute = compute(arg.apply(15));
        CublasLtLibrary.Plan plan = plan(context, new CublasLtLibrary.Shape(transA, transB, m, n, k, lda, ldb, ldc,
                0, 0, 0, 1, compute.cublasValue, compute.operandType, epilogue,
                CublasLtTuning.alignment(compute.operandOffsetBytes(), compute.operandBytes(), 1),
                CublasLtTuning.alignment(0, Float.BYTES, 1), 0, 0));
        if (plan == NO_PLAN) {
            throw new IllegalStateException("cuBLASLt has no algorithm for " + m + "x" + n + "x" + k + " (ops " + transA
                    + "," + transB + ", epilogue " + epilogue + ", compute " + compute + ")");
        }
        return plan;
    }

    /** The cuBLASLt plan of one {@value #GEMM} call ({@link #NO_PLAN}: cuBLAS runs it). */
    private static CublasLtLibrary.Plan gemmPlan(Context context, GemmArgs g) {
        return plan(context, gemmShape(g, CublasLtLibrary.EPILOGUE_DEFAULT, 0, 0));
    }

    /** The shape of a {@value #GEMM} or {@value #GEMM_EPILOGUE} call with {@code epilogue} and its mask geometry. */
    private static CublasLtLibrary.Shape gemmShape(GemmArgs g, int epilogue, long maskLd, long maskStride) {
        int bytes = g.compute().operandBytes(), batches = g.batches();
        // the operands' alignment: the less aligned of the two, each from its own start and stride
        int operands = Math.min(CublasLtTuning.alignment(g.startA(), bytes, batches, g.strideA()),
                CublasLtTuning.alignment(g.startB(), bytes, batches, g.strideB()));
        int output = CublasLtTuning.alignment(g.startC(), Float.BYTES, batches, g.strideC());
        return new CublasLtLibrary.Shape(g.transA(), g.transB(), g.m(), g.n(), g.k(), g.lda(), g.ldb(), g.ldc(),
                g.strideA(), g.strideB(), g.strideC(), batches, g.compute().cublasValue, g.compute().operandType,
                epilogue, operands, output, maskLd, maskStride);
    }

    /** The cuBLASLt plan of one {@value #GEMM_EPILOGUE} call; cuBLAS has no epilogues, so cuBLASLt must have one. */
    private static CublasLtLibrary.Plan epiloguePlan(Context context, GemmArgs g, ProductEpilogue e) {
        CublasLtLibrary.Shape shape = gemmShape(g, e.epilogue().value, e.maskLd(), g.batches() > 1 ? e.maskStride() : 0);
        CublasLtLibrary.Plan plan = plan(context, shape);
        if (plan == NO_PLAN) {
            throw new IllegalStateException("cuBLASLt has no algorithm for the attention product " + shape
                    + " (compute " + g.compute() + "); -Dtornadovit.reluEpilogue=off runs φ as a kernel of its own");
        }
        return plan;
    }

    private static CublasLtLibrary.Plan plan(Context context, CublasLtLibrary.Shape shape) {
        CublasLtLibrary lt = CublasLtLibrary.get();
        if (context.ltHandle == 0) {
            context.ltHandle = lt.create();
            context.ltWorkspace = lt.deviceAlloc(LT_WORKSPACE_BYTES);
        }
        return context.plans.computeIfAbsent(shape, s -> {
            CublasLtLibrary.Plan plan = CublasLtTuning.plan(lt, context.ltHandle, context.arena, s,
                    context.ltWorkspace, LT_WORKSPACE_BYTES, context.stream());
            return plan == null ? NO_PLAN : plan;
        });
    }

    /**
     * What tuning measured for each product shape so far in this process: the heuristic's first choice against the
     * kept one, slowest shapes first (empty when tuning is off or no product has run).
     */
    public static List<String> tuningReport() {
        return CublasLtTuning.report();
    }

    /** Arguments as {@link #linear}'s. */
    private static void linear(Context context, LibraryInvocation call) {
        CublasLtLibrary lt = CublasLtLibrary.get();
        CublasLtLibrary.Plan plan = linearPlan(context, call::getArg);
        context.scalars.set(ValueLayout.JAVA_FLOAT, 0, (float) call.getArg(5));
        context.scalars.set(ValueLayout.JAVA_FLOAT, Float.BYTES, (float) call.getArg(10));
        int offset = compute(call.getArg(15)).operandOffsetBytes();
        lt.matmul(context.ltHandle, plan, context.scalars, context.pointer, call.getDevicePointer(6) + offset,
                call.getDevicePointer(8) + offset, call.getDevicePointer(11), call.getDevicePointer(13),
                context.ltWorkspace, LT_WORKSPACE_BYTES, context.stream());
    }

    @Override
    public void destroyContext(LibraryContext context) {
        Context c = (Context) context;
        c.handles.values().forEach(CublasLibrary.get()::destroy);
        c.pointerArrays.values().forEach(PointerArrays::free);
        if (c.ltHandle != 0) {
            CublasLtLibrary lt = CublasLtLibrary.get();
            lt.destroy(c.ltHandle);
            lt.deviceFree(c.ltWorkspace);
        }
        c.arena.close();
    }

    /** The descriptor of one {@value #ALL_REDUCE_MEAN} call: buffer[0..count) averaged over the ranks of {@code group}. */
    public static LibraryTaskDescriptor allReduceMean(FloatArray buffer, int count, long group) {
        return new LibraryTaskDescriptor().withLibrary(LIBRARY).withFunction(ALL_REDUCE_MEAN)
                .withParameters(new Object[]{buffer, count, group})
                .withAccess(new Access[]{Access.READ_WRITE, Access.READ_ONLY, Access.READ_ONLY});
    }

    /**
     * The descriptor of one {@value #LINEAR} call: column-major C = alpha·op(A)·op(B) + beta·C with {@code epilogue}
     * on {@code bias} (read for {@link Epilogue#BIAS}, written for {@link Epilogue#BIAS_GRADIENT_OF_B}).
     */
    public static LibraryTaskDescriptor linear(int transA, int transB, int m, int n, int k, float alpha,
                                               TornadoNativeArray a, int lda, TornadoNativeArray b, int ldb, float beta,
                                               FloatArray c, int ldc, FloatArray bias, Epilogue epilogue,
                                               GemmCompute compute) {
        Access[] access = new Access[16];
        Arrays.fill(access, Access.READ_ONLY);
        access[11] = beta != 0f ? Access.READ_WRITE : Access.WRITE_ONLY;
        if (epilogue == Epilogue.BIAS_GRADIENT_OF_B) access[13] = Access.WRITE_ONLY;
        return new LibraryTaskDescriptor().withLibrary(LIBRARY).withFunction(LINEAR)
                .withParameters(new Object[]{transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias,
                        epilogue.value, compute.ordinal()})
                .withAccess(access);
    }

    /**
     * The descriptor of one {@value #GEMM_HEADS} call: column-major C[z] = alpha·op(A[z])·op(B[z]) + beta·C[z] for
     * every matrix z of {@code batch} (image-major), {@code operations} from {@link #gemmOperations} (C is always read
     * and written: its matrices lie among others'), leading dimensions as cuBLAS's, the compute type, and where the
     * first matrix of each operand starts in its buffer ({@code offsetA}, {@code offsetB}, {@code offsetC}, in
     * values); {@code batch} rides as the descriptor's tuning object.
     */
    public static LibraryTaskDescriptor gemmHeads(int operations, int m, int n, int k, float alpha,
                                                  TornadoNativeArray a, int lda, TornadoNativeArray b, int ldb,
                                                  float beta, FloatArray c, int ldc, GemmCompute compute, long offsetA,
                                                  long offsetB, long offsetC, HeadBatch batch) {
        Access[] access = new Access[16];
        Arrays.fill(access, Access.READ_ONLY);
        access[10] = Access.READ_WRITE;
        return new LibraryTaskDescriptor().withLibrary(LIBRARY).withFunction(GEMM_HEADS)
                .withParameters(new Object[]{operations, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                        compute.ordinal(), offsetA, offsetB, offsetC})
                .withAccess(access)
                .withTuning(batch);
    }

    /**
     * The descriptor of one {@value #GEMM_EPILOGUE} call: {@link #gemm}'s first 17 arguments, then the ReLU mask's
     * tensor (written by {@link Epilogue#RELU_WITH_MASK}, read by {@link Epilogue#RELU_GRADIENT}; none for
     * {@link Epilogue#RELU}: {@link #gemmEpilogue(int, int, int, int, float, TornadoNativeArray, int, long,
     * TornadoNativeArray, int, long, float, FloatArray, int, long, int, GemmCompute, ProductEpilogue)}); the epilogue,
     * the operands' offsets and the mask's geometry ride as the descriptor's tuning object.
     */
    public static LibraryTaskDescriptor gemmEpilogue(int operations, int m, int n, int k, float alpha,
                                                     TornadoNativeArray a, int lda, long strideA, TornadoNativeArray b,
                                                     int ldb, long strideB, float beta, FloatArray c, int ldc,
                                                     long strideC, int batches, GemmCompute compute, FloatArray mask,
                                                     ProductEpilogue epilogue) {
        Access[] access = new Access[18];
        Arrays.fill(access, Access.READ_ONLY);
        access[GemmArgs.C] = beta != 0f || (operations & 4) != 0 ? Access.READ_WRITE : Access.WRITE_ONLY;
        // each head's product writes its own part of the mask: never write-only, or the other parts may be lost
        if (epilogue.epilogue() == Epilogue.RELU_WITH_MASK) access[ProductEpilogue.MASK_ARGUMENT] = Access.READ_WRITE;
        return new LibraryTaskDescriptor().withLibrary(LIBRARY).withFunction(GEMM_EPILOGUE)
                .withParameters(new Object[]{operations, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc,
                        strideC, batches, compute.ordinal(), mask})
                .withAccess(access)
                .withTuning(epilogue);
    }

    /** The descriptor of one {@value #GEMM_EPILOGUE} call whose epilogue has no mask ({@link Epilogue#RELU}). */
    public static LibraryTaskDescriptor gemmEpilogue(int operations, int m, int n, int k, float alpha,
                                                     TornadoNativeArray a, int lda, long strideA, TornadoNativeArray b,
                                                     int ldb, long strideB, float beta, FloatArray c, int ldc,
                                                     long strideC, int batches, GemmCompute compute,
                                                     ProductEpilogue epilogue) {
        if (epilogue.hasMask()) throw new IllegalArgumentException(epilogue.epilogue() + " needs its mask's tensor");
        Access[] access = new Access[17];
        Arrays.fill(access, Access.READ_ONLY);
        access[GemmArgs.C] = beta != 0f || (operations & 4) != 0 ? Access.READ_WRITE : Access.WRITE_ONLY;
        return new LibraryTaskDescriptor().withLibrary(LIBRARY).withFunction(GEMM_EPILOGUE)
                .withParameters(new Object[]{operations, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc,
                        strideC, batches, compute.ordinal()})
                .withAccess(access)
                .withTuning(epilogue);
    }

    /**
     * {@link #gemm}'s first argument: whether A and B are transposed (cublasOperation_t's N = 0, T = 1), and whether
     * the call writes only part of C's buffer ({@code partialC}: a view, other calls writing the rest), which makes C
     * read-write to TornadoVM, never write-only.
     */
    public static int gemmOperations(int transA, int transB, boolean partialC) {
        return transA | transB << 1 | (partialC ? 4 : 0);
    }

    /**
     * The descriptor of one {@value #GEMM} call: {@code operations} from {@link #gemmOperations}, then
     * cublasGemmStridedBatchedEx's arguments (column-major; strides in elements, ignored when {@code batches} is 1),
     * the compute type, and where each matrix starts in its buffer ({@code offsetA}, {@code offsetB},
     * {@code offsetC}, in values). Twenty arguments: the most a TornadoVM library task takes.
     */
    public static LibraryTaskDescriptor gemm(int operations, int m, int n, int k, float alpha, TornadoNativeArray a,
                                             int lda, long strideA, TornadoNativeArray b, int ldb, long strideB,
                                             float beta, FloatArray c, int ldc, long strideC, int batches,
                                             GemmCompute compute, long offsetA, long offsetB, long offsetC) {
        Access[] access = new Access[20];
        Arrays.fill(access, Access.READ_ONLY);
        access[GemmArgs.C] = beta != 0f || (operations & 4) != 0 ? Access.READ_WRITE : Access.WRITE_ONLY;
        return new LibraryTaskDescriptor().withLibrary(LIBRARY).withFunction(GEMM)
                .withParameters(new Object[]{operations, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc,
                        strideC, batches, compute.ordinal(), offsetA, offsetB, offsetC})
                .withAccess(access);
    }
}
