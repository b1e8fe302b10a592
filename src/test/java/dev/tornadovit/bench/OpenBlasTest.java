package dev.tornadovit.bench;

import dev.tornadovit.backend.cpu.Matmul;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Optional;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The benchmark's OpenBLAS peer computes the same three products as our linear layer: a peer bound with a wrong
 * transpose or leading dimension would time a different product. Skipped where no OpenBLAS is installed.
 */
class OpenBlasTest {
    private static OpenBlas blas;

    @BeforeAll
    static void load() {
        Optional<OpenBlas> found = OpenBlas.load(null);
        assumeTrue(found.isPresent(), "no OpenBLAS in " + OpenBlas.DEFAULT_PATHS);
        blas = found.get();
        blas.setThreads(2);
    }

    @Test
    void linearProductsMatchOurs() {
        // Odd sizes, and K over several of our cache blocks.
        int[][] shapes = {{37, 53, 29}, {130, 1100, 67}, {8, 8, 8}};
        for (int[] s : shapes) {
            int m = s[0], k = s[1], n = s[2];
            float[] x = random(m * k, 1), w = random(n * k, 2), dy = random(m * n, 3);

            float[] ours = new float[m * n], theirs = new float[m * n];
            Matmul.linearForward(x, 0, w, 0, null, 0, ours, 0, m, k, n);
            blas.linearForward(x, w, theirs, m, k, n);
            assertClose(ours, theirs, k, "forward " + m + "x" + k + "x" + n);

            ours = new float[m * k];
            theirs = new float[m * k];
            Matmul.linearBackwardInput(dy, 0, w, 0, ours, 0, m, k, n, false);
            blas.linearBackwardInput(dy, w, theirs, m, k, n);
            assertClose(ours, theirs, n, "backward-input " + m + "x" + k + "x" + n);

            // Both accumulate into the same starting gradient.
            ours = random(n * k, 4);
            theirs = ours.clone();
            Matmul.linearBackwardWeight(dy, 0, x, 0, ours, 0, null, 0, m, k, n);
            blas.linearBackwardWeight(dy, x, theirs, m, k, n);
            assertClose(ours, theirs, m, "backward-weight " + m + "x" + k + "x" + n);
        }
    }

    @Test
    void describesItself() {
        assertTrue(blas.config().contains("OpenBLAS"), blas.config());
    }

    @Test
    void idleThreadsSpinAboutAsLongAsOurPoolsWorkers() {
        // Set in the C environment before the library loaded, unless the user had set it: OpenBLAS reads it there.
        String expected = System.getenv(OpenBlas.THREAD_TIMEOUT_VARIABLE) != null
                ? System.getenv(OpenBlas.THREAD_TIMEOUT_VARIABLE) : Integer.toString(OpenBlas.THREAD_TIMEOUT_EXPONENT);
        assertEquals(expected, OpenBlas.environment(OpenBlas.THREAD_TIMEOUT_VARIABLE));
        assertEquals(OpenBlas.THREAD_TIMEOUT_VARIABLE + "=" + expected, blas.threadTimeout());
    }

    @Test
    void aMissingLibraryIsNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OpenBlas.load("/nonexistent/libopenblas.so.0"));
        assertTrue(e.getMessage().contains("/nonexistent/libopenblas.so.0"), e.getMessage());
    }

    /** Sums of {@code terms} products of values in [-1, 1): float rounding grows with the number of terms. */
    private static void assertClose(float[] expected, float[] actual, int terms, String what) {
        double tolerance = 1e-5 * Math.sqrt(terms) * 8;
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], tolerance * Math.max(1, Math.abs(expected[i])), what + " at " + i);
        }
    }

    private static float[] random(int size, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] a = new float[size];
        for (int i = 0; i < size; i++) a[i] = (float) (rng.nextDouble() * 2 - 1);
        return a;
    }
}
