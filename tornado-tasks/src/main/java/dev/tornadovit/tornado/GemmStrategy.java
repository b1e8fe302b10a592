package dev.tornadovit.tornado;

import dev.tornadovit.tornado.cuda.CudaLibraryProvider;

import java.util.Locale;

/**
 * How a device computes the batched matrix products (every linear layer and attention product, forward and backward).
 *
 * <ul>
 *   <li>{@link #CUBLAS}: NVIDIA's cuBLAS (strided-batched for the attention products) as a TornadoVM library task
 *       inside our task graphs, on the buffers the other tasks use ({@link CublasGemm}). Only TornadoVM's CUDA backend
 *       runs library tasks, and only where {@code libcublas.so.13} loads.</li>
 *   <li>{@link #KERNEL}: our plain-Java KernelContext kernels ({@link dev.tornadovit.tornado.kernels.MatmulKernels}),
 *       the portable path: any OpenCL, PTX, CUDA or SPIR-V device.</li>
 * </ul>
 *
 * {@code -Dtornadovit.gemm=auto|kernel|cublas} chooses; {@code auto} (the default) takes cuBLAS wherever it can run.
 */
public enum GemmStrategy {
    KERNEL, CUBLAS;

    /** The system property that picks a strategy. */
    public static final String PROPERTY = "tornadovit.gemm";

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Why {@code strategy} cannot run on {@code device}, or null when it can. */
    public static String unavailableReason(GemmStrategy strategy, TornadoDevices.Found device) {
        if (strategy == KERNEL) return null;
        if (!device.backend().equals("cuda")) {
            return "cuBLAS runs only on TornadoVM's CUDA backend, and " + device.id() + " is on " + device.backend();
        }
        return CudaLibraryProvider.unavailableReason();
    }

    /** The best strategy {@code device} can run: cuBLAS where it can, else our kernel. */
    public static GemmStrategy best(TornadoDevices.Found device) {
        return unavailableReason(CUBLAS, device) == null ? CUBLAS : KERNEL;
    }

    /**
     * The strategy {@link #PROPERTY} asks for on {@code device} ({@code auto} or unset: {@link #best}); a strategy
     * that cannot run there is an error naming the reason.
     */
    public static GemmStrategy forDevice(TornadoDevices.Found device) {
        String asked = System.getProperty(PROPERTY, "auto").trim().toLowerCase(Locale.ROOT);
        if (asked.equals("auto")) return best(device);
        GemmStrategy strategy = switch (asked) {
            case "kernel" -> KERNEL;
            case "cublas" -> CUBLAS;
            default -> throw new IllegalArgumentException("-D" + PROPERTY + "=" + asked
                    + " is not a GEMM strategy: use auto, kernel or cublas");
        };
        String reason = unavailableReason(strategy, device);
        if (reason != null) throw new IllegalArgumentException("-D" + PROPERTY + "=" + asked + ": " + reason);
        return strategy;
    }
}
