package dev.tornadovit.tornado;

import dev.tornadovit.tensor.Precision;
import dev.tornadovit.tornado.cuda.CudaLibraryProvider;
import dev.tornadovit.tornado.cuda.GemmCompute;
import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * How a device computes the batched matrix products (every linear layer and attention product, forward and backward).
 *
 * <ul>
 *   <li>{@link #CUBLAS}: NVIDIA's cuBLAS (strided-batched for the attention products) as a TornadoVM library task
 *       inside our task graphs, on the buffers the other tasks use ({@link CublasGemm}). Only TornadoVM's CUDA backend
 *       runs library tasks, and only where {@code libcublas.so.13} loads.</li>
 *   <li>{@link #KERNEL}: our plain-Java KernelContext kernels ({@link dev.tornadovit.tornado.kernels.MatmulKernels}),
 *       the portable path: any OpenCL, PTX, CUDA or SPIR-V device.</li>
 *   <li>{@link #MMA}: our plain-Java tensor-core kernels ({@link dev.tornadovit.tornado.kernels.MmaGemmKernels}, bf16
 *       operands, fp32 accumulation through TornadoVM's {@code mmaBF16}) for products in {@link Precision#BF16}; fp32
 *       products take {@link #KERNEL}'s kernels. Only TornadoVM's CUDA backend compiles them (compute capability 8.0
 *       or newer): the portable alternative to cuBLAS's bf16 compute type, with no vendor library.</li>
 * </ul>
 *
 * {@code -Dtornadovit.gemm=auto|kernel|cublas|mma} chooses; {@code auto} (the default) takes cuBLAS wherever it can
 * run, else, for bf16 products on the CUDA backend, our tensor-core kernels, else our fp32 kernels.
 */
public enum GemmStrategy {
    KERNEL, CUBLAS, MMA;

    /** The system property that picks a strategy. */
    public static final String PROPERTY = "tornadovit.gemm";
    /**
     * The system property that says where cuBLAS's bf16 products take their operands from: {@code fp32} (the default),
     * the fp32 tensors themselves, rounded by cuBLAS as it loads them ({@link GemmCompute#BF16}); {@code stored}, bf16
     * copies made before each product ({@link GemmCompute#BF16_STORED}).
     */
    public static final String BF16_OPERANDS = "tornadovit.bf16Operands";

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Whether this strategy's products can run in {@code p}: fp32 for every strategy; TF32 and bf16 on the tensor cores
     * through cuBLAS's compute types ({@link dev.tornadovit.tornado.cuda.GemmCompute}); bf16 through our tensor-core
     * kernels ({@link #MMA}).
     */
    public boolean runs(Precision p) {
        return p == Precision.FP32 || this == CUBLAS || this == MMA && p == Precision.BF16;
    }

    /** How this strategy's products compute in {@code p} (see {@link #BF16_OPERANDS} for cuBLAS's bf16). */
    public GemmCompute compute(Precision p) {
        if (this != CUBLAS || p != Precision.BF16) return GemmCompute.of(p);
        String asked = System.getProperty(BF16_OPERANDS, "fp32").trim().toLowerCase(Locale.ROOT);
        return switch (asked) {
            case "stored" -> GemmCompute.BF16_STORED;
            case "fp32" -> GemmCompute.BF16;
            default -> throw new IllegalArgumentException("-D" + BF16_OPERANDS + "=" + asked
                    + " is not a bf16 operand source: use fp32 or stored");
        };
    }

    /** Refuses a compute type that does not round as {@code p} does, or that this strategy cannot run. */
    void checkCompute(Precision p, GemmCompute compute) {
        if (compute.storedBf16() ? this != CUBLAS || p != Precision.BF16 : compute != GemmCompute.of(p)) {
            throw new IllegalArgumentException("GEMM " + label() + " in " + p + " cannot compute as " + compute);
        }
    }

    /**
     * Why {@code device} with this strategy cannot run products in {@code p}, in one line naming the device and the
     * precisions it runs, or null when it can.
     */
    String precisionRefusal(Precision p, TornadoDevices.Found device) {
        if (runs(p)) return null;
        String runs = Arrays.stream(Precision.values()).filter(this::runs).map(Precision::label)
                .collect(Collectors.joining("|"));
        boolean mmaCould = MMA.runs(p) && unavailableReason(MMA, device) == null;
        return "device " + device.id() + " (" + device.name() + ", GEMM: " + label() + ") cannot run precision " + p
                + "; it runs " + runs + (mmaCould ? " (-D" + PROPERTY + "=mma runs " + p + " on it)" : "")
                + " (--device cpu emulates " + p + ")";
    }

    /** Why {@code strategy} cannot run on {@code device}, or null when it can. */
    public static String unavailableReason(GemmStrategy strategy, TornadoDevices.Found device) {
        if (strategy == KERNEL) return null;
        if (strategy == MMA) {
            if (!device.backend().equals("cuda")) {
                return "bf16 tensor-core kernels (mma.sync) compile only on TornadoVM's CUDA backend, and " + device.id()
                        + " is on " + device.backend();
            }
            return headerMismatch();
        }
        if (!device.backend().equals("cuda")) {
            return "cuBLAS runs only on TornadoVM's CUDA backend, and " + device.id() + " is on " + device.backend();
        }
        return CudaLibraryProvider.unavailableReason();
    }

    /**
     * TornadoVM's {@code mmaStore} writes past the JVM's float[] header, while a FloatArray's data starts after
     * TornadoVM's own header ({@code -Dtornado.panama.objectHeader}, 16 bytes by default): where the two differ (compact
     * object headers, say) every result would land in the wrong place, so the tensor-core kernels are refused.
     */
    static String headerMismatch() {
        long jvm;
        try {
            jvm = Class.forName("sun.misc.Unsafe").getField("ARRAY_FLOAT_BASE_OFFSET").getInt(null);
        } catch (ReflectiveOperationException e) {
            return "the JVM's float[] header size cannot be read (sun.misc.Unsafe), and TornadoVM's mmaStore relies on it";
        }
        long tornado = TornadoNativeArray.ARRAY_HEADER;
        return jvm == tornado ? null : "TornadoVM's mmaStore writes after the JVM's float[] header (" + jvm + " bytes), "
                + "but FloatArray's data starts after " + tornado + " (-Dtornado.panama.objectHeader): the results would "
                + "be misplaced";
    }

    /** The best strategy {@code device} can run: cuBLAS where it can, else our kernel. */
    public static GemmStrategy best(TornadoDevices.Found device) {
        return unavailableReason(CUBLAS, device) == null ? CUBLAS : KERNEL;
    }

    /**
     * The best strategy {@code device} can run for products in {@code precision}: cuBLAS where it can; else, for bf16,
     * our tensor-core kernels where they compile; else our fp32 kernels.
     */
    public static GemmStrategy best(TornadoDevices.Found device, Precision precision) {
        if (unavailableReason(CUBLAS, device) == null) return CUBLAS;
        if (precision == Precision.BF16 && unavailableReason(MMA, device) == null) return MMA;
        return KERNEL;
    }

    /**
     * The strategy {@link #PROPERTY} asks for on {@code device} ({@code auto} or unset: {@link #best}); a strategy
     * that cannot run there is an error naming the reason.
     */
    public static GemmStrategy forDevice(TornadoDevices.Found device) {
        return forDevice(device, Precision.FP32);
    }

    /** {@link #forDevice(TornadoDevices.Found)} for products in {@code precision} ({@code auto}: {@link #best(TornadoDevices.Found, Precision)}). */
    public static GemmStrategy forDevice(TornadoDevices.Found device, Precision precision) {
        String asked = System.getProperty(PROPERTY, "auto").trim().toLowerCase(Locale.ROOT);
        if (asked.equals("auto")) return best(device, precision);
        GemmStrategy strategy = switch (asked) {
            case "kernel" -> KERNEL;
            case "cublas" -> CUBLAS;
            case "mma" -> MMA;
            default -> throw new IllegalArgumentException("-D" + PROPERTY + "=" + asked
                    + " is not a GEMM strategy: use auto, kernel, cublas or mma");
        };
        String reason = unavailableReason(strategy, device);
        if (reason != null) throw new IllegalArgumentException("-D" + PROPERTY + "=" + asked + ": " + reason);
        return strategy;
    }
}
