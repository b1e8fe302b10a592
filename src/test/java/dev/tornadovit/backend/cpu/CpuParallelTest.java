package dev.tornadovit.backend.cpu;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CpuParallelTest {

    private static int originalThreads;

    @BeforeAll
    static void useFourThreads() {
        // More threads than this machine's cores, so that chunks really interleave.
        originalThreads = CpuParallel.threads();
        CpuParallel.setThreads(4);
    }

    @AfterAll
    static void restoreThreads() {
        CpuParallel.setThreads(originalThreads);
    }

    @Test
    void everyIndexIsVisitedExactlyOnce() {
        for (int n : new int[] {1, 2, 3, 7, 16, 17, 100, 1000, 12_345}) {
            for (int grain : new int[] {1, 3, 64, 5000}) {
                AtomicIntegerArray visits = new AtomicIntegerArray(n);
                CpuParallel.parallelFor(n, grain, (start, end) -> {
                    for (int i = start; i < end; i++) {
                        visits.incrementAndGet(i);
                    }
                });
                for (int i = 0; i < n; i++) {
                    assertEquals(1, visits.get(i), "n=" + n + " grain=" + grain + " index " + i);
                }
            }
        }
    }

    @Test
    void emptyRangeDoesNothing() {
        CpuParallel.parallelFor(0, (start, end) -> {
            throw new AssertionError("called for an empty range");
        });
    }

    @Test
    void rangeNoLargerThanGrainRunsInlineAsOneChunk() {
        Thread caller = Thread.currentThread();
        AtomicInteger calls = new AtomicInteger();
        CpuParallel.parallelFor(10, 10, (start, end) -> {
            assertSame(caller, Thread.currentThread());
            assertEquals(0, start);
            assertEquals(10, end);
            calls.incrementAndGet();
        });
        assertEquals(1, calls.get());
    }

    @Test
    void workIsSharedWithWorkerThreads() {
        Set<Thread> seen = ConcurrentHashMap.newKeySet();
        // Repeat: a single loop may legitimately finish before a worker wakes up.
        for (int attempt = 0; attempt < 200 && seen.size() < 2; attempt++) {
            CpuParallel.parallelFor(64, (start, end) -> {
                seen.add(Thread.currentThread());
                long until = System.nanoTime() + 200_000;
                while (System.nanoTime() < until) {
                    Thread.onSpinWait();
                }
            });
        }
        assertTrue(seen.size() >= 2, "only one thread ran chunks: " + seen);
        for (Thread t : seen) {
            assertTrue(t == Thread.currentThread() || t.isDaemon(), t + " is not a daemon");
        }
    }

    @Test
    void nestedLoopsRunInlineAndComplete() {
        int outer = 16, inner = 50;
        AtomicIntegerArray visits = new AtomicIntegerArray(outer * inner);
        CpuParallel.parallelFor(outer, (o0, o1) -> {
            for (int o = o0; o < o1; o++) {
                int row = o;
                Thread thread = Thread.currentThread();
                CpuParallel.parallelFor(inner, (i0, i1) -> {
                    assertSame(thread, Thread.currentThread(), "nested loop left its thread");
                    for (int i = i0; i < i1; i++) {
                        visits.incrementAndGet(row * inner + i);
                    }
                });
            }
        });
        for (int i = 0; i < outer * inner; i++) {
            assertEquals(1, visits.get(i));
        }
    }

    @Test
    void exceptionInAChunkReachesTheCallerAndThePoolStaysUsable() {
        IllegalStateException thrown = assertThrows(IllegalStateException.class,
                () -> CpuParallel.parallelFor(100, (start, end) -> {
                    if (start <= 42 && 42 < end) {
                        throw new IllegalStateException("boom");
                    }
                }));
        assertEquals("boom", thrown.getMessage());
        AtomicInteger sum = new AtomicInteger();
        CpuParallel.parallelFor(100, (start, end) -> sum.addAndGet(end - start));
        assertEquals(100, sum.get());
    }

    @Test
    void loopsFromSeveralThreadsAtOnceAllComplete() throws InterruptedException {
        int callers = 4, n = 10_000;
        AtomicIntegerArray totals = new AtomicIntegerArray(callers);
        Thread[] threads = new Thread[callers];
        for (int t = 0; t < callers; t++) {
            int id = t;
            threads[t] = new Thread(() -> {
                for (int rep = 0; rep < 50; rep++) {
                    CpuParallel.parallelFor(n, 100, (start, end) -> totals.addAndGet(id, end - start));
                }
            });
            threads[t].start();
        }
        for (Thread t : threads) {
            t.join();
        }
        for (int t = 0; t < callers; t++) {
            assertEquals(50 * n, totals.get(t));
        }
    }

    @Test
    void setThreadsChangesThePoolSize() {
        CpuParallel.setThreads(1);
        assertEquals(1, CpuParallel.threads());
        AtomicInteger sum = new AtomicInteger();
        CpuParallel.parallelFor(1000, (start, end) -> sum.addAndGet(end - start));
        assertEquals(1000, sum.get());
        CpuParallel.setThreads(3);
        assertEquals(3, CpuParallel.threads());
        assertThrows(IllegalArgumentException.class, () -> CpuParallel.setThreads(0));
        CpuParallel.setThreads(4);
    }

    @Test
    void exceptionThrownByAWorkerReachesTheCaller() {
        Thread caller = Thread.currentThread();
        boolean thrown = false;
        // Repeat: in a given loop the workers may claim no chunk at all.
        for (int attempt = 0; attempt < 200 && !thrown; attempt++) {
            try {
                CpuParallel.parallelFor(64, (start, end) -> {
                    long until = System.nanoTime() + 50_000;
                    while (System.nanoTime() < until) {
                        Thread.onSpinWait();
                    }
                    if (Thread.currentThread() != caller) {
                        throw new IllegalStateException("from a worker");
                    }
                });
            } catch (IllegalStateException e) {
                assertEquals("from a worker", e.getMessage());
                thrown = true;
            }
        }
        assertTrue(thrown, "no worker ran a chunk in 200 loops");
    }

    // Loop bodies that capture nothing, so that the loops themselves are all that could allocate.
    private static final int[] SHORT_COUNTS = new int[37], LONG_COUNTS = new int[64];
    private static final IntRangeBody COUNT_SHORT = (start, end) -> {
        for (int i = start; i < end; i++) SHORT_COUNTS[i]++;
    };
    private static final IntRangeBody COUNT_LONG = (start, end) -> {
        for (int i = start; i < end; i++) LONG_COUNTS[i]++;
    };
    private static volatile Thread measuredCaller;
    private static volatile boolean workerRanAChunk;
    private static final IntRangeBody NOTE_WORKERS = (start, end) -> {
        if (Thread.currentThread() != measuredCaller) workerRanAChunk = true;
    };

    @Test
    void manyShortLoopsBackToBackEachRunEveryIndexOnce() {
        // A worker often still works on a loop when the next one starts. Alternating sizes and bodies: none may run a
        // chunk twice, skip one, or run the new loop's chunk with the old loop's body or size.
        Arrays.fill(SHORT_COUNTS, 0);
        Arrays.fill(LONG_COUNTS, 0);
        int loops = 50_000;
        for (int l = 0; l < loops; l++) {
            CpuParallel.parallelFor(SHORT_COUNTS.length, 1, COUNT_SHORT);
            CpuParallel.parallelFor(LONG_COUNTS.length, 1, COUNT_LONG);
        }
        for (int i = 0; i < SHORT_COUNTS.length; i++) assertEquals(loops, SHORT_COUNTS[i], "short loop, index " + i);
        for (int i = 0; i < LONG_COUNTS.length; i++) assertEquals(loops, LONG_COUNTS[i], "long loop, index " + i);
    }

    @Test
    void aLoopAllocatesNothing() {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        assertTrue(threads.isThreadAllocatedMemorySupported() && threads.isThreadAllocatedMemoryEnabled());
        measuredCaller = Thread.currentThread();
        workerRanAChunk = false;
        for (int l = 0; l < 20_000; l++) CpuParallel.parallelFor(64, 1, NOTE_WORKERS);
        long[] workers = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("cpu-parallel-")).mapToLong(Thread::threadId).toArray();
        long[] before = threads.getThreadAllocatedBytes(workers);
        long callerBefore = threads.getCurrentThreadAllocatedBytes();
        int loops = 100_000;
        for (int l = 0; l < loops; l++) CpuParallel.parallelFor(64, 1, NOTE_WORKERS);
        long caller = threads.getCurrentThreadAllocatedBytes() - callerBefore;
        long[] after = threads.getThreadAllocatedBytes(workers);
        long workerBytes = 0;
        for (int i = 0; i < workers.length; i++) workerBytes += after[i] - before[i];
        assertTrue(workerRanAChunk, "the loops never reached the pool's workers");
        // A per-loop object would be tens of bytes a loop; allow a few KB in all for the JVM's own one-off work.
        assertTrue(caller < 4096, caller + " bytes allocated on the calling thread by " + loops + " loops");
        assertTrue(workerBytes < 4096, workerBytes + " bytes allocated on the workers by " + loops + " loops");
    }
}
