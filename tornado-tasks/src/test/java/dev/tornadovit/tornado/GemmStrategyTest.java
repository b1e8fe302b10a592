package dev.tornadovit.tornado;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
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
 * backend: elsewhere its test is skipped and says why; on a CUDA device without the SDK's cuBLAS module it fails.
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
            kernel.setGemmTargetGroups(1_000_000); // every weight gradient wants more work-groups than it has tiles
            assertTrue(kernel.tokenSplits(1024, N, K) > 1);
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
            assertEquals("-Dtornadovit.gemm=magma is not a GEMM strategy: use auto, kernel or cublas", e.getMessage());
        } finally {
            if (old == null) System.clearProperty(GemmStrategy.PROPERTY);
            else System.setProperty(GemmStrategy.PROPERTY, old);
        }
    }

    private static Map<String, float[]> products(Backend be) {
        return products(be, M);
    }

    /**
     * The model's matrix products on {@code be}, from the same random inputs on every backend, recorded as one graph
     * and run twice (the second run replays it): the outputs by name.
     */
    private static Map<String, float[]> products(Backend be, int m) {
        SplittableRandom random = new SplittableRandom(7);
        int bh = HEADS, t = TOKENS, hd = HEAD_DIM, th = bh * t * hd, tt = bh * t * t;
        Tensor x = random(be, m * K, random), w = random(be, N * K, random), bias = random(be, N, random);
        Tensor dy = random(be, m * N, random), q = random(be, th, random), k = random(be, th, random);
        Tensor v = random(be, th, random), weights = random(be, tt, random), dS = random(be, tt, random);
        Tensor dO = random(be, th, random);
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
            be.linearBackward(dy, x, w, out.get("dx"), out.get("dW"), out.get("dBias"), m, K, N);
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

    private static Tensor random(Backend be, int n, SplittableRandom random) {
        float[] values = new float[n];
        for (int i = 0; i < n; i++) values[i] = (float) (random.nextDouble() * 2 - 1);
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
