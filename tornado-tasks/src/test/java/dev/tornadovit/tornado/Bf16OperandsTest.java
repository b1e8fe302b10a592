package dev.tornadovit.tornado;

import dev.tornadovit.tensor.Precision;
import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tornado.cuda.GemmCompute;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The bf16 operand copies of {@link Bf16Operands} on the test device: {@link dev.tornadovit.tornado.kernels.ElementwiseKernels#roundToBf16} against
 * the CPU's bf16 rounding ({@link Precision#roundToBf16}, nearest, ties to even) on random values over the whole
 * exponent range and on the special ones (zeros, infinities, NaN, subnormals, the largest float, exact ties), inside a
 * recorded graph that is replayed, the bit patterns read back from the device. TornadoVM's CUDA backend
 * rounds as the CPU does, bit for bit; elsewhere TornadoVM's Java encoder rounds an exact tie away from zero and makes
 * -0 +0, and a device that flushes subnormals (NVIDIA's OpenCL) makes them zero, so there (and only for those values)
 * the value one bf16 step further from zero, and a zero of either sign, are accepted too. Also: bf16 buffers share owner
 * groups with fp32 tensors, are refused for upload and download, and are reused per slot and size class.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class Bf16OperandsTest {

    @Test
    void roundedCopiesMatchTheCpusBf16Rounding() {
        float[] values = values();
        int n = values.length;
        try (TornadoBackend be = TestDevice.backend(GemmStrategy.KERNEL)) {
            boolean cuda = be.name().startsWith("cuda:");
            Bf16Operands operands = new Bf16Operands(be);
            Tensor src = be.allocate(n), other = be.allocate(n), zeros = be.allocate(n);
            be.upload(src, values);
            DeviceTensor in = be.t(src);
            DeviceTensor[] copied = new DeviceTensor[1];
            RecordedGraph graph = be.record("bf16 copy", () -> {
                Bf16Operands.Copy copy = operands.copy(in, n, Bf16Operands.SECOND);
                copied[0] = copy.values();
                be.graphs.submit(copy.task());
                be.copy(src, other, n); // an fp32 kernel in the same graph
            });
            graph.run();
            // the replay must write every value again: the copy's buffer is refilled by another copy in between
            be.upload(zeros, new float[n]);
            be.graphs.submit(operands.copy(be.t(zeros), n, Bf16Operands.SECOND).task());
            assertEquals(0, be.downloadBf16(copied[0])[Bf16Operands.OFFSET + 1]);
            graph.run();
            short[] got = be.downloadBf16(copied[0]);
            List<String> wrong = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                float x = values[i];
                int want = Float.floatToRawIntBits(Precision.roundToBf16(x)) >>> 16, have = got[Bf16Operands.OFFSET + i] & 0xFFFF;
                boolean bothNaN = Float.isNaN(x) && (have & 0x7F80) == 0x7F80 && (have & 0x7F) != 0;
                if (have == want || bothNaN) continue;
                boolean tie = (Float.floatToRawIntBits(x) & 0xFFFF) == 0x8000;
                boolean zeroOrSubnormal = Math.abs(x) < Float.MIN_NORMAL;
                if (!cuda && (tie && have == awayFromZero(x) || zeroOrSubnormal && (have & 0x7FFF) == 0)) continue;
                if (wrong.size() < 8) {
                    wrong.add(String.format(Locale.ROOT, "%s (0x%08x) became 0x%04x, expected 0x%04x", x,
                            Float.floatToRawIntBits(x), have, want));
                }
            }
            if (!wrong.isEmpty()) fail("bf16 copies on " + be.name() + " differ from the CPU's rounding: " + wrong);
            assertTrue(java.util.Arrays.equals(values, be.downloadFloat(other)), "the fp32 copy beside them");
        }
    }

    @Test
    void bf16BuffersLiveOnTheDeviceOnlyAndAreSharedBySlotAndSizeClass() {
        try (TornadoBackend be = TestDevice.backend(GemmStrategy.KERNEL)) {
            Bf16Operands operands = new Bf16Operands(be);
            DeviceTensor small = be.t(be.allocate(100)), larger = be.t(be.allocate(3000));
            Bf16Operands.Copy a = operands.copy(small, 100, Bf16Operands.FIRST);
            Bf16Operands.Copy b = operands.copy(larger, 90, Bf16Operands.FIRST); // same size class as a
            Bf16Operands.Copy c = operands.copy(small, 100, Bf16Operands.SECOND);
            Bf16Operands.Copy d = operands.copy(larger, 3000, Bf16Operands.FIRST);
            assertSame(a.values(), b.values());
            assertNotSame(a.values(), c.values());
            assertNotSame(a.values(), d.values());
            assertTrue(a.values().bf16() && a.values().size >= 100 + Bf16Operands.OFFSET);
            assertTrue(d.values().size >= 3000 + Bf16Operands.OFFSET);
            assertEquals(2L * a.values().size, a.values().bytes());
            be.graphs.submit(a.task(), d.task());
            IllegalStateException up = assertThrows(IllegalStateException.class,
                    () -> be.upload(a.values(), new float[100]));
            assertTrue(up.getMessage().contains("device only"), up.getMessage());
            assertThrows(IllegalStateException.class, () -> be.downloadFloat(d.values()));
            assertThrows(IllegalArgumentException.class, () -> operands.copy(small, 101, Bf16Operands.FIRST));
        }
    }

    @Test
    void cublasBf16TakesFp32OperandsUnlessThePropertySaysStored() {
        String old = System.getProperty(GemmStrategy.BF16_OPERANDS);
        try {
            System.clearProperty(GemmStrategy.BF16_OPERANDS);
            assertEquals(GemmCompute.BF16, GemmStrategy.CUBLAS.compute(Precision.BF16));
            assertEquals(GemmCompute.TF32, GemmStrategy.CUBLAS.compute(Precision.TF32));
            System.setProperty(GemmStrategy.BF16_OPERANDS, "stored");
            assertEquals(GemmCompute.BF16_STORED, GemmStrategy.CUBLAS.compute(Precision.BF16));
            assertEquals(GemmCompute.BF16, GemmStrategy.MMA.compute(Precision.BF16), "our tensor-core kernels round as they load");
            assertEquals(GemmCompute.FP32, GemmStrategy.CUBLAS.compute(Precision.FP32));
            System.setProperty(GemmStrategy.BF16_OPERANDS, "fp16");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> GemmStrategy.CUBLAS.compute(Precision.BF16));
            assertEquals("-Dtornadovit.bf16Operands=fp16 is not a bf16 operand source: use fp32 or stored",
                    e.getMessage());
        } finally {
            if (old == null) System.clearProperty(GemmStrategy.BF16_OPERANDS);
            else System.setProperty(GemmStrategy.BF16_OPERANDS, old);
        }
    }

    /** The bf16 pattern one step further from zero than x truncated to bf16. */
    private static int awayFromZero(float x) {
        return (Float.floatToRawIntBits(x) >>> 16) + 1;
    }

    /** Random values of every exponent and sign, and the special ones. */
    private static float[] values() {
        List<Float> v = new ArrayList<>(List.of(0f, -0f, 1f, -1f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
                Float.NaN, Float.MAX_VALUE, -Float.MAX_VALUE, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL,
                3.3895314e38f, 1e-40f, -3e-39f));
        // exact ties: the kept last bit even (nearest-even rounds down) and odd (both round up)
        for (int kept : new int[]{0x3F80, 0x3F81, 0xBF80, 0xBF81, 0x0001, 0x7F7E, 0x7F7F}) {
            v.add(Float.intBitsToFloat(kept << 16 | 0x8000));
        }
        SplittableRandom random = new SplittableRandom(11);
        while (v.size() < 5000) {
            float x = Float.intBitsToFloat(random.nextInt());
            if (!Float.isNaN(x)) v.add(x);
        }
        float[] out = new float[v.size()];
        for (int i = 0; i < out.length; i++) out[i] = v.get(i);
        return out;
    }
}
