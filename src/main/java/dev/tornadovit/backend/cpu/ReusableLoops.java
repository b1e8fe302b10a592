package dev.tornadovit.backend.cpu;

import java.util.function.Supplier;

/**
 * One thread's parallel-loop bodies for one class of operations ({@link CpuBackend}'s, {@link Matmul}'s, ...), made
 * once and reused, so that starting a loop allocates nothing: a capturing lambda is a new object per loop, and a
 * training step runs hundreds of loops.
 *
 * <p>An operation's loop body is a {@link Body} whose inputs are fields. The operation sets them and runs the loop
 * with {@link Body#parallelFor}, which clears them afterwards, so that no large array stays reachable from a set
 * that lives as long as its thread. Most operations need no body class of their own: they write their chunk as a
 * {@link Kernel} and run it on the set's generic {@link Loop}, whose slots carry the inputs. The sets are per thread
 * ({@link #ofThisThread}) because one backend may be called from several threads at once: each caller's inputs must
 * stay its own while the pool's workers run its chunks.
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

    /**
     * One chunk of an operation's loop, written as a non-capturing lambda in a static field (one object for the
     * program's lifetime): it reads the loop's inputs from the {@link Loop} that runs it.
     */
    @FunctionalInterface
    interface Kernel {
        void run(Loop in, int start, int end);
    }

    /**
     * The one body that runs any {@link Kernel}, so that an operation needs no body class of its own: the operation
     * fills the slots its kernel reads, positionally ({@code arrays(x, y, out)} sets {@link #f0}, {@link #f1},
     * {@link #f2}), and calls {@link #run(Kernel, int, int)}; the kernel's first lines name the slots. The setters
     * take fixed arities (no varargs array), so that filling the slots allocates nothing.
     */
    static final class Loop extends Body {
        float[] f0, f1, f2, f3, f4, f5, f6, f7;
        double[] d0;
        byte[] b0;
        int i0, i1, i2, i3;
        float s0, s1, s2, s3, s4, s5, s6;
        double x0;
        boolean flag;
        /** A typed setting such as an activation or a pooling mode; the kernel casts it. */
        Object ref;
        private Kernel kernel;

        Loop arrays(float[] f0) {
            this.f0 = f0;
            return this;
        }

        Loop arrays(float[] f0, float[] f1) {
            this.f1 = f1;
            return arrays(f0);
        }

        Loop arrays(float[] f0, float[] f1, float[] f2) {
            this.f2 = f2;
            return arrays(f0, f1);
        }

        Loop arrays(float[] f0, float[] f1, float[] f2, float[] f3) {
            this.f3 = f3;
            return arrays(f0, f1, f2);
        }

        Loop arrays(float[] f0, float[] f1, float[] f2, float[] f3, float[] f4) {
            this.f4 = f4;
            return arrays(f0, f1, f2, f3);
        }

        Loop arrays(float[] f0, float[] f1, float[] f2, float[] f3, float[] f4, float[] f5) {
            this.f5 = f5;
            return arrays(f0, f1, f2, f3, f4);
        }

        Loop arrays(float[] f0, float[] f1, float[] f2, float[] f3, float[] f4, float[] f5, float[] f6) {
            this.f6 = f6;
            return arrays(f0, f1, f2, f3, f4, f5);
        }

        Loop arrays(float[] f0, float[] f1, float[] f2, float[] f3, float[] f4, float[] f5, float[] f6, float[] f7) {
            this.f7 = f7;
            return arrays(f0, f1, f2, f3, f4, f5, f6);
        }

        Loop bytes(byte[] b0) {
            this.b0 = b0;
            return this;
        }

        Loop sums(double[] d0) {
            this.d0 = d0;
            return this;
        }

        Loop ints(int i0) {
            this.i0 = i0;
            return this;
        }

        Loop ints(int i0, int i1) {
            this.i1 = i1;
            return ints(i0);
        }

        Loop ints(int i0, int i1, int i2) {
            this.i2 = i2;
            return ints(i0, i1);
        }

        Loop ints(int i0, int i1, int i2, int i3) {
            this.i3 = i3;
            return ints(i0, i1, i2);
        }

        Loop scalar(float s0) {
            this.s0 = s0;
            return this;
        }

        Loop scalars(float s0, float s1, float s2, float s3, float s4, float s5, float s6) {
            this.s1 = s1;
            this.s2 = s2;
            this.s3 = s3;
            this.s4 = s4;
            this.s5 = s5;
            this.s6 = s6;
            return scalar(s0);
        }

        Loop real(double x0) {
            this.x0 = x0;
            return this;
        }

        Loop flag(boolean flag) {
            this.flag = flag;
            return this;
        }

        Loop ref(Object ref) {
            this.ref = ref;
            return this;
        }

        /** Runs {@code kernel} over {@code [0, n)} on {@link CpuParallel} with that grain, then clears the slots. */
        void run(Kernel kernel, int n, int grain) {
            this.kernel = kernel;
            parallelFor(n, grain);
        }

        @Override
        public void run(int start, int end) {
            kernel.run(this, start, end);
        }

        @Override
        protected void clearInputs() {
            f0 = f1 = f2 = f3 = f4 = f5 = f6 = f7 = null;
            d0 = null;
            b0 = null;
            ref = null;
            kernel = null;
        }
    }
}
