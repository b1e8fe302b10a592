package dev.tornadovit.tornado;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.backend.cpu.Matmul;
import org.junit.jupiter.api.AfterAll;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each of our GEMM kernels ({@link dev.tornadovit.tornado.kernels.MatmulKernels}: NN, NT, TN) launched alone through
 * {@link MatrixProducts#gemm} on the test device, against the CPU backend's batched products ({@link Matmul}) on the
 * same random inputs: sizes that divide neither the 64-wide tile nor the 16-deep K slice, K shorter than a slice and K
 * of one, whole tiles, batches at strides with gaps between the matrices, an operand shared by every batch (stride
 * 0), alpha ≠ 1, with and without bias and accumulation. C starts random, so an overwrite that kept old values, an
 * accumulation that lost them or a write into the gaps between batches shows.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GemmLayoutsTest {
    private static final double TOL = 1e-5;

    enum Layout {
        /** A [M,K], B [K,N]. */
        NN(0, 0),
        /** A [M,K], B stored [N,K]. */
        NT(0, 1),
        /** A stored [K,M], B [K,N]. */
        TN(1, 0);

        final int transA, transB;

        Layout(int transA, int transB) {
            this.transA = transA;
            this.transB = transB;
        }
    }

    /** Which operand every batch shares (its stride 0). */
    enum Shared { NONE, A, B }

    /** One product; {@code gap} floats lie between consecutive batches' matrices of A, B and C. */
    record Case(Layout layout, int m, int n, int k, int batches, int gap, Shared shared, float alpha, boolean bias,
                boolean accumulate) {
        @Override
        public String toString() {
            return String.format("%s %d×%d×%d, %d batch(es), gap %d, shared %s, alpha %s%s%s", layout, m, n, k, batches,
                    gap, shared, alpha, bias ? ", bias" : "", accumulate ? ", accumulate" : "");
        }
    }

    static List<Case> cases() {
        return List.of(
                new Case(Layout.NN, 70, 45, 37, 1, 0, Shared.NONE, 1f, false, false),
                new Case(Layout.NN, 64, 128, 32, 1, 0, Shared.NONE, 1f, true, true),
                new Case(Layout.NN, 37, 24, 37, 3, 5, Shared.NONE, 0.5f, false, true),
                new Case(Layout.NN, 65, 33, 15, 4, 0, Shared.B, 1f, true, false),
                new Case(Layout.NT, 133, 45, 67, 1, 0, Shared.NONE, 1f, true, false),
                new Case(Layout.NT, 80, 70, 5, 1, 0, Shared.NONE, 0.125f, false, true),
                new Case(Layout.NT, 50, 66, 20, 3, 0, Shared.B, 1f, true, true),
                new Case(Layout.NT, 37, 37, 24, 2, 7, Shared.NONE, 0.2f, false, false),
                new Case(Layout.TN, 45, 67, 133, 1, 0, Shared.NONE, 1f, false, true),
                new Case(Layout.TN, 45, 67, 33, 4, 3, Shared.NONE, 1f, false, false),
                new Case(Layout.TN, 70, 17, 1, 3, 0, Shared.A, 1f, true, true),
                new Case(Layout.TN, 129, 65, 200, 1, 0, Shared.NONE, 2f, true, false));
    }

    private CpuBackend cpu;
    private TornadoBackend dev;

    @BeforeAll
    void open() {
        cpu = new CpuBackend(1);
        dev = TestDevice.backend(GemmStrategy.KERNEL);
    }

    @AfterAll
    void close() {
        if (dev != null) dev.close();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void eachLayoutsKernelMatchesTheCpu(Case c) {
        SplittableRandom random = new SplittableRandom(11);
        int sizeA = c.m * c.k, sizeB = c.k * c.n, sizeC = c.m * c.n;
        int strideA = c.shared == Shared.A ? 0 : sizeA + c.gap, strideB = c.shared == Shared.B ? 0 : sizeB + c.gap;
        int strideC = sizeC + c.gap;
        Twin a = Twin.random(cpu, dev, extent(sizeA, strideA, c.batches), random, 1.0);
        Twin b = Twin.random(cpu, dev, extent(sizeB, strideB, c.batches), random, 1.0);
        Twin out = Twin.random(cpu, dev, extent(sizeC, strideC, c.batches), random, 1.0);
        Twin bias = c.bias ? Twin.random(cpu, dev, c.n, random, 1.0) : null;

        // the CPU's product, added to C's start: its old values when accumulating, else zeros, plus the bias
        float[] want = CpuBackend.data(out.cpu());
        float[] biasValues = c.bias ? CpuBackend.data(bias.cpu()) : null;
        for (int z = 0; z < c.batches; z++) {
            for (int i = 0; i < c.m; i++) {
                for (int j = 0; j < c.n; j++) {
                    int at = z * strideC + i * c.n + j;
                    want[at] = (c.accumulate ? want[at] : 0f) + (c.bias ? biasValues[j] : 0f);
                }
            }
        }
        float[] av = CpuBackend.data(a.cpu()), bv = CpuBackend.data(b.cpu());
        switch (c.layout) {
            case NN -> Matmul.batchedNN(c.batches, av, 0, strideA, c.k, bv, 0, strideB, c.n, want, 0, strideC, c.n,
                    c.m, c.n, c.k, c.alpha, true);
            case NT -> Matmul.batchedNT(c.batches, av, 0, strideA, c.k, bv, 0, strideB, c.k, want, 0, strideC, c.n,
                    c.m, c.n, c.k, c.alpha, true);
            case TN -> Matmul.batchedTN(c.batches, av, 0, strideA, c.m, bv, 0, strideB, c.n, want, 0, strideC, c.n,
                    c.m, c.n, c.k, c.alpha, true);
        }

        MatrixProducts products = dev.products();
        Task task = products.gemm(products.t(a.device()), products.t(b.device()), products.t(out.device()),
                c.bias ? products.t(bias.device()) : null, c.m, c.n, c.k, c.batches, strideA, strideB, strideC,
                c.layout.transA, c.layout.transB, c.alpha, c.accumulate ? 1 : 0)[0];
        assertTrue(task.key().startsWith("gemm" + c.layout + "("), () -> c.layout + " ran as " + task.key());
        products.submit(task);
        Twin.assertClose(c.toString(), out, TOL);
    }

    @Test
    void bothOperandsTransposedAreRefused() {
        MatrixProducts products = dev.products();
        DeviceTensor x = products.t(dev.allocate(16));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> products.gemm(x, x, x, null, 4, 4, 4, 1, 0, 0, 0, 1, 1, 1f, 0));
        assertEquals("the GEMM kernels take A or B transposed, not both", e.getMessage());
    }

    /** Floats that {@code batches} matrices of {@code size} at {@code stride} span. */
    private static int extent(int size, int stride, int batches) {
        return (batches - 1) * stride + size;
    }
}
