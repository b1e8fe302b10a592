package dev.tornadovit.backend.cpu;

import dev.tornadovit.tensor.Precision;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The emulated tf32 and bf16 products in every layout the GEMM runs (A read in place or transposed and packed per
 * task or whole, B plain or transposed, the swapped weight gradient, several B slabs, batched and strided heads), on
 * one and on four threads. Three checks each:
 * <ol>
 *   <li>bit for bit, the product of the operands as given in precision P equals the fp32 product of the operands
 *       rounded to P beforehand: every operand element is rounded exactly once, and nothing else changes (same
 *       kernels, same fp32 accumulation order); the bias gradient's sums are of dy as given;</li>
 *   <li>against the simple reference — operands rounded, products summed in double — within fp32 accumulation's
 *       error, the same bound the fp32 kernels meet;</li>
 *   <li>it differs from the plain fp32 product: the rounding did happen.</li>
 * </ol>
 */
class MatmulPrecisionTest {

    private static int originalThreads;

    @BeforeAll
    static void saveThreads() {
        originalThreads = CpuParallel.threads();
    }

    @AfterAll
    static void restoreThreads() {
        CpuParallel.setThreads(originalThreads);
    }

    static Stream<Arguments> linearCases() {
        List<int[]> shapes = new ArrayList<>(List.of(
                new int[]{1, 1, 1}, new int[]{5, 7, 3}, new int[]{9, 33, 25}, new int[]{65, 64, 65},
                new int[]{61, 600, 45},      // K over two cache blocks
                new int[]{260, 192, 576},    // the small ViT's qkv projection, rows shared between tasks
                new int[]{130, 193, 97},
                new int[]{1100, 97, 45},     // weight gradient with K >= SWAP_MIN_K: computed transposed
                new int[]{7, 3001, Gemm.B_PACK_LIMIT / 3001 + 2 * Gemm.NR + 3})); // B in several column slabs
        List<Arguments> cases = new ArrayList<>();
        for (Precision p : List.of(Precision.TF32, Precision.BF16)) {
            for (int threads : new int[]{1, 4}) {
                for (int[] s : shapes) cases.add(Arguments.of(p, threads, s[0], s[1], s[2]));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} threads={1} M={2} K={3} N={4}")
    @MethodSource("linearCases")
    void linearLayersRoundEveryOperandOnceAndAccumulateInFp32(Precision p, int threads, int m, int k, int n) {
        CpuParallel.setThreads(threads);
        float[] x = random(2 + m * k, 1), w = random(1 + n * k, 2), bias = random(3 + n, 3);
        float[] xr = rounded(x, p), wr = rounded(w, p);

        float[] y = new float[m * n], yRounded = new float[m * n], yRef = new float[m * n], yFp32 = new float[m * n];
        Matmul.linearForward(p, x, 2, w, 1, bias, 3, y, 0, m, k, n);
        Matmul.linearForward(Precision.FP32, xr, 2, wr, 1, bias, 3, yRounded, 0, m, k, n);
        MatmulReference.linearForward(xr, 2, wr, 1, bias, 3, yRef, 0, m, k, n);
        Matmul.linearForward(x, 2, w, 1, bias, 3, yFp32, 0, m, k, n);
        check(p, "forward", y, yRounded, yRef, yFp32, k);

        float[] dy = random(m * n, 4), dyr = rounded(dy, p);
        float[] dx = random(m * k, 5), dxRounded = dx.clone(), dxRef = dx.clone(), dxFp32 = dx.clone();
        Matmul.linearBackwardInput(p, dy, 0, w, 1, dx, 0, m, k, n, true);
        Matmul.linearBackwardInput(Precision.FP32, dyr, 0, wr, 1, dxRounded, 0, m, k, n, true);
        MatmulReference.linearBackwardInput(dyr, 0, wr, 1, dxRef, 0, m, k, n, true);
        Matmul.linearBackwardInput(dy, 0, w, 1, dxFp32, 0, m, k, n, true);
        check(p, "backward input", dx, dxRounded, dxRef, dxFp32, n);

        float[] dw = random(n * k, 6), dwRounded = dw.clone(), dwRef = dw.clone(), dwFp32 = dw.clone();
        float[] db = random(n, 7), dbFp32 = db.clone(), dbUnused = new float[n];
        Matmul.linearBackwardWeight(p, dy, 0, x, 2, dw, 0, db, 0, m, k, n);
        Matmul.linearBackwardWeight(Precision.FP32, dyr, 0, xr, 2, dwRounded, 0, dbUnused, 0, m, k, n);
        MatmulReference.linearBackwardWeight(dyr, 0, xr, 2, dwRef, 0, null, 0, m, k, n);
        Matmul.linearBackwardWeight(dy, 0, x, 2, dwFp32, 0, dbFp32, 0, m, k, n);
        check(p, "backward weight", dw, dwRounded, dwRef, dwFp32, m);
        // The bias gradient is a sum of dy, not a product: dy as given, bit for bit the fp32 backend's.
        assertBitwise(dbFp32, db, p + " bias gradient");
    }

    enum Form { NT, NN, TN }

    static Stream<Arguments> batchedCases() {
        List<Arguments> cases = new ArrayList<>();
        for (Precision p : List.of(Precision.TF32, Precision.BF16)) {
            for (int threads : new int[]{1, 4}) {
                for (Form form : Form.values()) {
                    cases.add(Arguments.of(p, threads, form, 3, 2, 17, 17, 16));   // attention scores, 17 tokens
                    cases.add(Arguments.of(p, threads, form, 5, 3, 65, 64, 65));   // attention output
                    cases.add(Arguments.of(p, threads, form, 1, 2, 150, 140, 300)); // few large: parallel inside
                }
            }
        }
        return cases.stream();
    }

    /** Strided, interleaved heads as attention reads them from [B,T,H,d]; with alpha and accumulation. */
    @ParameterizedTest(name = "{0} threads={1} {2} batch={3} heads={4} M={5} N={6} K={7}")
    @MethodSource("batchedCases")
    void attentionProductsRoundEveryOperandOnce(Precision p, int threads, Form form, int batch, int heads, int m,
                                                int n, int k) {
        CpuParallel.setThreads(threads);
        int aRows = form == Form.TN ? k : m, aCols = form == Form.TN ? m : k;
        int bRows = form == Form.NT ? n : k, bCols = form == Form.NT ? k : n;
        int lda = heads * aCols + 3, ldb = heads * bCols + 2, ldc = heads * n + 1;
        int aBatch = aRows * lda, bBatch = bRows * ldb, cBatch = m * ldc;
        float[] a = random(4 + batch * aBatch, 8), b = random(1 + batch * bBatch, 9);
        float[] ar = rounded(a, p), br = rounded(b, p);
        float[] c = random(2 + batch * cBatch, 10);
        float[] cRounded = c.clone(), cRef = c.clone(), cFp32 = c.clone();
        // Heads one level below batch, as the attention layouts use them: one single-level call per head.
        for (int h = 0; h < heads; h++) {
            int aOff = 4 + h * aCols, bOff = 1 + h * bCols, cOff = 2 + h * n;
            product(p, form, batch, a, aOff, aBatch, lda, b, bOff, bBatch, ldb, c, cOff, cBatch, ldc, m, n, k);
            product(Precision.FP32, form, batch, ar, aOff, aBatch, lda, br, bOff, bBatch, ldb, cRounded, cOff, cBatch,
                    ldc, m, n, k);
            product(Precision.FP32, form, batch, a, aOff, aBatch, lda, b, bOff, bBatch, ldb, cFp32, cOff, cBatch, ldc,
                    m, n, k);
            switch (form) {
                case NT -> MatmulReference.batchedNT(batch, ar, aOff, aBatch, lda, br, bOff, bBatch, ldb, cRef, cOff,
                        cBatch, ldc, m, n, k, 0.125f, true);
                case NN -> MatmulReference.batchedNN(batch, ar, aOff, aBatch, lda, br, bOff, bBatch, ldb, cRef, cOff,
                        cBatch, ldc, m, n, k, 0.125f, true);
                case TN -> MatmulReference.batchedTN(batch, ar, aOff, aBatch, lda, br, bOff, bBatch, ldb, cRef, cOff,
                        cBatch, ldc, m, n, k, 0.125f, true);
            }
        }
        check(p, form.name(), c, cRounded, cRef, cFp32, k);
    }

    private static void product(Precision p, Form form, int batch, float[] a, int aOff, int aBatch, int lda,
                                float[] b, int bOff, int bBatch, int ldb, float[] c, int cOff, int cBatch, int ldc,
                                int m, int n, int k) {
        switch (form) {
            case NT -> Matmul.batchedNT(p, batch, a, aOff, aBatch, lda, b, bOff, bBatch, ldb, c, cOff, cBatch, ldc,
                    m, n, k, 0.125f, true);
            case NN -> Matmul.batchedNN(p, batch, a, aOff, aBatch, lda, b, bOff, bBatch, ldb, c, cOff, cBatch, ldc,
                    m, n, k, 0.125f, true);
            case TN -> Matmul.batchedTN(p, batch, a, aOff, aBatch, lda, b, bOff, bBatch, ldb, c, cOff, cBatch, ldc,
                    m, n, k, 0.125f, true);
        }
    }

    /**
     * actual (precision p, operands as given) is bit for bit the fp32 product of rounded operands, within fp32
     * accumulation's error of the double reference of rounded operands (1e-5·√K relative to the sum's scale, as
     * MatmulTest), and not the plain fp32 product.
     */
    private static void check(Precision p, String what, float[] actual, float[] ofRounded, float[] reference,
                              float[] fp32, int k) {
        assertBitwise(ofRounded, actual, p + " " + what + " vs fp32 of rounded operands");
        double tolerance = 1e-5 * Math.sqrt(Math.max(1, k));
        int differ = 0;
        for (int i = 0; i < actual.length; i++) {
            double diff = Math.abs((double) reference[i] - actual[i]);
            if (!(diff <= tolerance * Math.max(1, Math.abs(reference[i])))) {
                fail(p + " " + what + ": index " + i + " reference " + reference[i] + " but was " + actual[i]);
            }
            if (actual[i] != fp32[i]) differ++;
        }
        // With k = 1 some products of two random numbers happen to round the same; most differ.
        assertTrue(differ > actual.length / 4, p + " " + what + ": only " + differ + " of " + actual.length
                + " elements differ from the fp32 product");
    }

    /** The packing's vector rounding is the scalar one, lane for lane, NaNs, infinities and subnormals included. */
    @Test
    void vectorRoundingIsTheScalarRoundingOnEveryKindOfValue() {
        SplittableRandom rng = new SplittableRandom(12);
        int[] special = {0x7F800001, 0xFF807FFF, 0x7FC00000, 0x7F800000, 0xFF800000, 0x7F7FFFFF, 0x7F7F8000,
                0x00000001, 0x80018000, 0x007FFFFF, 0x3F808000, 0x3F818000, 0x3F801000, 0x3F803000, 0, 0x80000000};
        float[] x = new float[Gemm.VL * 4096];
        for (int i = 0; i < x.length; i++) {
            x[i] = Float.intBitsToFloat(i < special.length ? special[i] : rng.nextInt());
        }
        for (Precision p : List.of(Precision.TF32, Precision.BF16)) {
            for (int i = 0; i < x.length; i += Gemm.VL) {
                float[] lanes = new float[Gemm.VL];
                GemmPacking.round(FloatVector.fromArray(Gemm.SPECIES, x, i), p).intoArray(lanes, 0);
                for (int l = 0; l < Gemm.VL; l++) {
                    assertEquals(Float.floatToRawIntBits(p.round(x[i + l])), Float.floatToRawIntBits(lanes[l]),
                            p + " of " + Integer.toHexString(Float.floatToRawIntBits(x[i + l])));
                }
            }
        }
    }

    private static void assertBitwise(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                fail(what + ": index " + i + " expected " + expected[i] + " but was " + actual[i]);
            }
        }
    }

    private static float[] rounded(float[] x, Precision p) {
        float[] r = new float[x.length];
        for (int i = 0; i < x.length; i++) r[i] = p.round(x[i]);
        return r;
    }

    private static float[] random(int size, long seed) {
        SplittableRandom rng = new SplittableRandom(seed * 1_000_003L + size);
        float[] a = new float[size];
        for (int i = 0; i < size; i++) a[i] = (float) (rng.nextDouble() * 2 - 1);
        return a;
    }
}
