package dev.tornadovit.tornado.cuda;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The device arrays of matrix pointers one {@value CudaLibraryProvider#GEMM_HEADS} call hands cuBLAS: A's, B's and
 * C's, {@link HeadBatch#count} each, in one device allocation, written from page-locked host memory. Both are
 * allocated when the call is prepared, before any CUDA-graph capture (an allocation inside one fails). The buffers'
 * device pointers are known only when the call runs, so each run writes them into the host memory and copies them on
 * the call's stream, ahead of the product: inside a capture that copy becomes a node of the graph, which copies the
 * same host values at every replay, so the host memory is never freed or rewritten with other values while the plan
 * lives.
 */
final class PointerArrays {
    private final HeadBatch batch;
    private final long host, device, bytes;

    PointerArrays(HeadBatch batch) {
        this.batch = batch;
        this.bytes = 3L * batch.count() * Long.BYTES;
        CublasLtLibrary driver = CublasLtLibrary.get();
        this.host = driver.hostAlloc(bytes);
        this.device = driver.deviceAlloc(bytes);
    }

    /**
     * Writes the pointers of every matrix of A, B and C from the operands' first matrices ({@code a}, {@code b},
     * {@code c}: device addresses) and copies them to the device on {@code stream}; {@code elementBytes} of A and B
     * (C is fp32).
     */
    void write(long a, long b, long c, int elementBytes, long stream) {
        MemorySegment values = MemorySegment.ofAddress(host).reinterpret(bytes);
        int count = batch.count(), heads = batch.heads();
        for (int z = 0; z < count; z++) {
            values.setAtIndex(ValueLayout.JAVA_LONG, z,
                    a + HeadBatch.offset(z, heads, batch.imageStrideA(), batch.headStepA()) * elementBytes);
            values.setAtIndex(ValueLayout.JAVA_LONG, count + z,
                    b + HeadBatch.offset(z, heads, batch.imageStrideB(), batch.headStepB()) * elementBytes);
            values.setAtIndex(ValueLayout.JAVA_LONG, 2L * count + z,
                    c + HeadBatch.offset(z, heads, batch.imageStrideC(), batch.headStepC()) * Float.BYTES);
        }
        CublasLtLibrary.get().copyToDeviceAsync(device, host, bytes, stream);
    }

    long aPointers() {
        return device;
    }

    long bPointers() {
        return device + (long) batch.count() * Long.BYTES;
    }

    long cPointers() {
        return device + 2L * batch.count() * Long.BYTES;
    }

    void free() {
        CublasLtLibrary driver = CublasLtLibrary.get();
        driver.deviceFree(device);
        driver.hostFree(host);
    }
}
