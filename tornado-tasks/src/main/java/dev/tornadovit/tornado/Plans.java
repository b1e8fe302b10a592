package dev.tornadovit.tornado;

import dev.tornadovit.tornado.cuda.CudaGraphLaunch;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.ImmutableTaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.TornadoExecutionResult;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.runtime.ExecutorFrame;
import uk.ac.manchester.tornado.runtime.common.TornadoXPUDevice;

import java.lang.reflect.Field;
import java.util.List;

/**
 * A backend's execution plans: compiled before they first run, and run in one device queue so that the host can queue
 * the next graph while the device still runs the last.
 *
 * <p><b>Compiled up front</b>: that keeps compilation out of the first step's timing, and makes a failed compilation
 * safe to retry: TornadoVM otherwise compiles each task when it is reached, after the tasks before it have run, so a
 * failure midway cannot be repeated without running those twice.
 *
 * <p><b>Queued</b>: TornadoVM gives every execution plan its own queue (a CUDA stream, an OpenCL command queue) and, by
 * default, waits at the end of each run until the device is idle, which is what orders one plan's work after
 * another's; its CUDA backend's replay of a captured graph always waits. The device then idles while the host prepares
 * the next graph, about thirty times a training step. Started with {@code -Dtornado.vmflush=false} (the launchers pass
 * it), TornadoVM returns from a run once its work is queued, every plan of this backend runs under one plan id
 * (TornadoVM's key for the queue), so the device runs the graphs in the order the host queued them, and captured CUDA
 * graphs are replayed through the driver ({@link #replay}). The host waits only where it must: downloads (TornadoVM's
 * blocking copy waits for the queue), {@link #awaitDevice()} for timing and closing, and before rewriting a host buffer
 * whose last upload may still be in flight ({@link #beforeHostWrite}). With {@code -Dtornado.vmflush=true} every run
 * blocks and each plan keeps its own queue.
 */
final class Plans {
    /** Attempts at compiling one plan: PoCL under heavy load sometimes loses a temporary file mid-build. */
    private static final int ATTEMPTS = 3;

    /** Whether TornadoVM returns from a run before the device has finished it (see the class comment). */
    static final boolean QUEUED = !Boolean.parseBoolean(System.getProperty("tornado.vmflush", "true"));

    /** A plan's execution frame (which carries its plan id), and the list where it keeps every run's result. */
    private static final Field FRAME = planField("executionFrame"), RESULTS = planField("planResults");

    private static Field planField(String name) {
        try {
            Field field = TornadoExecutionPlan.class.getDeclaredField(name);
            field.setAccessible(true);
            return field;
        } catch (NoSuchFieldException | RuntimeException e) {
            return null;
        }
    }

    private final TornadoDevice device;
    /** The plan id every plan runs under when {@link #QUEUED}; 0 until the first plan exists. */
    private long queueId;
    /**
     * Times the host has waited for everything queued so far. A host buffer sent by a run queued when this was n may
     * be rewritten once it is past n.
     */
    private long waits;

    Plans(TornadoDevice device) {
        this.device = device;
        if (QUEUED && FRAME == null) {
            throw new IllegalStateException("-Dtornado.vmflush=false needs TornadoVM 5.x's execution plans (jdk25 "
                    + "branch) with --add-opens tornado.api/uk.ac.manchester.tornado.api=ALL-UNNAMED; start the JVM with "
                    + "-Dtornado.vmflush=true to run every graph to completion instead");
        }
    }

    TornadoExecutionPlan compiled(ImmutableTaskGraph graph, GridScheduler grids) {
        return compiled(graph, grids, false);
    }

    /**
     * @param cudaGraph capture the plan's first run as a CUDA graph and replay that afterwards (CUDA backend only):
     *                  one launch for the whole graph instead of one driver call per task
     */
    TornadoExecutionPlan compiled(ImmutableTaskGraph graph, GridScheduler grids, boolean cudaGraph) {
        for (int attempt = 1; ; attempt++) {
            TornadoExecutionPlan plan = new TornadoExecutionPlan(graph);
            // before anything is set on the plan: the frame carries its grid scheduler and profiler mode too
            if (QUEUED) joinQueue(plan);
            plan.withDevice(device);
            if (grids != null) plan.withGridScheduler(grids);
            if (cudaGraph) plan.withCUDAGraph();
            try {
                return plan.withPreCompilation();
            } catch (VirtualMachineError e) {
                throw e;
            } catch (RuntimeException | Error e) {
                if (attempt >= ATTEMPTS || !isDriverBuildFailure(e)) throw e;
                System.err.println("TornadoViT: the OpenCL driver failed to build a kernel (" + e.getMessage().strip()
                        .lines().findFirst().orElse("") + "); compiling again, attempt " + (attempt + 1));
            }
        }
    }

    private void joinQueue(TornadoExecutionPlan plan) {
        if (queueId == 0) {
            queueId = plan.getId();
            return;
        }
        try {
            FRAME.set(plan, new ExecutorFrame(queueId));
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Runs a plan: queued when {@link #QUEUED}, else to completion. */
    TornadoExecutionResult run(TornadoExecutionPlan plan) {
        TornadoExecutionResult result = plan.execute();
        forgetResults(plan);
        return result;
    }

    /**
     * Empties the list in which TornadoVM keeps every run's result (nothing reads it but {@code getPlanResult}, which we
     * do not use): a staging plan runs every step, and a long training run would otherwise hold millions of them.
     */
    private static void forgetResults(TornadoExecutionPlan plan) {
        if (RESULTS == null) return;
        try {
            if (RESULTS.get(plan) instanceof List<?> results) results.clear();
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The host-wait count now: what a buffer sent by a run queued now is stamped with. */
    long waits() {
        return waits;
    }

    /** Whether captured CUDA graphs can be queued straight through the driver ({@link #replay}). */
    boolean replaysCudaGraphs() {
        return QUEUED && CudaGraphLaunch.supports(device);
    }

    /** Queues a CUDA graph that TornadoVM captured for one of these plans, bypassing TornadoVM ({@link CudaGraphLaunch}). */
    void replay(long cudaGraph) {
        CudaGraphLaunch.get().launch(device, queueId, cudaGraph);
    }

    /** Returns once the device has finished everything queued so far. */
    void awaitDevice() {
        if (!QUEUED || queueId == 0) return;
        ((TornadoXPUDevice) device).sync(queueId);
        waits++;
    }

    /** Notes that the host has just waited for everything queued so far (a blocking download). */
    void waited() {
        waits++;
    }

    /**
     * Call before the host rewrites a buffer that a run queued at {@code sentAt} sends to the device: waits for the
     * device first unless the host has waited since (the copy may still read the buffer until then).
     */
    void beforeHostWrite(long sentAt) {
        if (QUEUED && sentAt >= waits) awaitDevice();
    }

    private static boolean isDriverBuildFailure(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t.getMessage() != null && t.getMessage().contains("Error during code compilation with the OpenCL driver")) {
                return true;
            }
        }
        return false;
    }
}
