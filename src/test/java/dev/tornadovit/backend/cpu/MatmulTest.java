package dev.tornadovit.backend.cpu;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fast kernels against {@link MatmulReference}. Output arrays are compared whole, guards included,
 * so a kernel that writes outside its sub-matrix fails too. Shapes cover sizes below, at and around
 * the vector length and the register tile, K across several cache blocks, and the parallel paths.
 */
class MatmulTest {

    /** Sizes around every boundary the kernels care about (vector length 8 or 16, tile 4 rows × 3 vectors). */
    private static final int[] ODD = {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 33, 47, 49, 63, 65, 130};

    private static int originalThreads;

    @BeforeAll
    static void saveThreads() {
        originalThreads = CpuParallel.threads();
    }

    @AfterAll
    static void restoreThreads() {
        CpuParallel.setThreads(originalThreads);
    }

    /** (M, K, N) triples: small odd ones, one dimension = 1, K over several blocks, and large enough to go parallel. */
    static List<int[]> linearShapes() {
        List<int[]> shapes = new ArrayList<>();
        SplittableRandom rng = new SplittableRandom(7);
        for (int i = 0; i < 24; i++) {
            shapes.add(new int[] {ODD[rng.nextInt(ODD.length)], ODD[rng.nextInt(ODD.length)], ODD[rng.nextInt(ODD.length)]});
        }
        shapes.add(new int[] {1, 1, 1});
        shapes.add(new int[] {1, 300, 257});
        shapes.add(new int[] {257, 1, 300});
        shapes.add(new int[] {300, 257, 1});
        shapes.add(new int[] {65, 64, 65});
        shapes.add(new int[] {130, 193, 97});
        shapes.add(new int[] {61, 600, 45});     // K over three cache blocks
        shapes.add(new int[] {260, 192, 576});   // a slice of the ViT's qkv projection
        shapes.add(new int[] {517, 129, 77});
        // Weight gradients with fewer outputs than inputs and K >= Gemm.SWAP_MIN_K tokens: computed transposed.
        shapes.add(new int[] {1100, 97, 45});
        shapes.add(new int[] {2100, 300, 61});
        return shapes;
    }

