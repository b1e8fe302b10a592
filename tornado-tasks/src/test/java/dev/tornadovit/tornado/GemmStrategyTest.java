package dev.tornadovit.tornado;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Precision;
import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tornado.cuda.CudaLibraryProvider;
import dev.tornadovit.tornado.cuda.GemmCompute;
import dev.tornadovit.tensor.Write;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Each GEMM strategy on the test device against the CPU backend, and the strategies against each other, on the same
 * random inputs: every layout the model uses (x·Wᵀ + b; dy·W; dyᵀ·x; batched q·kᵀ, weights·v and their backward
 * products, with scale and accumulation), at sizes that divide no tile, inside a recorded graph that is replayed (the
 * products share the graph's device buffers with our kernels). The cuBLAS strategy runs only on TornadoVM's CUDA
 * backend: elsewhere its test is skipped and says why; on a CUDA device where cuBLAS does not load it fails. TF32 and
 * bf16 arithmetic (cuBLAS's compute types) are checked against fp32 within their operands' rounding; our bf16
 * tensor-core kernels against the CPU's exact bf16 emulation and against cuBLAS bf16.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class GemmStrategyTest {
    private static final double TOL = 1e-4;
    // tokens (m) and the widths divide no 64-wide tile; the attention shapes divide no 16-wide step
    private static final int M = 133, K = 67, N = 45, HEADS = 3, TOKENS = 37, HEAD_DIM = 24;

    @Test
    void ourKernelMatchesTheCpu() {
        TornadoDevices.Found device = TornadoDevices.resolve(TestDevice.spec());
        Map<String, float[]> expected = products(new CpuBackend(1));
        try (TornadoBackend kernel = TestDevice.backend(GemmStrategy.KERNEL)) {
            assertEquals(GemmStrategy.KERNEL, kernel.gemmStrategy());
            assertAllClose("kernel GEMM on " + device.id(), expected, products(kernel));
        }
    }

    @Test
    void ourKernelWithTheTokensSplitMatchesTheCpu() {
        Map<String, float[]> expected = products(new CpuBackend(1), 1024);
        try (TornadoBackend kernel = TestDevice.backend(GemmStrategy.KERNEL)) {
            kernel.products().setGemmTargetGroups(1_000_000); // every weight gradient wants more work-groups than it has tiles
            assertTrue(kernel.products().tokenSplits(1024, N, K) > 1);
            assertAllClose("kernel GEMM, tokens split", expected, products(kernel, 1024));
        }
    }

    @Test
    void cublasMatchesTheCpuAndOurKernel() {
        TornadoDevices.Found device = TornadoDevices.resolve(TestDevice.spec());
        Assumptions.assumeTrue(device.backend().equals("cuda"), () -> "skipped: cuBLAS runs only on TornadoVM's CUDA "
                + "backend, and the test device " + device.id() + " (" + device.name() + ") is on " + device.backend());
        String reason = GemmStrategy.unavailableReason(GemmStrategy.CUBLAS, device);
        if (reason != null) fail("the CUDA device " + device.id() + " cannot run cuBLAS: " + reason);
        Map<String, float[]> expected = products(new CpuBackend(1));
        Map<String, float[]> cublas, kernel;
        try (TornadoBackend be = TestDevice.backend(GemmStrategy.CUBLAS)) {
            assertEquals(GemmStrategy.CUBLAS, be.gemmStrategy());
            cublas = products(be);
        }
        try (TornadoBackend be = TestDevice.backend(GemmStrategy.KERNEL)) {
            kernel = products(be);
        }
        assertAllClose("cuBLAS on " + device.id(), expected, cublas);
        assertAllClose("cuBLAS against our kernel on " + device.id(), kernel, cublas);
    }

    /**
     * TornadoVM gives each thread its own CUDA stream: a backend whose cuBLAS context was made on one thread and that
     * then records, captures and runs its products on another must run them on the second thread's stream, in order
     * with that thread's uploads and kernels (on the first thread's stream they would run ahead of the captured
     * graph, on inputs not yet there).
     */
    @Test
    void cublasKeepsItsProductsInOrderOnAnotherThread() throws Exception {
        TornadoDevices.Found device = TornadoDevices.resolve(TestDevice.spec());
        Assumptions.assumeTrue(device.backend().equals("cuda"), () -> "skipped: cuBLAS runs only on TornadoVM's CUDA "
                + "backend, and the test device " + device.id() + " (" + device.name() + ") is on " + device.backend());
        Map<String, float[]> expected = products(new CpuBackend(1));
        try (TornadoBackend be = TestDevice.backend(GemmStrategy.CUBLAS)) {
            assertAllClose("cuBLAS on the first thread", expected, products(be));
            ExecutorService other = Executors.newSingleThreadExecutor();
            try {
                assertAllClose("cuBLAS on a second thread", expected, other.submit(() -> products(be)).get());
            } finally {
                other.shutdown();
            }
        }
    }

    /**
     * TF32 and bf16 arithmetic on the tensor cores against the CPU's fp32, within what rounding the operands allows:
     * an operand cut to p mantissa bits (rounded or truncated: cuBLAS does not promise which) is off by less than 2^-p
     * of itself, so a product of two by less than u = 2·2^-p (plus u²/4) and a sum of such products by u·Σ|a||b|;
     * Σ|a||b| is the same product on the operands' absolute values (computed on the CPU), and fp32 accumulation adds
     * {@link #TOL} of the output's scale. TF32 keeps 10 bits, bf16 7.
     */
    @Test
    void cublasTf32AndBf16StayWithinTheirOperandRounding() {
        TornadoDevices.Found device = TornadoDevices.resolve(TestDevice.spec());
        Assumptions.assumeTrue(device.backend().equals("cuda"), () -> "skipped: TF32 and bf16 GEMMs run only through "
                + "cuBLAS on TornadoVM's CUDA backend, and the test device " + device.id() + " is on " + device.backend());
        Map<String, float[]> expected = products(new CpuBackend(1), M, false);
        Map<String, float[]> magnitudes = products(new CpuBackend(1), M, true);
        for (Precision compute : List.of(Precision.TF32, Precision.BF16)) {
            double u = Math.scalb(2.0, -compute.significandBits());
            // cuBLAS's own rounding of fp32 operands (bf16 copies of the operands are tested below)
            try (TornadoBackend be = new TornadoBackend(device, 0, GemmStrategy.CUBLAS, compute, GemmCompute.of(compute))) {
                assertEquals(compute.label(), be.gemmCompute().name().toLowerCase(java.util.Locale.ROOT));
                Map<String, float[]> got = products(be, M, false);
                for (String name : expected.keySet()) {
                    float[] want = expected.get(name), have = got.get(name), bound = magnitudes.get(name);
                    double scale = 0;
                    for (float value : want) scale = Math.max(scale, Math.abs(value));
                    for (int i = 0; i < want.length; i++) {
                        double allowed = (u + u * u) * bound[i] + TOL * scale;
                        double diff = Math.abs((double) have[i] - want[i]);
                        if (!(diff <= allowed)) {
                            fail(String.format("%s on %s, %s: element %d is %.8g, expected %.8g (|diff| %.3g > %.3g)",
                                    compute, device.id(), name, i, have[i], want[i], diff, allowed));
                        }
                    }
                }
            }
        }
    }

    /**
     * Our tensor-core kernels ({@link GemmStrategy#MMA}, bf16) on the model's products in a recorded graph against the
     * CPU's exact bf16 emulation: the same bf16 operands and exact products, so only the order of the fp32 sums
     * differs, by less than (K + 4)·2^-22·Σ|a||b| for a sum of K products ({@link MmaGemmTest} derives the bound; K here
     * the longest sum of any product, Σ|a||b| the product on absolute values). Then against cuBLAS's bf16 compute type
     * where cuBLAS loads, within twice {@link #cublasTf32AndBf16StayWithinTheirOperandRounding}'s bound (cuBLAS may
     * truncate operands, ours round to nearest even). Skipped, saying why, where the kernels cannot compile.
     */
    @Test
    void mmaMatchesTheCpusBf16EmulationAndCublasBf16() {
        TornadoDevices.Found device = TornadoDevices.resolve(TestDevice.spec());
        String reason = GemmStrategy.unavailableReason(GemmStrategy.MMA, device);
        Assumptions.assumeTrue(reason == null, () -> "skipped: " + reason);
        Map<String, float[]> expected = products(new CpuBackend(1, Precision.BF16), M, false);
        Map<String, float[]> magnitudes = products(new CpuBackend(1, Precision.BF16), M, true);
        Map<String, float[]> mma;
        try (TornadoBackend be = new TornadoBackend(device, 0, GemmStrategy.MMA, Precision.BF16)) {
            assertTrue(!be.fusedAttention(), "the fused attention kernels compute in fp32: off for bf16");
            mma = products(be, M, false);
        }
        int longestSum = Math.max(Math.max(M, K), Math.max(N, Math.max(TOKENS, HEAD_DIM)));
        assertWithin("mma bf16 against the CPU's bf16 emulation on " + device.id(), expected, mma, magnitudes,
                (longestSum + 4) * Math.scalb(1.0, -22), 0);
        if (GemmStrategy.unavailableReason(GemmStrategy.CUBLAS, device) != null) return;
        Map<String, float[]> cublas;
        try (TornadoBackend be = new TornadoBackend(device, 0, GemmStrategy.CUBLAS, Precision.BF16)) {
            cublas = products(be, M, false);
        }
        double u = Math.scalb(2.0, -Precision.BF16.significandBits());
        assertWithin("mma bf16 against cuBLAS bf16 on " + device.id(), cublas, mma, magnitudes, 2 * (u + u * u), TOL);
    }

    /**
     * cuBLAS's bf16 on operands stored as bf16 copies ({@link Bf16Operands}, {@link GemmCompute#BF16_STORED}),
     * against the CPU's exact bf16 emulation: the copies round to nearest even as the CPU does, and the products of
     * bf16 values are exact in fp32, so only the order of the fp32 sums differs: within {@link
     * #mmaMatchesTheCpusBf16EmulationAndCublasBf16}'s bound, plus {@link #TOL} of the output's scale for cuBLAS's
     * split sums. The bias gradient is the exception: cuBLAS's epilogue sums the bf16 copy of dy, where the CPU sums
     * dy itself, so it is off by up to half a bf16 step (2^-8 relative) of each term: 2^-8·Σ|dy|.
     */
    @Test
    void cublasOnStoredBf16OperandsMatchesTheCpusBf16Emulation() {
        TornadoDevices.Found device = TornadoDevices.resolve(TestDevice.spec());
        Assumptions.assumeTrue(device.backend().equals("cuda"), () -> "skipped: cuBLAS runs only on TornadoVM's CUDA "
                + "backend, and the test device " + device.id() + " is on " + device.backend());
        String reason = GemmStrategy.unavailableReason(GemmStrategy.CUBLAS, device);
        if (reason != null) fail("the CUDA device " + device.id() + " cannot run cuBLAS: " + reason);
        Map<String, float[]> expected = products(new CpuBackend(1, Precision.BF16), M, false);
        Map<String, float[]> magnitudes = products(new CpuBackend(1, Precision.BF16), M, true);
        Map<String, float[]> stored;
        try (TornadoBackend be = new TornadoBackend(device, 0, GemmStrategy.CUBLAS, Precision.BF16,
                GemmCompute.BF16_STORED)) {
            stored = products(be, M, false);
        }
        int longestSum = Math.max(Math.max(M, K), Math.max(N, Math.max(TOKENS, HEAD_DIM)));
        double order = (longestSum + 4) * Math.scalb(1.0, -22);
        Map<String, float[]> bias = Map.of("dBias", expected.remove("dBias"));
        Map<String, float[]> biasGot = Map.of("dBias", stored.get("dBias"));
        assertWithin("cuBLAS on stored bf16 operands against the CPU's bf16 emulation on " + device.id(), expected,
                stored, magnitudes, order, TOL);
        assertWithin("cuBLAS's bias gradient from the bf16 copy of dy on " + device.id(), bias, biasGot, magnitudes,
                Math.scalb(1.0, -8) + order, TOL);
    }

    /** Each output within perMagnitude·magnitude (per element) + relative·(the reference's largest magnitude). */
    private static void assertWithin(String what, Map<String, float[]> expected, Map<String, float[]> actual,
                                     Map<String, float[]> magnitudes, double perMagnitude, double relative) {
        for (String name : expected.keySet()) {
            float[] want = expected.get(name), have = actual.get(name), bound = magnitudes.get(name);
            double scale = 0;
            for (float value : want) scale = Math.max(scale, Math.abs(value));
            for (int i = 0; i < want.length; i++) {
                double allowed = perMagnitude * bound[i] + relative * scale;
                double diff = Math.abs((double) have[i] - want[i]);
                if (!(diff <= allowed)) {
                    fail(String.format("%s, %s: element %d is %.8g, expected %.8g (|diff| %.3g > %.3g)", what, name, i,
                            have[i], want[i], diff, allowed));
                }
            }
        }
    }

    @Test
    void cublasThatCannotLoadIsNamedInTheReason() {
        String reason = CudaLibraryProvider.unavailableReason();
        Assumptions.assumeTrue(reason != null, "skipped: libcublas.so.13 loads on this machine");
        assertTrue(reason.contains("libcublas.so.13") && reason.contains("LD_LIBRARY_PATH"), reason);
    }

    @Test
    void aStrategyTheDeviceCannotRunIsRefusedWithItsReason() {
        TornadoDevices.Found device = TornadoDevices.resolve(TestDevice.spec());
        Assumptions.assumeFalse(device.backend().equals("cuda"), "skipped: the CUDA backend can run cuBLAS");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new TornadoBackend(device, 0, GemmStrategy.CUBLAS));
        assertTrue(e.getMessage().contains("CUDA backend") && e.getMessage().contains(device.backend()), e.getMessage());
        assertEquals(GemmStrategy.KERNEL, GemmStrategy.best(device));
    }

    @Test
    void thePropertyNamesTheStrategyOrExplainsWhatItTakes() {
        TornadoDevices.Found device = TornadoDevices.resolve(TestDevice.spec());
        String old = System.getProperty(GemmStrategy.PROPERTY);
        try {
            System.setProperty(GemmStrategy.PROPERTY, "kernel");
            assertEquals(GemmStrategy.KERNEL, GemmStrategy.forDevice(device));
            System.setProperty(GemmStrategy.PROPERTY, "auto");
            assertEquals(GemmStrategy.best(device), GemmStrategy.forDevice(device));
            System.setProperty(GemmStrategy.PROPERTY, "magma");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GemmStrategy.forDevice(device));
            assertEquals("-Dtornadovit.gemm=magma is not a GEMM strategy: use auto, kernel, cublas or mma", e.getMessage());
        } finally {
            if (old == null) System.clearProperty(GemmStrategy.PROPERTY);
            else System.setProperty(GemmStrategy.PROPERTY, old);
        }
    }

    private static Map<String, float[]> products(Backend be) {
        return products(be, M, false);
    }

    private static Map<String, float[]> products(Backend be, int m) {
        return products(be, m, false);
    }

    /**
     * The model's matrix products on {@code be}, from the same random inputs on every backend, recorded as one graph
     * and run twice (the second run replays it): the outputs by name. {@code absolute}: the inputs' absolute values.
     */
    private static Map<String, float[]> products(Backend be, int m, boolean absolute) {
        SplittableRandom random = new SplittableRandom(7);
        int bh = HEADS, t = TOKENS, hd = HEAD_DIM, th = bh * t * hd, tt = bh * t * t;
        Tensor x = random(be, m * K, random, absolute), w = random(be, N * K, random, absolute);
        Tensor bias = random(be, N, random, absolute), dy = random(be, m * N, random, absolute);
        Tensor q = random(be, th, random, absolute), k = random(be, th, random, absolute);
        Tensor v = random(be, th, random, absolute), weights = random(be, tt, random, absolute);
        Tensor dS = random(be, tt, random, absolute), dO = random(be, th, random, absolute);
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String name : List.of("y", "dx", "dW", "dBias", "scores", "o", "dq", "dk", "dWeights", "dv")) {
            int size = switch (name) {
                case "y" -> m * N;
                case "dx" -> m * K;
                case "dW" -> N * K;
                case "dBias" -> N;
                case "scores", "dWeights" -> tt;
                default -> th;
            };
            out.put(name, be.allocate(size));
        }
        double scale = 1 / Math.sqrt(hd);
        List<Tensor> outputs = new ArrayList<>(out.values());
        Runnable body = () -> {
            for (Tensor o : outputs) be.zero(o);
            be.linear(x, w, bias, out.get("y"), m, K, N);
            be.linearBackward(dy, x, w, out.get("dx"), out.get("dW"), out.get("dBias"), m, K, N, Write.ACCUMULATE);
            be.attentionScores(q, k, out.get("scores"), bh, t, hd, scale);
            be.attentionApply(weights, v, out.get("o"), bh, t, hd);
            be.attentionScoresBackward(dS, q, k, out.get("dq"), out.get("dk"), bh, t, hd, scale);
            be.attentionApplyBackward(dO, weights, v, out.get("dWeights"), out.get("dv"), bh, t, hd);
        };
        RecordedGraph products = be.record("gemm products", body);
        products.run();
        products.run();
        Map<String, float[]> values = new LinkedHashMap<>();
        out.forEach((name, tensor) -> values.put(name, be.downloadFloat(tensor)));
        return values;
    }

    private static Tensor random(Backend be, int n, SplittableRandom random, boolean absolute) {
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (float) (random.nextDouble() * 2 - 1);
            if (absolute) values[i] = Math.abs(values[i]);
        }
        Tensor tensor = be.allocate(n);
        be.upload(tensor, values);
        return tensor;
    }

    /** Each output within {@link #TOL} of its reference's largest magnitude. */
    private static void assertAllClose(String what, Map<String, float[]> expected, Map<String, float[]> actual) {
        for (Map.Entry<String, float[]> e : expected.entrySet()) {
            float[] want = e.getValue(), got = actual.get(e.getKey());
            assertEquals(want.length, got.length, what + ", " + e.getKey() + ": length");
            double scale = 0;
            for (float value : want) scale = Math.max(scale, Math.abs(value));
            for (int i = 0; i < want.length; i++) {
                double diff = Math.abs((double) got[i] - want[i]);
                if (!(diff <= TOL * scale)) {
                    fail(String.format("%s, %s: element %d of %d is %.8g, expected %.8g (|diff| %.3g > %.0e x %.3g)",
                            what, e.getKey(), i, want.length, got[i], want[i], diff, TOL, scale));
                }
            }
        }
    }
}
