package dev.tornadovit.distributed;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The few CUDA driver functions ({@code libcuda.so.1}, installed with NVIDIA's driver) that the NCCL device test
 * needs: device 0's primary context made current (the one NCCL and the CUDA runtime use), device memory, copies and
 * a stream. Absent on machines without NVIDIA's driver.
 */
final class CudaDriver {
    private final MethodHandle memAlloc, memFree, copyToDevice, copyToHost, streamCreate, streamSynchronize, streamDestroy;

    private CudaDriver(SymbolLookup lib) {
        Linker linker = Linker.nativeLinker();
        memAlloc = handle(linker, lib, "cuMemAlloc_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        memFree = handle(linker, lib, "cuMemFree_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        copyToDevice = handle(linker, lib, "cuMemcpyHtoD_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG));
        copyToHost = handle(linker, lib, "cuMemcpyDtoH_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
        streamCreate = handle(linker, lib, "cuStreamCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        streamSynchronize = handle(linker, lib, "cuStreamSynchronize", FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        streamDestroy = handle(linker, lib, "cuStreamDestroy_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
    }

    /** The driver with device 0's primary context current on this thread, or empty without a driver or a GPU. */
    static Optional<CudaDriver> onFirstDevice() {
        SymbolLookup lib;
        try {
            lib = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
        Linker linker = Linker.nativeLinker();
        try (Arena a = Arena.ofConfined()) {
            if ((int) handle(linker, lib, "cuInit", FunctionDescriptor.of(JAVA_INT, JAVA_INT)).invokeExact(0) != 0) {
                return Optional.empty();
            }
            MemorySegment count = a.allocate(JAVA_INT);
            int rc = (int) handle(linker, lib, "cuDeviceGetCount", FunctionDescriptor.of(JAVA_INT, ADDRESS)).invokeExact(count);
            if (rc != 0 || count.get(JAVA_INT, 0) == 0) return Optional.empty();
            MemorySegment device = a.allocate(JAVA_INT), context = a.allocate(ADDRESS);
            check("cuDeviceGet", (int) handle(linker, lib, "cuDeviceGet", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT))
                    .invokeExact(device, 0));
            check("cuDevicePrimaryCtxRetain", (int) handle(linker, lib, "cuDevicePrimaryCtxRetain",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT)).invokeExact(context, device.get(JAVA_INT, 0)));
            check("cuCtxSetCurrent", (int) handle(linker, lib, "cuCtxSetCurrent", FunctionDescriptor.of(JAVA_INT, ADDRESS))
                    .invokeExact(context.get(ADDRESS, 0)));
            return Optional.of(new CudaDriver(lib));
        } catch (Throwable t) {
            throw t instanceof RuntimeException r ? r : new IllegalStateException(t);
        }
    }

    private static MethodHandle handle(Linker linker, SymbolLookup lib, String name, FunctionDescriptor descriptor) {
        return linker.downcallHandle(lib.find(name).orElseThrow(() -> new IllegalStateException("libcuda lacks " + name)),
                descriptor);
    }

    private static void check(String call, int code) {
        if (code != 0) throw new IllegalStateException(call + " failed with CUDA error " + code);
    }

    /** Device memory for {@code floats} float32 values. */
    long allocate(long floats) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ptr = a.allocate(JAVA_LONG);
            check("cuMemAlloc", (int) memAlloc.invokeExact(ptr, floats * Float.BYTES));
            return ptr.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw t instanceof RuntimeException r ? r : new IllegalStateException(t);
        }
    }

    void free(long ptr) {
        try {
            check("cuMemFree", (int) memFree.invokeExact(ptr));
        } catch (Throwable t) {
            throw t instanceof RuntimeException r ? r : new IllegalStateException(t);
        }
    }

    void upload(long ptr, float[] values) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocateFrom(JAVA_FLOAT, values);
            check("cuMemcpyHtoD", (int) copyToDevice.invokeExact(ptr, host, host.byteSize()));
        } catch (Throwable t) {
            throw t instanceof RuntimeException r ? r : new IllegalStateException(t);
        }
    }

    float[] download(long ptr, int floats) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(JAVA_FLOAT, floats);
            check("cuMemcpyDtoH", (int) copyToHost.invokeExact(host, ptr, host.byteSize()));
            return host.toArray(JAVA_FLOAT);
        } catch (Throwable t) {
            throw t instanceof RuntimeException r ? r : new IllegalStateException(t);
        }
    }

    long createStream() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment stream = a.allocate(JAVA_LONG);
            check("cuStreamCreate", (int) streamCreate.invokeExact(stream, 0));
            return stream.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw t instanceof RuntimeException r ? r : new IllegalStateException(t);
        }
    }

    void synchronize(long stream) {
        try {
            check("cuStreamSynchronize", (int) streamSynchronize.invokeExact(stream));
        } catch (Throwable t) {
            throw t instanceof RuntimeException r ? r : new IllegalStateException(t);
        }
    }

    void destroyStream(long stream) {
        try {
            check("cuStreamDestroy", (int) streamDestroy.invokeExact(stream));
        } catch (Throwable t) {
            throw t instanceof RuntimeException r ? r : new IllegalStateException(t);
        }
    }
}
