package dev.tornadovit.backend.cpu;

import java.util.function.Supplier;

/**
 * One thread's parallel-loop bodies for one class of operations ({@link CpuBackend}'s, {@link Matmul}'s, ...), made
 * once and reused, so that starting a loop allocates nothing: a capturing lambda is a new object per loop, and a
 * training step runs hundreds of loops.
 *
 * <p>An operation's loop body is a {@link Body} whose inputs are fields. The operation sets them and runs the loop
 * with {@link Body#parallelFor}, which clears them afterwards, so that no large array stays reachable from a set
 * that lives as long as its thread. The sets are per thread ({@link #ofThisThread}) because one backend may be
 * called from several threads at once: each caller's inputs must stay its own while the pool's workers run its
 * chunks.
 */
abstract class ReusableLoops {

    /** How many of this set's loops are running on its thread; while any is, {@link #ofThisThread} makes a new set. */
    private int running;

    /**
     * The calling thread's set, or a new one while one of the set's loops is running on this thread: an operation
     * called from inside a loop body must not overwrite the inputs of the body that is running. (No operation does
     * that today; if one did, only that nested call would allocate.)
     */
    static <S extends ReusableLoops> S ofThisThread(ThreadLocal<S> setOfEachThread, Supplier<S> newSet) {
        S set = setOfEachThread.get();
        return ((ReusableLoops) set).running == 0 ? set : newSet.get();
    }

    /** Makes {@code body} one of this set's bodies; for the set's field initialisers. */
    protected final <B extends Body> B own(B body) {
        ((Body) body).set = this;
        return body;
    }

    /**
     * The body of one operation's loop. A subclass has the loop's inputs as fields and, by convention, a
     * {@code run(inputs..., n)} method that sets them and calls {@link #parallelFor}; {@link IntRangeBody#run} is one
     * chunk of the loop, run by the calling thread or a worker.
     */
    abstract static class Body implements IntRangeBody {

        private ReusableLoops set;

        /** Runs this body over {@code [0, n)} on {@link CpuParallel} with that grain, then clears its inputs. */
        protected final void parallelFor(int n, int grain) {
            set.running++;
            try {
                CpuParallel.parallelFor(n, grain, this);
            } finally {
                set.running--;
                clearInputs();
            }
        }

        /** Drops this body's references to the loop's arrays (and other objects). */
        protected abstract void clearInputs();
    }
}
