package dev.tornadovit.tornado.cuda;

import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

/**
 * Which cuBLASLt algorithm each product shape runs. cuBLASLt's heuristic ranks its algorithms by a model of the GPU,
 * and its first guess is not always the fastest (on an H100 within 7 % for ViT-S/16's large products, but 11-14 % off
 * for batched attention products and a weight gradient, and 9× for a small one), so each shape's first
 * {@value #CANDIDATES} candidates are timed once on scratch buffers of the shape (the tuning cuBLASLt's documentation
 * recommends) and the fastest is kept for the rest of the process, shared by every execution plan. The tuning runs in
 * TornadoVM's {@code prepare} step, before a CUDA graph is captured, and takes a few milliseconds a shape.
 *
 * <p>Different algorithms sum in different orders, and timing noise can pick a different one in another process, so a
 * product's last bits may differ from run to run; {@code -Dtornadovit.cublasLtTuning=false} keeps the heuristic's first
 * choice instead (the same algorithm in every run on the same GPU and library).
 */
final class CublasLtTuning {
    static final boolean ENABLED = !"false".equalsIgnoreCase(System.getProperty("tornadovit.cublasLtTuning", "true"));
    static final int CANDIDATES = 8;
    private static final int WARMUP = 2, RUNS = 5;
    /** One float, the bit pattern of 0.5f, and two bf16 0.5s: keeps the scratch products finite whatever their length. */
    private static final int HALF = Float.floatToRawIntBits(0.5f), HALF_PAIR = 0x3F003F00;

    /** The algorithm kept for a shape, and what tuning measured (milliseconds a product; 0 when not tuned). */
    record Choice(byte[] algo, int index, int candidates, float firstMillis, float bestMillis) {
    }

    private static final Map<CublasLtLibrary.Shape, Choice> CHOICES = new ConcurrentHashMap<>();

    private CublasLtTuning() {
    }

    /**
     * The bytes every pointer to an operand is a multiple of: its buffer's allocation is 256-byte aligned, its values
     * start TornadoVM's array header and {@code offsetBytes} past it, and batch z's matrix z·stride values further.
     */
    static int alignment(long offsetBytes, int valueBytes, int batches, long... strides) {
        long start = TornadoNativeArray.ARRAY_HEADER + offsetBytes;
        long alignment = start == 0 ? 256 : Math.min(256, Long.lowestOneBit(start));
        if (batches > 1) {
            for (long stride : strides) {
                if (stride != 0) alignment = Math.min(alignment, Long.lowestOneBit((long) valueBytes * stride));
            }
        }
        return (int) alignment;
    }

    /**
     * The plan of {@code shape}: its algorithm chosen once per process (timed among the heuristic's candidates when
     * tuning is on), or null when cuBLASLt offers none.
     */
    static CublasLtLibrary.Plan plan(CublasLtLibrary lt, long handle, Arena arena, CublasLtLibrary.Shape shape,
                                     long workspace, long workspaceBytes, long stream) {
        Choice known = CHOICES.get(shape);
        if (known != null) {
            CublasLtLibrary.Candidates c = lt.candidates(handle, arena, shape, workspaceBytes,
                    fakeEpiloguePointer(shape), 1);
            return c.plan(arena.allocate(known.algo().length, 8).copyFrom(MemorySegment.ofArray(known.algo())),
                    shape.epilogue());
        }
        if (ENABLED && lt.canTime()) {
            try {
                CublasLtLibrary.Plan tuned = tune(lt, handle, arena, shape, workspace, workspaceBytes, stream);
                if (tuned != null) return tuned;
            } catch (IllegalStateException e) {
                // no room for the scratch buffers, or a driver call failed: the heuristic's choice still runs
                System.err.println("cuBLASLt tuning of " + shape + " failed, keeping the heuristic's choice: "
                        + e.getMessage());
            }
        }
        CublasLtLibrary.Candidates c = lt.candidates(handle, arena, shape, workspaceBytes, fakeEpiloguePointer(shape),
                1);
        if (c.algos().isEmpty()) return null;
        CHOICES.put(shape, new Choice(c.algos().getFirst().toArray(JAVA_BYTE), 0, 1, 0, 0));
        return c.plan(c.algos().getFirst(), shape.epilogue());
    }

    /** Times the heuristic's candidates on scratch buffers and keeps the fastest; null when none runs. */
    private static CublasLtLibrary.Plan tune(CublasLtLibrary lt, long handle, Arena arena, CublasLtLibrary.Shape shape,
                                             long workspace, long workspaceBytes, long stream) {
        Scratch scratch = new Scratch(lt, shape);
        try {
            CublasLtLibrary.Candidates c = lt.candidates(handle, arena, shape, workspaceBytes,
                    fakeEpiloguePointer(shape), CANDIDATES);
            if (c.algos().isEmpty()) return null;
            MemorySegment scalars = CublasLibrary.scalars(arena), pointer = arena.allocate(8, 8);
            scalars.set(JAVA_FLOAT, 0, 1f);
            scalars.set(JAVA_FLOAT, Float.BYTES, 1f);
            float[] millis = new float[c.algos().size()];
            long start = lt.eventCreate(), end = lt.eventCreate();
            try {
                for (int i = 0; i < millis.length; i++) {
                    millis[i] = time(lt, handle, c.plan(c.algos().get(i), shape.epilogue()), scalars, pointer,
                            scratch, workspace, workspaceBytes, stream, start, end);
                }
            } finally {
                lt.eventDestroy(start);
                lt.eventDestroy(end);
            }
            int best = 0;
            for (int i = 1; i < millis.length; i++) if (millis[i] < millis[best]) best = i;
            if (!Float.isFinite(millis[best])) {
                System.err.println("cuBLASLt tuning of " + shape + ": none of " + millis.length
                        + " candidates ran on scratch buffers; keeping the heuristic's choice");
                return null;
            }
            MemorySegment algo = c.algos().get(best);
            CHOICES.put(shape, new Choice(algo.toArray(JAVA_BYTE), best, millis.length, millis[0], millis[best]));
            return c.plan(algo, shape.epilogue());
        } finally {
            scratch.free();
        }
    }

