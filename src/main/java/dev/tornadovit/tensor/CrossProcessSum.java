package dev.tornadovit.tensor;

/**
 * Sums partial statistics over the processes of a data-parallel run, in place: after the call every process holds
 * the total of every process's values. An operation whose statistics span the whole batch (BatchNorm) computes its
 * own shard's partial sums, passes them through this, and so sees the statistics of the whole global batch.
 */
@FunctionalInterface
public interface CrossProcessSum {

    /** One process: the partial sums are already the totals. */
    CrossProcessSum LOCAL = (values, n) -> { };

    /** values[0..n) becomes the sum of every process's values[0..n). */
    void sum(double[] values, int n);
}
