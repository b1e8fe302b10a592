package dev.tornadovit.tornado;

import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.ImmutableTaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.common.TornadoDevice;

/**
 * Execution plans compiled before they first run. Compiling up front keeps compilation out of the first step's
 * timing, and makes a failed compilation safe to retry: TornadoVM otherwise compiles each task when it is reached,
 * after the tasks before it have run, so a failure midway cannot be repeated without running those twice.
 */
final class Plans {
    private Plans() {
    }

    /** Attempts at compiling one plan: PoCL under heavy load sometimes loses a temporary file mid-build. */
    private static final int ATTEMPTS = 3;

    static TornadoExecutionPlan compiled(ImmutableTaskGraph graph, TornadoDevice device, GridScheduler grids) {
        return compiled(graph, device, grids, false);
    }

    /**
     * @param cudaGraph capture the plan's first run as a CUDA graph and replay that afterwards (CUDA backend only):
     *                  one launch for the whole graph instead of one driver call per task
     */
    static TornadoExecutionPlan compiled(ImmutableTaskGraph graph, TornadoDevice device, GridScheduler grids,
                                         boolean cudaGraph) {
        for (int attempt = 1; ; attempt++) {
            TornadoExecutionPlan plan = new TornadoExecutionPlan(graph).withDevice(device);
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

    private static boolean isDriverBuildFailure(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t.getMessage() != null && t.getMessage().contains("Error during code compilation with the OpenCL driver")) {
                return true;
            }
        }
        return false;
    }
}
