package dev.tornadovit.bench;

import dev.tornadovit.backend.cpu.CpuParallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The machine's float32 multiply-add ceiling as the Vector API reaches it: independent FMA chains on registers, no
 * memory traffic. The yardstick for how close the kernels are to the hardware.
 */
public final class FmaPeak {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int ITERATIONS = 1 << 22;

    private FmaPeak() {
    }

    public record Result(double oneThreadGflops, double allThreadsGflops, int threads, int vectorBits) {
    }

    /** Measures one thread, then every thread of the {@link CpuParallel} pool, for about {@code seconds} each. */
    public static Result measure(double seconds) {
        double one = gflops(1, seconds);
        int threads = CpuParallel.threads();
        double all = threads == 1 ? one : gflops(threads, seconds);
        return new Result(one, all, threads, S.vectorBitSize());
    }

    private static double gflops(int threads, double seconds) {
        double[] sink = new double[threads];
        // Many short calls get the kernel compiled as a whole method: a loop compiled on the fly (OSR) would keep
        // its vectors boxed and run at interpreter speed.
        for (int i = 0; i < 20_000; i++) sink[0] += kernel(256);
        long flopsPerCall = 2L * 12 * S.length() * ITERATIONS;
        long start = System.nanoTime(), calls = 0;
        do {
            // One call per thread: chunks of one index each.
            CpuParallel.parallelFor(threads, 1, (s, e) -> {
                for (int i = s; i < e; i++) sink[i] += kernel(ITERATIONS);
            });
            calls++;
        } while (System.nanoTime() - start < seconds * 1e9);
        double elapsed = (System.nanoTime() - start) / 1e9;
        if (Double.isNaN(sink[0])) throw new AssertionError(); // keeps the work alive
        return calls * threads * flopsPerCall / elapsed / 1e9;
    }

    /**
     * 12 independent accumulators, enough to cover the FMA latency on two pipes, each chained through the addend as in
     * a GEMM kernel (acc = a·b + acc). Chained through a multiplicand instead (acc = acc·a + b) the same loop ran at
     * 82 instead of 100 GFLOP/s on one Zen 3 core: a lower bound that the GEMM micro-kernel itself beat.
     */
    private static float kernel(int iterations) {
        FloatVector a = FloatVector.broadcast(S, 0.999f), b = FloatVector.broadcast(S, 1e-3f);
        FloatVector c0 = FloatVector.zero(S), c1 = FloatVector.zero(S), c2 = FloatVector.zero(S);
        FloatVector c3 = FloatVector.zero(S), c4 = FloatVector.zero(S), c5 = FloatVector.zero(S);
        FloatVector c6 = FloatVector.zero(S), c7 = FloatVector.zero(S), c8 = FloatVector.zero(S);
        FloatVector c9 = FloatVector.zero(S), c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        for (int i = 0; i < iterations; i++) {
            c0 = a.fma(b, c0);
            c1 = a.fma(b, c1);
            c2 = a.fma(b, c2);
            c3 = a.fma(b, c3);
            c4 = a.fma(b, c4);
            c5 = a.fma(b, c5);
            c6 = a.fma(b, c6);
            c7 = a.fma(b, c7);
            c8 = a.fma(b, c8);
            c9 = a.fma(b, c9);
            c10 = a.fma(b, c10);
            c11 = a.fma(b, c11);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11)
                .reduceLanes(VectorOperators.ADD);
    }
}
