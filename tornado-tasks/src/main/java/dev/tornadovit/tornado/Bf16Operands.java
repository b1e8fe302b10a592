package dev.tornadovit.tornado;

import dev.tornadovit.tornado.cuda.GemmCompute;
import dev.tornadovit.tornado.kernels.ElementwiseKernels;

import java.util.HashMap;
import java.util.Map;

import static dev.tornadovit.tornado.Launches.task;

/**
 * The bf16 copies of matrix-product operands that cuBLAS reads when the products store their operands as bf16
 * ({@link GemmCompute#BF16_STORED}): half the bytes of the fp32 operand to read, and cuBLAS's bf16 tensor-core kernels
 * instead of its conversion on load. A copy is made by {@link ElementwiseKernels#roundToBf16} right before its product,
 * in the same graph, so the model's tensors, their gradients and checkpoints stay fp32.
 *
 * <p>The copies are scratch buffers of the backend, one per operand slot (first, second) and size class (powers of
 * two), shared by every product whose operand fits: a graph's tasks, and the graphs one after another, run in order, so
 * a product reads its copy before the next conversion into that buffer. Values start {@link #OFFSET} bf16 values into
 * the buffer, past a 32-byte boundary ({@link GemmCompute#BF16_OFFSET_BYTES}).
 */
final class Bf16Operands {
    static final int OFFSET = GemmCompute.BF16_OFFSET_BYTES / 2;
    /** Slots: the product's first and second operand. */
    static final int FIRST = 0, SECOND = 1;

    private final TornadoBackend backend;
    private final Map<Long, DeviceTensor> buffers = new HashMap<>();

    Bf16Operands(TornadoBackend backend) {
        this.backend = backend;
    }

    /** A bf16 copy of an operand and the task that makes it. */
    record Copy(DeviceTensor values, Task task) {
    }

    /** The task that rounds {@code src}'s first {@code count} values into {@code slot}'s buffer of that size class. */
    Copy copy(DeviceTensor src, int count, int slot) {
        if (count > src.size) throw new IllegalArgumentException(src + " has fewer than " + count + " values");
        long needed = (long) count + OFFSET;
        if (needed > 1 << 30) {
            throw new IllegalArgumentException("an operand of " + count + " values is too large for a bf16 copy (at "
                    + "most 2^30)");
        }
        int capacity = sizeClass((int) needed);
        DeviceTensor dst = buffers.computeIfAbsent(((long) slot << 32) | capacity, k -> backend.allocateBf16(capacity));
        return new Copy(dst, task("roundToBf16", null, (g, id) -> g.task(id, ElementwiseKernels::roundToBf16,
                src.array, dst.halves, count, OFFSET), src, dst, count, OFFSET));
    }

    /** The power of two at or above {@code n}. */
    private static int sizeClass(int n) {
        int below = Integer.highestOneBit(n);
        return below == n ? n : below << 1;
    }

    /** Values an operand of a batched product spans: one matrix, and {@code stride} more per further batch. */
    static int extent(int rows, int cols, int batches, int stride) {
        long values = (long) rows * cols + (long) stride * (batches - 1);
        if (values > Integer.MAX_VALUE) throw new IllegalArgumentException("operand of " + values + " values");
        return (int) values;
    }
}