    /** Milliseconds a product with {@code plan}, averaged over {@value #RUNS} runs; infinite if it cannot run. */
    private static float time(CublasLtLibrary lt, long handle, CublasLtLibrary.Plan plan, MemorySegment scalars,
                              MemorySegment pointer, Scratch s, long workspace, long workspaceBytes, long stream,
                              long start, long end) {
        // a bias or mask pointer only where the epilogue has one: cuBLASLt refuses a product whose epilogue has none
        int epilogue = plan.epilogue();
        long bias = CublasLtLibrary.hasBias(epilogue) ? s.bias : CublasLtLibrary.hasMask(epilogue) ? s.mask : 0;
        for (int i = 0; i < WARMUP; i++) {
            if (lt.tryMatmul(handle, plan, scalars, pointer, s.a, s.b, s.c, bias, workspace, workspaceBytes,
                    stream) != 0) {
                return Float.POSITIVE_INFINITY;
            }
        }
        lt.eventRecord(start, stream);
        for (int i = 0; i < RUNS; i++) {
            lt.tryMatmul(handle, plan, scalars, pointer, s.a, s.b, s.c, bias, workspace, workspaceBytes, stream);
        }
        lt.eventRecord(end, stream);
        return lt.elapsedMillis(start, end) / RUNS;
    }

    /**
     * Not dereferenced: tells the heuristic that the bias is as aligned as our other operands, and a ReLU mask as
     * aligned as the least aligned of ours ({@link CublasLtLibrary#MASK_ALIGNMENT}).
     */
    private static long fakeEpiloguePointer(CublasLtLibrary.Shape shape) {
        return 256 + (CublasLtLibrary.hasMask(shape.epilogue()) ? CublasLtLibrary.MASK_ALIGNMENT
                : TornadoNativeArray.ARRAY_HEADER);
    }

    /** Device buffers of a shape's operands, each starting where a TornadoVM array's data would (past its header). */
    private static final class Scratch {
        final CublasLtLibrary lt;
        final long[] allocations = new long[5];
        final long a, b, c, bias, mask;

        Scratch(CublasLtLibrary lt, CublasLtLibrary.Shape s) {
            this.lt = lt;
            try {
                // bf16 operands start where the backend's do: an offset past the header (GemmCompute.BF16_OFFSET_BYTES)
                int offset = s.operandBytes() == 2 ? GemmCompute.BF16_OFFSET_BYTES : 0;
                int pattern = s.operandBytes() == 2 ? HALF_PAIR : HALF;
                a = allocate(0, (long) s.lda() * s.columnsA() + s.strideA() * (s.batches() - 1), offset, pattern);
                b = allocate(1, (long) s.ldb() * s.columnsB() + s.strideB() * (s.batches() - 1), offset, pattern);
                c = allocate(2, (long) s.ldc() * s.n() + s.strideC() * (s.batches() - 1), 0, HALF);
                bias = allocate(3, Math.max(s.m(), s.n()), 0, HALF);
                // the mask's values mean nothing to the timing; it starts on an allocation's 256-byte boundary
                if (CublasLtLibrary.hasMask(s.epilogue())) {
                    allocations[4] = lt.deviceAlloc(s.maskBytes());
                    mask = allocations[4];
                } else {
                    mask = 0;
                }
            } catch (RuntimeException e) {
                free();
                throw e;
            }
        }

        /** Room for {@code values} of up to 4 bytes, filled with {@code pattern}; returns where they start. */
        private long allocate(int slot, long values, int offset, int pattern) {
            long header = TornadoNativeArray.ARRAY_HEADER;
            allocations[slot] = lt.deviceAlloc(4 * values + header + offset);
            lt.fill(allocations[slot] + header + offset, pattern, values);
            return allocations[slot] + header + offset;
        }

        void free() {
            for (long allocation : allocations) if (allocation != 0) lt.deviceFree(allocation);
        }
    }

    /**
     * One line per tuned shape: the heuristic's first choice against the fastest of its candidates, in milliseconds
     * and TFLOP/s, slowest shapes first.
     */
    static List<String> report() {
        List<Map.Entry<CublasLtLibrary.Shape, Choice>> entries = new ArrayList<>(CHOICES.entrySet());
        entries.removeIf(e -> e.getValue().firstMillis() == 0);
        entries.sort(Comparator.comparingDouble(e -> -e.getValue().bestMillis()));
        List<String> lines = new ArrayList<>();
        for (var e : entries) {
            Choice c = e.getValue();
            double flops = e.getKey().flops();
            lines.add(String.format(Locale.ROOT, "%s: first %.3f ms (%.1f TFLOP/s), kept #%d of %d %.3f ms (%.1f TFLOP/s)",
                    e.getKey(), c.firstMillis(), flops / c.firstMillis() / 1e9, c.index() + 1, c.candidates(),
                    c.bestMillis(), flops / c.bestMillis() / 1e9));
        }
        return lines;
    }
}
