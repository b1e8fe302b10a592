package dev.tornadovit.distributed;

import dev.tornadovit.tensor.CrossProcessSum;

import java.lang.foreign.MemorySegment;

/**
 * The processes ("ranks") of one data-parallel training run and their collectives. Every rank holds the whole model,
 * trains on its shard of each global batch, and takes part in the same collective calls in the same order.
 * {@link #single()} is the one-process case, where every collective is a no-op; {@link #fromEnvironment()} joins the
 * Open MPI job this process was started in by {@code mpirun}, or returns {@link #single()} outside one.
 *
 * <p>Collectives block until every rank has called them. A rank that fails calls {@link #abort} (mpirun then ends
 * every rank) rather than returning, so that the others are not left waiting.
 */
public interface Distributed extends AutoCloseable {

    /** This process's index, 0 ≤ rank &lt; size. Rank 0 writes checkpoints, metrics and logs progress. */
    int rank();

    /** The number of processes in the run. */
    int size();

    default boolean isRoot() {
        return rank() == 0;
    }

    /** values[0..n) becomes the element-wise sum over all ranks. */
    void sum(float[] values, int n);

    /** values[0..n) becomes the element-wise sum over all ranks. */
    void sum(double[] values, int n);

    /** values[0..n) becomes the element-wise maximum over all ranks. */
    void max(long[] values, int n);

    /** Every rank's values[0..n) becomes rank {@code root}'s. */
    void broadcast(float[] values, int n, int root);

    /**
     * Starts summing {@code values[0..n)}, float32 in native memory, over all ranks in place, and returns at once:
     * this rank computes on while the values travel. Every rank starts the same sums in the same order, and leaves
     * the values alone until {@link #awaitSums()} has returned; collectives called meanwhile are allowed.
     */
    void startSum(MemorySegment values, int n);

    /**
     * Lets the started sums advance and says whether all are done. Open MPI moves a non-blocking collective on only
     * inside its calls, so a caller that computes between starting sums calls this now and then.
     */
    boolean progressSums();

    /** Waits until every started sum is done: their values then hold the sums over all ranks. */
    void awaitSums();

    /** Every rank's values[0..n) becomes rank {@code root}'s. */
    void broadcast(byte[] values, int n, int root);

    void barrier();

    /** Ends the whole job with {@code code}: every rank stops. Does not return when there are several ranks. */
    void abort(int code);

    /** Seconds spent in collectives so far (the all-reduce time share of a benchmark). */
    double collectiveSeconds();

    /** "rank 1 of 4 on host-b", or "one process". */
    String describe();

    /** The partial-statistics sum of synchronised BatchNorm, over these ranks. */
    default CrossProcessSum statisticsSum() {
        return size() == 1 ? CrossProcessSum.LOCAL : this::sum;
    }

    /** Leaves the job (MPI_Finalize); the last call of a rank that ends normally. */
    @Override
    void close();

    /** One process, no collectives. */
    static Distributed single() {
        return SingleProcess.INSTANCE;
    }

    /**
     * The Open MPI job this process belongs to when mpirun started it ({@code OMPI_COMM_WORLD_SIZE} is set), else
     * {@link #single()}. libmpi is loaded only in the first case, so a single process never needs Open MPI.
     */
    static Distributed fromEnvironment() {
        return Launch.fromEnvironment(System.getenv());
    }
}
