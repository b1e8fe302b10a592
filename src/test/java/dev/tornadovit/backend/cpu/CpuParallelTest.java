package dev.tornadovit.backend.cpu;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

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
}
