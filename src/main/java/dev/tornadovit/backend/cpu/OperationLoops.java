package dev.tornadovit.backend.cpu;

import java.util.Arrays;

/**
 * Each thread's loop and scratch space for {@link CpuBackend}'s operation families ({@link Elementwise},
 * {@link TokensAndHeads}, {@link Norms}, {@link AttentionMaps}, {@link LossAndOptimizer}), shared by every CpuBackend
 * on that thread: reused, so that an operation allocates nothing, and per thread, so that threads calling one backend
 * at once do not share them. An operation runs its loops one after another, so one {@link ReusableLoops.Loop} serves
 * them all. See {@link ReusableLoops}.
 */
final class OperationLoops extends ReusableLoops {

    /**
     * Reductions over rows are split into this many fixed chunks, whatever the thread count, and summed in chunk
     * order: so results depend on nothing but the inputs, and a resumed run repeats an uninterrupted one bit for bit.
     */
    static final int REDUCTION_CHUNKS = 16;

    private static final ThreadLocal<OperationLoops> OF_EACH_THREAD = ThreadLocal.withInitial(OperationLoops::new);

    final Loop loop = own(new Loop());
    /** Per-chunk partial sums of reductions. */
    private double[] scratch = new double[0];
    /** Float per-chunk partial sums; separate from {@link #scratch}. */
    private float[] floatScratch = new float[0];

    /** The calling thread's set; see {@link ReusableLoops#ofThisThread}. */
    static OperationLoops get() {
        return ReusableLoops.ofThisThread(OF_EACH_THREAD, OperationLoops::new);
    }

    /** The calling thread's loop, for an operation that needs no scratch. */
    static Loop loop() {
        return get().loop;
    }

    /** Zero-filled scratch for per-chunk partial sums. */
    double[] scratch(int n) {
        if (scratch.length < n) scratch = new double[n];
        Arrays.fill(scratch, 0, n, 0);
        return scratch;
    }

    /** Zero-filled float scratch for per-chunk partial sums. */
    float[] floatScratch(int n) {
        if (floatScratch.length < n) floatScratch = new float[n];
        Arrays.fill(floatScratch, 0, n, 0f);
        return floatScratch;
    }
}
