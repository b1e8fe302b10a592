package dev.tornadovit.tornado;

import dev.tornadovit.backend.cpu.Matmul;
import dev.tornadovit.tensor.Precision;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tornado.GemmLayoutsTest.Case;
import dev.tornadovit.tornado.GemmLayoutsTest.Layout;
import dev.tornadovit.tornado.GemmLayoutsTest.Shared;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Our tensor-core GEMM kernels ({@link dev.tornadovit.tornado.kernels.MmaGemmKernels}: NN, NT, TN in bf16 with fp32
 * accumulation) launched alone through {@link MatrixProducts#gemm} on the test device, against the CPU backend's exact
 * bf16 emulation ({@link Matmul} with {@link Precision#BF16}) on the same inputs: sizes that divide neither the
 * 128-wide tile nor the 32-deep K slice, K of one, several tiles each way, batches at strides with gaps, a shared
 * operand, alpha ≠ 1, bias and accumulation; and the rounding itself, value by value, ties and special values included.
 *
 * <p>Tolerance: both sides multiply the same bf16 operands ã, b̃, whose products are exact in fp32; only the order (and,
 * on the tensor cores, the rounding mode) of the fp32 sums differ. A sum of K terms in fp32 is within (K − 1)·u·Σ|ã·b̃|
 * of the exact one, u = 2^-24 rounding to nearest, 2^-23 for the truncating adders tensor cores may have; the epilogue
 * adds three roundings of α·acc, bias and C. So the two results differ by less than
 * (K + 3)·(2^-23 + 2^-24)·(|α|·Σ|ã·b̃| + |bias| + |C|); the test allows (K + 4)·2^-22 times that magnitude, computed
 * per element. One operand rounded differently (truncated, say) already moves a K = 16 sum by about 2^-9·Σ|ã·b̃|/√K,
 * some 200 times more.
 *
 * <p>Only TornadoVM's CUDA backend compiles the kernels: on any other device every test here is skipped with that
 * reason (and the refusal itself is checked), never passed; a kernel that ran as Java would leave C unchanged and fail.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MmaGemmTest {

    static List<Case> cases() {
        return List.of(
                new Case(Layout.NN, 70, 45, 37, 1, 0, Shared.NONE, 1f, false, false),
                new Case(Layout.NN, 128, 256, 64, 1, 0, Shared.NONE, 1f, true, true),
                new Case(Layout.NN, 197, 64, 197, 3, 5, Shared.NONE, 0.5f, false, true),
                new Case(Layout.NN, 65, 33, 15, 4, 0, Shared.B, 1f, true, false),
                new Case(Layout.NT, 133, 45, 67, 1, 0, Shared.NONE, 1f, true, false),
                new Case(Layout.NT, 300, 200, 96, 1, 0, Shared.NONE, 1f, true, false),
                new Case(Layout.NT, 80, 70, 5, 1, 0, Shared.NONE, 0.125f, false, true),
                new Case(Layout.NT, 50, 130, 33, 3, 0, Shared.B, 1f, true, true),
                new Case(Layout.NT, 197, 197, 64, 2, 7, Shared.NONE, 0.125f, false, false),
                new Case(Layout.TN, 45, 67, 133, 1, 0, Shared.NONE, 1f, false, true),
                new Case(Layout.TN, 129, 65, 200, 1, 0, Shared.NONE, 2f, true, false),
                new Case(Layout.TN, 70, 17, 1, 3, 0, Shared.A, 1f, true, true),
                new Case(Layout.TN, 64, 197, 197, 4, 3, Shared.NONE, 1f, false, false));
    }

    private TornadoDevices.Found device;
    private String unavailable;
    private TornadoBackend dev;

    @BeforeAll
    void open() {
        device = TornadoDevices.resolve(TestDevice.spec());
        unavailable = GemmStrategy.unavailableReason(GemmStrategy.MMA, device);
        if (unavailable == null) {
            if (!"false".equalsIgnoreCase(System.getProperty("tornado.recover.bailout"))) {
                throw new IllegalStateException("run the TornadoVM tests with -Dtornado.recover.bailout=false");
            }
            dev = new TornadoBackend(device, 0, GemmStrategy.MMA, Precision.BF16);
        }
    }

    @AfterAll
    void close() {
        if (dev != null) dev.close();
    }

    private void assumeTensorCores() {
        Assumptions.assumeTrue(unavailable == null, () -> "skipped: " + unavailable);
    }

    /** A case's random inputs (no value halfway between two bf16 values: see {@link #random}) and strides. */
    record Inputs(float[] a, float[] b, float[] start, float[] bias, int strideA, int strideB, int strideC) {
        static Inputs of(Case c) {
            SplittableRandom random = new SplittableRandom(11);
            int sizeA = c.m() * c.k(), sizeB = c.k() * c.n(), sizeC = c.m() * c.n();
            int strideA = c.shared() == Shared.A ? 0 : sizeA + c.gap(), strideB = c.shared() == Shared.B ? 0 : sizeB + c.gap();
            int strideC = sizeC + c.gap();
            return new Inputs(random(extent(sizeA, strideA, c.batches()), random),
                    random(extent(sizeB, strideB, c.batches()), random), random(extent(sizeC, strideC, c.batches()), random),
                    c.bias() ? random(c.n(), random) : null, strideA, strideB, strideC);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void eachLayoutMatchesTheCpusBf16Emulation(Case c) {
        assumeTensorCores();
        Inputs in = Inputs.of(c);
        Tensor a = upload(in.a), b = upload(in.b), out = upload(in.start), bias = c.bias() ? upload(in.bias) : null;
        MatrixProducts products = dev.products();
        Task task = products.gemm(products.t(a), products.t(b), products.t(out), bias == null ? null : products.t(bias),
                c.m(), c.n(), c.k(), c.batches(), in.strideA, in.strideB, in.strideC, c.layout().transA, c.layout().transB, c.alpha(),
                c.accumulate() ? 1 : 0)[0];
        assertTrue(task.key().startsWith("mma" + c.layout() + "("), () -> c.layout() + " ran as " + task.key());
        products.submit(task);
        assertMatchesTheCpu(c + " on " + device.id(), c, in, dev.downloadFloat(out));
    }

    /**
     * Fails unless {@code got} (C after the product) is within the class comment's bound of the CPU's bf16 emulation
     * on the same inputs, everywhere: inside the matrices and in the gaps between batches (which must keep C's start).
     */
    static void assertMatchesTheCpu(String what, Case c, Inputs in, float[] got) {
        float[] want = in.start.clone();
        float[] magnitude = new float[want.length];
        for (int z = 0; z < c.batches(); z++) {
            for (int i = 0; i < c.m(); i++) {
                for (int j = 0; j < c.n(); j++) {
                    int at = z * in.strideC + i * c.n() + j;
                    want[at] = (c.accumulate() ? in.start[at] : 0f) + (c.bias() ? in.bias[j] : 0f);
                    magnitude[at] = Math.abs(c.accumulate() ? in.start[at] : 0f) + (c.bias() ? Math.abs(in.bias[j]) : 0f);
                }
            }
        }
        product(c, Precision.BF16, in.a, in.b, want, in.strideA, in.strideB, in.strideC, c.alpha());
        product(c, Precision.BF16, abs(in.a), abs(in.b), magnitude, in.strideA, in.strideB, in.strideC,
                Math.abs(c.alpha()));
        assertEquals(want.length, got.length, what + ": length");
        double perMagnitude = (c.k() + 4) * Math.scalb(1.0, -22);
        for (int i = 0; i < want.length; i++) {
            double allowed = perMagnitude * magnitude[i];
            double diff = Math.abs((double) got[i] - want[i]);
            if (!(diff <= allowed)) {
                fail(String.format("%s: element %d of %d is %.8g, the CPU's bf16 emulation %.8g (|diff| %.3g > %.3g)",
                        what, i, want.length, got[i], want[i], diff, allowed));
            }
        }
    }

    /**
     * Every operand is rounded as {@link Precision#roundToBf16} rounds it: x·1 over K = 1 gives the rounded x itself,
     * exactly, for ties (to even, up and down), values just off a tie, the largest finite floats (which round to
     * infinity), infinities, subnormals, zeros and NaN (a NaN stays NaN). A zero's sign is not checked (the fp32
     * accumulator starts at +0, and +0 + (-0) is +0), and a subnormal may come out as zero (tensor cores may flush
     * them).
     */
    @Test
    void operandsAreRoundedToNearestEvenLikePrecision() {
        assumeTensorCores();
        float one = 1f, unit = Math.scalb(1f, -8); // half of bf16's spacing at 1
        float[] values = {one + unit, one + 3 * unit, -(one + unit), one + unit + Math.scalb(1f, -23),
                one + unit - Math.scalb(1f, -23), 3.14159265f, -2.7182817f, Float.MAX_VALUE, -Float.MAX_VALUE,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MIN_VALUE, 1e-40f, -1e-39f, 0f, -0f,
                Float.NaN, 65504.5f, 1e30f, 3.3961775e38f, Math.nextDown(3.3961775e38f)};
        int m = values.length;
        for (int layout = 0; layout < 2; layout++) { // x as A (NN, 1 × 1 B) and as B (NN with A = 1)
            Tensor x = upload(values), oneTensor = upload(new float[]{1f}), out = upload(new float[m]);
            MatrixProducts products = dev.products();
            Task[] task = layout == 0
                    ? products.gemm(products.t(x), products.t(oneTensor), products.t(out), null, m, 1, 1, 1, 0, 0, 0, 0, 0, 1f, 0)
                    : products.gemm(products.t(oneTensor), products.t(x), products.t(out), null, 1, m, 1, 1, 0, 0, 0, 0, 0, 1f, 0);
            products.submit(task);
            float[] got = dev.downloadFloat(out);
            for (int i = 0; i < m; i++) {
                float want = Precision.roundToBf16(values[i]);
                // the accumulator starts at +0, and +0 + -0 is +0; tensor cores may flush subnormals to zero
                boolean same = Float.isNaN(want) ? Float.isNaN(got[i])
                        : Float.floatToRawIntBits(want) == Float.floatToRawIntBits(got[i])
                        || got[i] == 0f && Math.abs(want) < Float.MIN_NORMAL;
                if (!same) {
                    fail(String.format("operand %s (%s) became %s (bits %08x), Precision.roundToBf16 gives %s (bits %08x)",
                            values[i], layout == 0 ? "A" : "B", got[i], Float.floatToRawIntBits(got[i]), want,
                            Float.floatToRawIntBits(want)));
                }
            }
        }
    }

    @Test
    void bf16RunsAndFp32KeepsOurFp32Kernels() {
        assumeTensorCores();
        assertTrue(dev.supports(Precision.BF16) && dev.supports(Precision.FP32));
        assertFalse(dev.supports(Precision.TF32), "mma.sync bf16 is the one tensor-core format of these kernels");
        try (TornadoBackend fp32 = new TornadoBackend(device, 0, GemmStrategy.MMA, Precision.FP32)) {
            MatrixProducts products = fp32.products();
            DeviceTensor x = products.t(fp32.allocate(16));
            assertTrue(products.gemm(x, x, x, null, 4, 4, 4, 1, 0, 0, 0, 0, 1, 1f, 0)[0].key().startsWith("gemmNT("));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new TornadoBackend(device, 0, GemmStrategy.MMA, Precision.TF32));
        assertTrue(e.getMessage().contains("GEMM: mma) cannot run precision tf32; it runs fp32|bf16"), e.getMessage());
    }

    @Test
    void aDeviceWhoseBackendCannotRunMmaRefusesItInOneLine() {
        Assumptions.assumeFalse(unavailable == null, "skipped: " + device.id() + " runs the tensor-core kernels");
        assertEquals("bf16 tensor-core kernels (mma.sync) compile only on TornadoVM's CUDA backend, and " + device.id()
                + " is on " + device.backend(), unavailable);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new TornadoBackend(device, 0, GemmStrategy.MMA, Precision.BF16));
        assertEquals("GEMM strategy mma: " + unavailable, e.getMessage());
        String old = System.getProperty(GemmStrategy.PROPERTY);
        try {
            System.setProperty(GemmStrategy.PROPERTY, "mma");
            IllegalArgumentException viaProperty = assertThrows(IllegalArgumentException.class,
                    () -> GemmStrategy.forDevice(device, Precision.BF16));
            assertEquals("-Dtornadovit.gemm=mma: " + unavailable, viaProperty.getMessage());
        } finally {
            if (old == null) System.clearProperty(GemmStrategy.PROPERTY);
            else System.setProperty(GemmStrategy.PROPERTY, old);
        }
        if (GemmStrategy.unavailableReason(GemmStrategy.CUBLAS, device) != null) {
            assertEquals(GemmStrategy.KERNEL, GemmStrategy.best(device, Precision.BF16));
        }
    }

    /** With TornadoVM's default FloatArray header, mmaStore's stores land where FloatArray's data is. */
    @Test
    void tornadoVmsArrayHeaderIsTheJvmsFloatArrayHeader() {
        Assumptions.assumeTrue(System.getProperty("tornado.panama.objectHeader") == null,
                "skipped: -Dtornado.panama.objectHeader sets TornadoVM's header");
        assertNull(GemmStrategy.headerMismatch());
    }

    private Tensor upload(float[] values) {
        Tensor t = dev.allocate(values.length);
        dev.upload(t, values);
        return t;
    }

    private static void product(Case c, Precision p, float[] a, float[] b, float[] out, int strideA, int strideB,
                                int strideC, float alpha) {
        switch (c.layout()) {
            case NN -> Matmul.batchedNN(p, c.batches(), a, 0, strideA, c.k(), b, 0, strideB, c.n(), out, 0, strideC, c.n(),
                    c.m(), c.n(), c.k(), alpha, true);
            case NT -> Matmul.batchedNT(p, c.batches(), a, 0, strideA, c.k(), b, 0, strideB, c.k(), out, 0, strideC, c.n(),
                    c.m(), c.n(), c.k(), alpha, true);
            case TN -> Matmul.batchedTN(p, c.batches(), a, 0, strideA, c.m(), b, 0, strideB, c.n(), out, 0, strideC, c.n(),
                    c.m(), c.n(), c.k(), alpha, true);
        }
    }

    /**
     * Uniform values in [-1, 1), none exactly halfway between two bf16 values: TornadoVM's Java version of the
     * kernels' rounding (which {@link MmaKernelEmulationTest} runs) rounds such ties away from zero, not to even.
     */
    static float[] random(int n, SplittableRandom random) {
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            int bits = Float.floatToRawIntBits((float) (random.nextDouble() * 2 - 1));
            if ((bits & 0xFFFF) == 0x8000) bits ^= 1;
            values[i] = Float.intBitsToFloat(bits);
        }
        return values;
    }

    private static float[] abs(float[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) out[i] = Math.abs(values[i]);
        return out;
    }

    /** Floats that {@code batches} matrices of {@code size} at {@code stride} span. */
    private static int extent(int size, int stride, int batches) {
        return (batches - 1) * stride + size;
    }
}
