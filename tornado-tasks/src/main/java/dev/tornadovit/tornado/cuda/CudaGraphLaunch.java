package dev.tornadovit.tornado.cuda;

import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.runtime.library.spi.TornadoNativeStreamSupport;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Replays a CUDA graph that TornadoVM captured, straight through the driver ({@code cuGraphLaunch} of
 * {@code libcuda.so.1}, bound with Java's foreign-function API), without waiting for it.
 *
 * <p>Why: TornadoVM's own replay of a captured graph ends with {@code cuStreamSynchronize}, and before the launch its
 * interpreter walks the graph's bytecodes and buffers on the host. With the device idle during that walk, a ViT-S/16
 * training step of ~30 graphs spent tens of milliseconds waiting on the host. A graph whose buffers are all device
 * buffers kept by other graphs (a recorded graph's parts: no transfers, nothing allocated per run) needs none of that
 * work: launching its graph on the queue's stream is all a replay does.
 */
public final class CudaGraphLaunch {
    private static final String SONAME = "libcuda.so.1";
    private static CudaGraphLaunch instance;

    private final MethodHandle graphLaunch, ctxSetCurrent;

    private CudaGraphLaunch(SymbolLookup lib) {
        Linker linker = Linker.nativeLinker();
        graphLaunch = linker.downcallHandle(find(lib, "cuGraphLaunch"), FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        ctxSetCurrent = linker.downcallHandle(find(lib, "cuCtxSetCurrent"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    private static MemorySegment find(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new UnsatisfiedLinkError(SONAME + " has no " + name));
    }

    /** The driver's functions, bound once (the CUDA backend has loaded the library already). */
    public static synchronized CudaGraphLaunch get() {
        if (instance == null) instance = new CudaGraphLaunch(SymbolLookup.libraryLookup(SONAME, Arena.global()));
        return instance;
    }

    /** Whether {@code device} is a CUDA device whose queues this can launch on. */
    public static boolean supports(TornadoDevice device) {
        return device instanceof TornadoNativeStreamSupport && device.getClass().getName().contains(".cuda.");
    }

    /**
     * Queues the instantiated graph {@code graphExec} on the stream of TornadoVM's queue {@code queueId} and returns at
     * once.
     */
    public void launch(TornadoDevice device, long queueId, long graphExec) {
        TornadoNativeStreamSupport streams = (TornadoNativeStreamSupport) device;
        try {
            // the calling thread's current context must be the queue's, as TornadoVM's own launch makes it
            check("cuCtxSetCurrent", (int) ctxSetCurrent.invokeExact(
                    MemorySegment.ofAddress(streams.getNativeContext(queueId))));
            check("cuGraphLaunch", (int) graphLaunch.invokeExact(MemorySegment.ofAddress(graphExec),
                    MemorySegment.ofAddress(streams.getNativeStream(queueId))));
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    private static void check(String call, int result) {
        if (result != 0) throw new IllegalStateException(call + " failed: CUresult " + result);
    }
}
