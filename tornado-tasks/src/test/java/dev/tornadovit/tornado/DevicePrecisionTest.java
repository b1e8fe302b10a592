package dev.tornadovit.tornado;

import dev.tornadovit.backend.Backends;
import dev.tornadovit.tensor.Precision;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The TornadoVM backend's precisions: fp32 on every GEMM strategy, TF32 and bf16 through cuBLAS, bf16 through our
 * tensor-core kernels (the numbers are checked in {@link GemmStrategyTest} and {@link MmaGemmTest}); a precision its strategy cannot run is refused in
 * one line naming the device and what it runs, by the constructor and through {@code --device}'s path alike, never
 * replaced by another.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class DevicePrecisionTest {

    @Test
    void fp32RunsAndAPrecisionTheGemmCannotRunIsRefusedNamingTheDevice() {
        TornadoDevices.Found device = TornadoDevices.resolve(TestDevice.spec());
        try (TornadoBackend be = TestDevice.backend(GemmStrategy.KERNEL)) {
            assertEquals(Precision.FP32, be.precision());
            assertTrue(be.supports(Precision.FP32));
            assertFalse(be.supports(Precision.BF16) || be.supports(Precision.TF32), "the kernel GEMM is fp32 only");
        }
        for (Precision p : new Precision[]{Precision.TF32, Precision.BF16}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new TornadoBackend(device, 0, GemmStrategy.KERNEL, p));
            boolean tensorCores = p == Precision.BF16 && GemmStrategy.unavailableReason(GemmStrategy.MMA, device) == null;
            assertEquals("device " + device.id() + " (" + device.name() + ", GEMM: kernel) cannot run precision " + p
                    + "; it runs fp32" + (tensorCores ? " (-Dtornadovit.gemm=mma runs bf16 on it)" : "")
                    + " (--device cpu emulates " + p + ")", e.getMessage());
            assertEquals(1, e.getMessage().lines().count());
            // The same through Backends, as --device and the Java API create backends, where the device's best GEMM for
            // p is our fp32 kernel; where it is cuBLAS (or, for bf16, our tensor-core kernels), p runs on the tensor cores.
            if (GemmStrategy.best(device, p) == GemmStrategy.KERNEL) {
                IllegalArgumentException viaProvider = assertThrows(IllegalArgumentException.class,
                        () -> Backends.create(TestDevice.spec(), 0, p));
                assertTrue(viaProvider.getMessage().contains("cannot run precision " + p), viaProvider.getMessage());
            } else {
                try (TornadoBackend be = (TornadoBackend) Backends.create(TestDevice.spec(), 0, p)) {
                    assertEquals(p, be.precision());
                    assertEquals(be.gemmStrategy().compute(p), be.gemmCompute());
                }
            }
        }
    }

    /**
     * The fused attention kernels compute in fp32: an fp32 backend switches them on; a TF32 or bf16 one (where the
     * device runs those precisions: CUDA) refuses them in one line, through the Java API and through the system
     * property alike, rather than run part of its attention in fp32.
     */
    @Test
    void fusedAttentionIsFp32OnlyAndOtherPrecisionsRefuseIt() {
        String before = System.getProperty("tornadovit.fusedAttention");
        System.clearProperty("tornadovit.fusedAttention"); // whatever the suite's JVM was given
        try {
            fusedAttentionRefusals();
        } finally {
            if (before != null) System.setProperty("tornadovit.fusedAttention", before);
            else System.clearProperty("tornadovit.fusedAttention");
        }
    }

    private static void fusedAttentionRefusals() {
        try (TornadoBackend be = TestDevice.backend(GemmStrategy.KERNEL)) {
            be.setFusedAttention(true);
            assertTrue(be.fusedAttention());
        }
        TornadoDevices.Found device = TornadoDevices.resolve(TestDevice.spec());
        for (Precision p : new Precision[]{Precision.TF32, Precision.BF16}) {
            GemmStrategy gemm = GemmStrategy.best(device, p);
            if (gemm == GemmStrategy.KERNEL) continue; // the device cannot run p at all: refused above
            String expected = "fused attention (-Dtornadovit.fusedAttention=true) computes in fp32, and this backend"
                              + " runs precision " + p + ": leave fused attention off, or use --precision fp32";
            try (TornadoBackend be = new TornadoBackend(device, 0, gemm, p)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> be.setFusedAttention(true));
                assertEquals(expected, e.getMessage());
                assertFalse(be.fusedAttention());
            }
            System.setProperty("tornadovit.fusedAttention", "true");
            try {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> new TornadoBackend(device, 0, gemm, p));
                assertEquals(expected, e.getMessage());
            } finally {
                System.clearProperty("tornadovit.fusedAttention");
            }
        }
    }
}
