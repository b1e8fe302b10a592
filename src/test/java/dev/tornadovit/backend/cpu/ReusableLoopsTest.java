package dev.tornadovit.backend.cpu;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ReusableLoopsTest {

    private static int originalThreads;

    @BeforeAll
    static void useFourThreads() {
        originalThreads = CpuParallel.threads();
        CpuParallel.setThreads(4);
    }

    @AfterAll
    static void restoreThreads() {
        CpuParallel.setThreads(originalThreads);
    }

    /** An operation for the tests: out = in + 1, running {@code insideLoop} (if any) in the chunk that starts at 0. */
    private static final class AddOne extends ReusableLoops.Body {
        float[] in, out;
        Runnable insideLoop;

        void run(float[] in, float[] out, int grain, Runnable insideLoop) {
            this.in = in;
            this.out = out;
            this.insideLoop = insideLoop;
            parallelFor(in.length, grain);
        }

        @Override
        public void run(int start, int end) {
            if (start == 0 && insideLoop != null) insideLoop.run();
            for (int i = start; i < end; i++) out[i] = in[i] + 1;
        }

        @Override
        protected void clearInputs() {
            in = out = null;
            insideLoop = null;
        }
    }

    private static final class Loops extends ReusableLoops {
        final AddOne addOne = own(new AddOne());
        final Loop loop = own(new Loop());
    }

    /** out = in·scale + shift, written as a kernel: the inputs come from the loop's slots. */
    private static final ReusableLoops.Kernel SCALE_AND_SHIFT = (in, start, end) -> {
        float[] x = in.f0, out = in.f1;
        float scale = in.s0;
        double shift = in.x0;
        for (int i = start; i < end; i++) out[i] = (float) (x[i] * scale + shift);
    };

    private static final ReusableLoops.Kernel FAILING = (in, start, end) -> {
        throw new IllegalStateException("boom");
    };

    private static final ThreadLocal<Loops> LOOPS = ThreadLocal.withInitial(Loops::new);

    private static Loops loops() {
        return ReusableLoops.ofThisThread(LOOPS, Loops::new);
    }

    private static float[] ramp(int n, float from) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = from + i;
        return x;
    }

    private static float[] plusOne(float[] x) {
        float[] y = x.clone();
        for (int i = 0; i < y.length; i++) y[i]++;
        return y;
    }

    @Test
    void aThreadReusesItsSetAndTheLoopDropsItsInputs() {
        Loops set = loops();
        assertSame(set, loops());
        float[] in = ramp(1000, 0), out = new float[1000];
        set.addOne.run(in, out, 10, null);
        assertArrayEquals(plusOne(in), out);
        assertNull(set.addOne.in, "a reused body keeps no array reachable");
        assertNull(set.addOne.out);
        assertSame(set, loops());
    }

    @Test
    void inputsAreDroppedWhenTheBodyThrows() {
        AddOne addOne = loops().addOne;
        assertThrows(IllegalStateException.class, () -> addOne.run(ramp(1000, 0), new float[1000], 10, () -> {
            throw new IllegalStateException("boom");
        }));
        assertNull(addOne.in);
        assertNull(addOne.insideLoop);
        assertSame(LOOPS.get(), loops(), "the set is idle again");
    }

    @Test
    void anOperationCalledFromInsideItsOwnLoopGetsAFreshSetAndLeavesTheRunningBodyAlone() {
        float[] outerIn = ramp(500, 0), outerOut = new float[500];
        float[] innerIn = ramp(300, 1000), innerOut = new float[300];
        AtomicReference<Loops> nested = new AtomicReference<>();
        // One chunk (grain = n), so the outer loop runs on this thread and so does the nested call.
        loops().addOne.run(outerIn, outerOut, outerIn.length, () -> {
            nested.set(loops());
            nested.get().addOne.run(innerIn, innerOut, 1, null);
        });
        assertNotSame(LOOPS.get(), nested.get());
        assertArrayEquals(plusOne(outerIn), outerOut, "the nested call overwrote the running body's inputs");
        assertArrayEquals(plusOne(innerIn), innerOut);
    }

    @Test
    void theGenericLoopRunsAKernelOverTheWholeRangeAndDropsItsSlots() {
        Loops set = loops();
        float[] in = ramp(10_000, -5), out = new float[10_000];
        set.loop.arrays(in, out).scalar(2f).real(0.5).ref("a setting").run(SCALE_AND_SHIFT, in.length, 16);
        float[] expected = new float[in.length];
        for (int i = 0; i < in.length; i++) expected[i] = (float) (in[i] * 2f + 0.5);
        assertArrayEquals(expected, out);
        assertNull(set.loop.f0, "a reused loop keeps no array reachable");
        assertNull(set.loop.f1);
        assertNull(set.loop.ref);
        assertSame(set, loops());
    }

    @Test
    void theGenericLoopDropsItsSlotsWhenTheKernelThrows() {
        ReusableLoops.Loop loop = loops().loop;
        float[] x = new float[1000];
        assertThrows(IllegalStateException.class, () -> loop.arrays(x, x, x, x, x, x, x, x).sums(new double[1])
                .run(FAILING, x.length, 10));
        assertNull(loop.f0);
        assertNull(loop.f7);
        assertNull(loop.d0);
        assertSame(LOOPS.get(), loops(), "the set is idle again");
    }

    @Test
    void threadsRunTheSameOperationAtOnceEachWithItsOwnInputs() throws InterruptedException {
        int callers = 4, n = 5_000;
        Thread[] threads = new Thread[callers];
        AtomicReference<Throwable> failure = new AtomicReference<>();
        for (int t = 0; t < callers; t++) {
            float[] in = ramp(n, 10_000 * t);
            threads[t] = new Thread(() -> {
                try {
                    for (int rep = 0; rep < 200; rep++) {
                        float[] out = new float[n];
                        loops().addOne.run(in, out, 64, null);
                        assertArrayEquals(plusOne(in), out);
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            });
            threads[t].start();
        }
        for (Thread t : threads) t.join();
        assertNull(failure.get());
    }
}