    static Stream<Arguments> linearCases() {
        List<Arguments> cases = new ArrayList<>();
        for (int threads : new int[] {1, 4}) {
            for (int[] s : linearShapes()) {
                cases.add(Arguments.of(threads, s[0], s[1], s[2]));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "threads={0} M={1} K={2} N={3}")
    @MethodSource("linearCases")
    void linearForwardMatchesReference(int threads, int m, int k, int n) {
        CpuParallel.setThreads(threads);
        for (boolean withBias : new boolean[] {true, false}) {
            Offsets o = new Offsets(m * 31L + k * 7L + n);
            float[] x = random(o.x + m * k + 3, 1), w = random(o.w + n * k + 3, 2);
            float[] bias = withBias ? random(o.b + n + 3, 3) : null;
            float[] yFast = random(o.y + m * n + 5, 4), yRef = yFast.clone();
            Matmul.linearForward(x, o.x, w, o.w, bias, o.b, yFast, o.y, m, k, n);
            MatmulReference.linearForward(x, o.x, w, o.w, bias, o.b, yRef, o.y, m, k, n);
            assertClose(yRef, yFast, k, "forward bias=" + withBias);
        }
    }

    @ParameterizedTest(name = "threads={0} M={1} K={2} N={3}")
    @MethodSource("linearCases")
    void linearBackwardInputMatchesReference(int threads, int m, int k, int n) {
        CpuParallel.setThreads(threads);
        for (boolean accumulate : new boolean[] {true, false}) {
            Offsets o = new Offsets(m * 13L + k * 5L + n);
            float[] dy = random(o.x + m * n + 3, 5), w = random(o.w + n * k + 3, 6);
            float[] dxFast = random(o.y + m * k + 5, 7), dxRef = dxFast.clone();
            Matmul.linearBackwardInput(dy, o.x, w, o.w, dxFast, o.y, m, k, n, accumulate);
            MatmulReference.linearBackwardInput(dy, o.x, w, o.w, dxRef, o.y, m, k, n, accumulate);
            assertClose(dxRef, dxFast, n, "backward-input accumulate=" + accumulate);
        }
    }

    @ParameterizedTest(name = "threads={0} M={1} K={2} N={3}")
    @MethodSource("linearCases")
    void linearBackwardWeightMatchesReference(int threads, int m, int k, int n) {
        CpuParallel.setThreads(threads);
        for (boolean withBias : new boolean[] {true, false}) {
            Offsets o = new Offsets(m * 17L + k * 3L + n);
            float[] dy = random(o.x + m * n + 3, 8), x = random(o.w + m * k + 3, 9);
            float[] dwFast = random(o.y + n * k + 5, 10), dwRef = dwFast.clone();
            float[] dbFast = withBias ? random(o.b + n + 2, 11) : null;
            float[] dbRef = withBias ? dbFast.clone() : null;
            Matmul.linearBackwardWeight(dy, o.x, x, o.w, dwFast, o.y, dbFast, o.b, m, k, n);
            MatmulReference.linearBackwardWeight(dy, o.x, x, o.w, dwRef, o.y, dbRef, o.b, m, k, n);
            assertClose(dwRef, dwFast, m, "backward-weight dw");
            if (withBias) {
                assertClose(dbRef, dbFast, m, "backward-weight dbias");
            }
        }
    }

    @ParameterizedTest(name = "threads={0}")
    @ValueSource(ints = {1, 4})
    void linearWithBPanelWiderThanThePackLimitMatchesReference(int threads) {
        // K·N above Gemm.B_PACK_LIMIT makes the kernel walk B in several column slabs.
        CpuParallel.setThreads(threads);
        int m = 7, k = 3001, n = Gemm.B_PACK_LIMIT / k + 2 * Gemm.NR + 3;
        float[] x = random(m * k, 12), w = random(n * k, 13), bias = random(n, 14);
        float[] yFast = new float[m * n], yRef = new float[m * n];
        Matmul.linearForward(x, 0, w, 0, bias, 0, yFast, 0, m, k, n);
        MatmulReference.linearForward(x, 0, w, 0, bias, 0, yRef, 0, m, k, n);
        assertClose(yRef, yFast, k, "forward over slabs");
    }

    @ParameterizedTest(name = "threads={0}")
    @ValueSource(ints = {1, 4})
    void zeroInnerDimensionLeavesBiasOrAccumulatedValue(int threads) {
        CpuParallel.setThreads(threads);
        float[] bias = random(5, 15);
        float[] yFast = random(15, 16), yRef = yFast.clone();
        Matmul.linearForward(new float[0], 0, new float[0], 0, bias, 0, yFast, 0, 3, 0, 5);
        MatmulReference.linearForward(new float[0], 0, new float[0], 0, bias, 0, yRef, 0, 3, 0, 5);
        assertClose(yRef, yFast, 1, "K=0 forward");
        float[] dxFast = random(15, 17), dxRef = dxFast.clone();
        Matmul.linearBackwardInput(random(6, 18), 0, new float[0], 0, dxFast, 0, 3, 5, 0, true);
        assertClose(dxRef, dxFast, 1, "N=0 backward-input, accumulate");
        // No input features: no weight gradient, but the bias gradient is still dy's column sums.
        float[] dy = random(4 * 3, 19), dbFast = random(3, 20), dbRef = dbFast.clone();
        Matmul.linearBackwardWeight(dy, 0, new float[0], 0, new float[0], 0, dbFast, 0, 4, 0, 3);
        MatmulReference.linearBackwardWeight(dy, 0, new float[0], 0, new float[0], 0, dbRef, 0, 4, 0, 3);
        assertClose(dbRef, dbFast, 4, "K=0 backward-weight dbias");
    }

    enum Form { NT, NN, TN }

    static Stream<Arguments> batchedCases() {
        List<Arguments> cases = new ArrayList<>();
        SplittableRandom rng = new SplittableRandom(11);
        for (int threads : new int[] {1, 4}) {
            for (Form form : Form.values()) {
                for (int i = 0; i < 10; i++) {
                    int m = ODD[rng.nextInt(ODD.length)], n = ODD[rng.nextInt(ODD.length)], k = ODD[rng.nextInt(ODD.length)];
                    cases.add(Arguments.of(threads, form, 1 + rng.nextInt(4), 1 + rng.nextInt(3), m, n, k));
                }
                cases.add(Arguments.of(threads, form, 5, 3, 65, 65, 64));   // ViT attention scores
                cases.add(Arguments.of(threads, form, 5, 3, 65, 64, 65));   // ViT attention output
                cases.add(Arguments.of(threads, form, 1, 2, 150, 140, 300)); // few large: parallel inside
            }
        }
        return cases.stream();
    }

    /** Each matrix sits in a padded, strided layout: lda, ldb, ldc exceed the row length, heads are interleaved. */
    @ParameterizedTest(name = "threads={0} {1} batch={2} heads={3} M={4} N={5} K={6}")
    @MethodSource("batchedCases")
    void batchedMatchesReference(int threads, Form form, int batch, int heads, int m, int n, int k) {
        CpuParallel.setThreads(threads);
        int aRows = form == Form.TN ? k : m, aCols = form == Form.TN ? m : k;
        int bRows = form == Form.NT ? n : k, bCols = form == Form.NT ? k : n;
        // Interleave the heads inside a row, as [B,T,H,d] does, with 3 spare floats per row.
        int lda = heads * aCols + 3, ldb = heads * bCols + 2, ldc = heads * n + 1;
        int aOff = 4, bOff = 1, cOff = 2;
        int aBatch = aRows * lda, bBatch = bRows * ldb, cBatch = m * ldc;
        float[] a = random(aOff + batch * aBatch + 5, 20), b = random(bOff + batch * bBatch + 5, 21);
        for (boolean accumulate : new boolean[] {false, true}) {
            float alpha = accumulate ? 0.125f : 1f;
            float[] cFast = random(cOff + batch * cBatch + 5, 22), cRef = cFast.clone();
            switch (form) {
                case NT -> {
                    Matmul.batchedNT(batch, heads, a, aOff, aBatch, aCols, lda, b, bOff, bBatch, bCols, ldb,
                            cFast, cOff, cBatch, n, ldc, m, n, k, alpha, accumulate);
                    MatmulReference.batchedNT(batch, heads, a, aOff, aBatch, aCols, lda, b, bOff, bBatch, bCols, ldb,
                            cRef, cOff, cBatch, n, ldc, m, n, k, alpha, accumulate);
                }
                case NN -> {
                    Matmul.batchedNN(batch, heads, a, aOff, aBatch, aCols, lda, b, bOff, bBatch, bCols, ldb,
                            cFast, cOff, cBatch, n, ldc, m, n, k, alpha, accumulate);
                    MatmulReference.batchedNN(batch, heads, a, aOff, aBatch, aCols, lda, b, bOff, bBatch, bCols, ldb,
                            cRef, cOff, cBatch, n, ldc, m, n, k, alpha, accumulate);
                }
                case TN -> {
                    Matmul.batchedTN(batch, heads, a, aOff, aBatch, aCols, lda, b, bOff, bBatch, bCols, ldb,
                            cFast, cOff, cBatch, n, ldc, m, n, k, alpha, accumulate);
                    MatmulReference.batchedTN(batch, heads, a, aOff, aBatch, aCols, lda, b, bOff, bBatch, bCols, ldb,
                            cRef, cOff, cBatch, n, ldc, m, n, k, alpha, accumulate);
                }
            }
            assertClose(cRef, cFast, k, form + " accumulate=" + accumulate);
        }
    }

    @ParameterizedTest(name = "threads={0}")
    @ValueSource(ints = {1, 4})
    void singleLevelBatchedOverloadsMatchReference(int threads) {
        CpuParallel.setThreads(threads);
        int batch = 6, m = 17, n = 33, k = 9;
        int lda = 20, ldb = 40, ldc = 35;
        float[] a = random(1 + batch * 40 * lda, 30), b = random(2 + batch * 40 * ldb, 31);
        for (Form form : Form.values()) {
            float[] cFast = random(batch * m * ldc, 32), cRef = cFast.clone();
            int aStride = 40 * lda, bStride = 40 * ldb, cStride = m * ldc;
            switch (form) {
                case NT -> {
                    Matmul.batchedNT(batch, a, 1, aStride, lda, b, 2, bStride, ldb, cFast, 0, cStride, ldc, m, n, k, 0.5f, true);
                    MatmulReference.batchedNT(batch, a, 1, aStride, lda, b, 2, bStride, ldb, cRef, 0, cStride, ldc, m, n, k, 0.5f, true);
                }
                case NN -> {
                    Matmul.batchedNN(batch, a, 1, aStride, lda, b, 2, bStride, ldb, cFast, 0, cStride, ldc, m, n, k, 0.5f, false);
                    MatmulReference.batchedNN(batch, a, 1, aStride, lda, b, 2, bStride, ldb, cRef, 0, cStride, ldc, m, n, k, 0.5f, false);
                }
                case TN -> {
                    Matmul.batchedTN(batch, a, 1, aStride, lda, b, 2, bStride, ldb, cFast, 0, cStride, ldc, m, n, k, 2f, true);
                    MatmulReference.batchedTN(batch, a, 1, aStride, lda, b, 2, bStride, ldb, cRef, 0, cStride, ldc, m, n, k, 2f, true);
                }
            }
            assertClose(cRef, cFast, k, "single-level " + form);
        }
    }

    /** Small non-zero offsets, different per array, derived from the case so that they vary. */
    private record Offsets(int x, int w, int b, int y) {
        Offsets(long seed) {
            this((int) (seed % 5), (int) (seed % 3) + 1, (int) (seed % 4), (int) (seed % 7) + 2);
        }
    }

    private static float[] random(int size, long seed) {
        SplittableRandom rng = new SplittableRandom(seed * 1_000_003L + size);
        float[] a = new float[size];
        for (int i = 0; i < size; i++) {
            a[i] = (float) (rng.nextDouble() * 2 - 1);
        }
        return a;
    }

    /** |fast − ref| ≤ 1e-5·√K·max(1, |ref|) everywhere: inputs are in [-1, 1], so this is relative to the sum's scale. */
    private static void assertClose(float[] expected, float[] actual, int k, String what) {
        double tolerance = 1e-5 * Math.sqrt(Math.max(1, k));
        for (int i = 0; i < expected.length; i++) {
            double diff = Math.abs((double) expected[i] - actual[i]);
            if (!(diff <= tolerance * Math.max(1, Math.abs(expected[i])))) {
                fail(what + ": index " + i + " expected " + expected[i] + " but was " + actual[i]);
            }
        }
    }
}
