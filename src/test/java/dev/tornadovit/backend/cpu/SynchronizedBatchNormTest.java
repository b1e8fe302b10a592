package dev.tornadovit.backend.cpu;

import dev.tornadovit.tensor.CrossProcessSum;
import dev.tornadovit.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Re-attention's BatchNorm split over two "processes" (two threads, each with its half of the batch, their partial
 * sums added through a {@link CrossProcessSum}) computes what one BatchNorm over the whole batch computes: outputs,
 * statistics, running statistics, input gradients, and parameter gradients once the halves' are added.
 */
@Timeout(30)
class SynchronizedBatchNormTest {
    private static final int BATCH = 6, HEADS = 3, MAP = 25, HALF = BATCH / 2 * HEADS * MAP;
    private static final double EPS = 1e-5, MOMENTUM = 0.1;

    /** Two threads' partial sums, added: each thread posts its values, waits for the other's, takes the total. */
    private static final class TwoThreadSum {
        private final double[][] posted = new double[2][];
        private final CyclicBarrier barrier = new CyclicBarrier(2);

        CrossProcessSum of(int rank) {
            return (values, n) -> {
                posted[rank] = Arrays.copyOf(values, n);
                await();
                for (int i = 0; i < n; i++) values[i] = posted[0][i] + posted[1][i];
                await();
            };
        }

        private void await() {
            try {
                barrier.await();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
    }

    /** One process's tensors: its part of x and dy, and every output of forward and backward. */
    private static final class Replica {
        final CpuBackend be = new CpuBackend();
        final Tensor x, y, mean, rstd, rm, rv, gamma, beta, dy, dx, dGamma, dBeta;

        Replica(float[] xs, float[] dys, float[] gammas, float[] betas) {
            x = upload(xs);
            dy = upload(dys);
            y = be.allocate(xs.length);
            dx = be.allocate(xs.length);
            mean = be.allocate(HEADS);
            rstd = be.allocate(HEADS);
            rm = be.allocate(HEADS);
            rv = upload(filled(1f));
            gamma = upload(gammas);
            beta = upload(betas);
            dGamma = be.allocate(HEADS);
            dBeta = be.allocate(HEADS);
        }

        private Tensor upload(float[] values) {
            Tensor t = be.allocate(values.length);
            be.upload(t, values);
            return t;
        }

        void step(int batch, CrossProcessSum across) {
            if (across == null) {
                be.headBatchNorm(x, gamma, beta, y, mean, rstd, rm, rv, batch, HEADS, MAP, EPS, MOMENTUM, true);
                be.headBatchNormBackward(dy, x, gamma, mean, rstd, dx, dGamma, dBeta, batch, HEADS, MAP);
            } else {
                be.headBatchNormAcross(x, gamma, beta, y, mean, rstd, rm, rv, batch, HEADS, MAP, EPS, MOMENTUM, across);
                be.headBatchNormBackwardAcross(dy, x, gamma, mean, rstd, dx, dGamma, dBeta, batch, HEADS, MAP, across);
            }
        }

        float[] get(Tensor t) {
            return be.downloadFloat(t);
        }
    }

    private static float[] filled(float value) {
        float[] a = new float[HEADS];
        Arrays.fill(a, value);
        return a;
    }

    private static float[] random(Random r, int n, double shift) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextGaussian() + shift);
        return a;
    }

    @Test
    void twoHalvesEqualTheWholeBatch() throws Exception {
        Random r = new Random(3);
        // A mean far from zero: the two-pass variance must not lose it to cancellation.
        float[] x = random(r, 2 * HALF, 4), dy = random(r, 2 * HALF, 0), gamma = random(r, HEADS, 1), beta = random(r, HEADS, 0);
        Replica whole = new Replica(x, dy, gamma, beta);
        whole.step(BATCH, null);

        Replica[] halves = new Replica[2];
        for (int k = 0; k < 2; k++) {
            halves[k] = new Replica(Arrays.copyOfRange(x, k * HALF, (k + 1) * HALF),
                    Arrays.copyOfRange(dy, k * HALF, (k + 1) * HALF), gamma, beta);
        }
        TwoThreadSum sum = new TwoThreadSum();
        try (ExecutorService pool = Executors.newFixedThreadPool(2)) {
            Future<?> a = pool.submit(() -> halves[0].step(BATCH / 2, sum.of(0)));
            Future<?> b = pool.submit(() -> halves[1].step(BATCH / 2, sum.of(1)));
            a.get();
            b.get();
        }

        for (int k = 0; k < 2; k++) {
            Replica h = halves[k];
            assertClose(Arrays.copyOfRange(whole.get(whole.y), k * HALF, (k + 1) * HALF), h.get(h.y), 1e-5, "y");
            assertClose(Arrays.copyOfRange(whole.get(whole.dx), k * HALF, (k + 1) * HALF), h.get(h.dx), 1e-5, "dx");
            assertClose(whole.get(whole.mean), h.get(h.mean), 1e-6, "mean");
            assertClose(whole.get(whole.rstd), h.get(h.rstd), 1e-6, "rstd");
            assertClose(whole.get(whole.rm), h.get(h.rm), 1e-6, "running mean");
            assertClose(whole.get(whole.rv), h.get(h.rv), 1e-6, "running variance");
        }
        float[] dGamma = new float[HEADS], dBeta = new float[HEADS];
        for (int i = 0; i < HEADS; i++) {
            dGamma[i] = halves[0].get(halves[0].dGamma)[i] + halves[1].get(halves[1].dGamma)[i];
            dBeta[i] = halves[0].get(halves[0].dBeta)[i] + halves[1].get(halves[1].dBeta)[i];
        }
        assertClose(whole.get(whole.dGamma), dGamma, 1e-5, "dGamma");
        assertClose(whole.get(whole.dBeta), dBeta, 1e-5, "dBeta");
    }

    /** |a − b| ≤ tolerance·(1 + |a|) element-wise. */
    private static void assertClose(float[] expected, float[] actual, double tolerance, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            double bound = tolerance * (1 + Math.abs(expected[i]));
            int at = i;
            if (Math.abs(expected[i] - actual[i]) > bound) {
                throw new AssertionError(what + "[" + at + "]: expected " + expected[i] + ", got " + actual[i]);
            }
        }
    }
}
