package dev.tornadovit.backend.cpu;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A persistent pool of daemon worker threads for data-parallel loops.
 *
 * <p>{@link #parallelFor} splits {@code [0, n)} into contiguous chunks that the calling thread and
 * the workers claim dynamically (so a worker descheduled by another process does not stall the
 * loop). No thread is started per call: the workers are created once and wait between loops,
 * spinning briefly (training issues many loops back to back) and then parking.
 *
 * <p>A loop runs inline on the calling thread when it is too small to split, when the pool has a
 * single thread, when it is nested inside another loop, or when another thread is using the pool;
 * the results are the same either way.
 *
 * <p>A loop allocates nothing: the pool keeps its state in fields reused by every loop. So that the caller
 * allocates nothing either, hot code passes a body it reuses ({@link ReusableLoops}), not a capturing lambda.
 */
public final class CpuParallel {

    /**
     * How many chunks each thread gets at most: more chunks balance load, fewer cost less (one atomic add a chunk).
     * Cores shared with other work run at different speeds, and a loop waits for its slowest chunk: with a few
     * chunks a thread, the GEMMs' row-block tasks would be grouped two or three to a chunk and one thread would sit
     * idle at the end of every product.
     */
    private static final int CHUNKS_PER_THREAD = 32;
    /** How long an idle worker spins before parking: long enough to bridge consecutive loops. */
    private static final long WORKER_SPIN_NANOS = 50_000;

    private static volatile Pool pool;

    private CpuParallel() {}

    /** The number of threads that run a loop, the calling thread included. */
    public static int threads() {
        return pool().threads;
    }

    /**
     * Replaces the pool with one of {@code threads} threads (the caller plus {@code threads - 1}
     * workers). Meant for start-up (the CLI's {@code --threads}); do not call it while loops run.
     */
    public static synchronized void setThreads(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1: " + threads);
        }
        Pool old = pool;
        if (old != null && old.threads == threads) {
            return;
        }
        pool = new Pool(threads);
        if (old != null) {
            old.shutdown();
        }
    }

    /** Runs {@code body} over {@code [0, n)}, split across the pool. */
    public static void parallelFor(int n, IntRangeBody body) {
        parallelFor(n, 1, body);
    }

    /**
     * Runs {@code body} over {@code [0, n)}, split into chunks of at least {@code grain} indices; a
     * loop with {@code n <= grain} runs inline. Choose {@code grain} so that a chunk is worth a few
     * microseconds of work.
     */
    public static void parallelFor(int n, int grain, IntRangeBody body) {
        if (n <= 0) {
            return;
        }
        if (grain < 1) {
            grain = 1;
        }
        pool().run(n, grain, body);
    }

    /**
     * Whether {@link #parallelFor(int, int, IntRangeBody) parallelFor(n, grain, ...)} would run inline now: one chunk,
     * one thread, or called from inside another parallel loop. Hot callers check it to skip building a lambda.
     */
    public static boolean runsInline(int n, int grain) {
        Pool p = pool();
        return n <= Math.max(1, grain) || p.threads == 1 || p.busy.get();
    }

    /**
     * Whether a parallel loop started now could use more than one thread: the pool has several and this call is not
     * inside another parallel loop. Work split for more threads than that only adds overhead.
     */
    public static boolean canSplit() {
        return !runsInline(2, 1);
    }

    private static Pool pool() {
        Pool p = pool;
        if (p != null) {
            return p;
        }
        synchronized (CpuParallel.class) {
            if (pool == null) {
                pool = new Pool(Math.max(1, Runtime.getRuntime().availableProcessors()));
            }
            return pool;
        }
    }

    private static final class Pool {
        final int threads;
        final Worker[] workers;
        /** Held by the thread whose loop is running; anyone else finding it taken runs inline. */
        final AtomicBoolean busy = new AtomicBoolean();
        /**
         * The claim word of the last loop started: its chunk count (high 32 bits) and next chunk to claim (low 32).
         * One object reused for every loop, so that a loop allocates nothing. A thread claims a chunk by incrementing
         * it (one atomic add, as a per-loop counter needed too); a claim below the count is a chunk of the loop still
         * running, since that loop cannot finish before the chunk is done, so a worker that wakes up late and lands
         * in the next loop runs a chunk of that loop with that loop's body, never one of the old one. Claims past the
         * count only raise the low bits, at most once per {@link #work} call, far from overflowing into the count.
         */
        final AtomicLong claims = new AtomicLong();
        /** Chunks the workers have finished in the running loop; the caller counts its own chunks locally. */
        final AtomicInteger workerChunksDone = new AtomicInteger();
        /** The running loop's body and size: written before its claim word, read only after claiming a chunk. */
        IntRangeBody body;
        int n;
        /** Counts loops started; idle workers watch it, so their spinning does not contend with the claims. */
        volatile int generation;
        volatile Throwable failure;
        volatile boolean stopped;

        Pool(int threads) {
            this.threads = threads;
            this.workers = new Worker[threads - 1];
            for (int i = 0; i < workers.length; i++) {
                workers[i] = new Worker(this, i);
                workers[i].start();
            }
        }

        void run(int n, int grain, IntRangeBody body) {
            int chunks = (int) Math.min((n + (long) grain - 1) / grain, (long) threads * CHUNKS_PER_THREAD);
            if (chunks <= 1 || threads == 1 || !busy.compareAndSet(false, true)) {
                body.run(0, n);
                return;
            }
            Throwable failed;
            try {
                // The previous loop is complete (its caller waited for every chunk), so no thread touches these now.
                this.body = body;
                this.n = n;
                workerChunksDone.setRelease(0);
                claims.setRelease((long) chunks << 32);
                generation++;
                for (Worker w : workers) {
                    if (w.parked) {
                        LockSupport.unpark(w);
                    }
                }
                int own = work();
                awaitWorkers(chunks - own);
                this.body = null;
                failed = failure;
                if (failed != null) {
                    failure = null;
                }
            } finally {
                busy.set(false);
            }
            if (failed instanceof RuntimeException e) {
                throw e;
            } else if (failed instanceof Error e) {
                throw e;
            } else if (failed != null) {
                throw new RuntimeException(failed);
            }
        }

        /**
         * Claims and runs chunks until none is left; returns how many it ran. They all belong to one loop: that loop
         * cannot finish, nor another start, before this thread has reported them.
         */
        int work() {
            int ran = 0;
            while (true) {
                long word = claims.getAndIncrement();
                int chunk = (int) word, chunks = (int) (word >>> 32);
                if (chunk >= chunks) {
                    return ran;
                }
                int start = (int) ((long) chunk * n / chunks);
                int end = (int) ((long) (chunk + 1) * n / chunks);
                try {
                    if (failure == null) {
                        body.run(start, end);
                    }
                } catch (Throwable t) {
                    if (failure == null) {
                        failure = t;
                    }
                }
                ran++;
            }
        }

        /** Waits until the workers have finished {@code chunks} chunks: they are short, so spin, then back off. */
        private void awaitWorkers(int chunks) {
            for (int spins = 0; workerChunksDone.get() < chunks; spins++) {
                if (spins < 2_000) {
                    Thread.onSpinWait();
                } else if (spins < 3_000) {
                    Thread.yield();
                } else {
                    LockSupport.parkNanos(20_000);
                }
            }
        }

        void shutdown() {
            stopped = true;
            for (Worker w : workers) {
                LockSupport.unpark(w);
            }
        }
    }

    private static final class Worker extends Thread {
        final Pool pool;
        volatile boolean parked;

        Worker(Pool pool, int index) {
            super("cpu-parallel-" + index);
            this.pool = pool;
            setDaemon(true);
        }

        @Override
        public void run() {
            int seen = pool.generation;
            while (!pool.stopped) {
                seen = awaitLoop(seen);
                if (!pool.stopped) {
                    int ran = pool.work();
                    if (ran > 0) {
                        pool.workerChunksDone.getAndAdd(ran);
                    }
                }
            }
        }

        /** Waits until a loop after generation {@code seen} has started (or the pool stops); returns its generation. */
        private int awaitLoop(int seen) {
            long spinUntil = System.nanoTime() + WORKER_SPIN_NANOS;
            while (true) {
                int generation = pool.generation;
                if (generation != seen || pool.stopped) {
                    return generation;
                }
                if (System.nanoTime() < spinUntil) {
                    Thread.onSpinWait();
                    continue;
                }
                // Publish "parked" before re-reading the generation, so that a caller starting a loop
                // concurrently either sees the flag and unparks us or is seen by the re-read.
                parked = true;
                if (pool.generation == seen && !pool.stopped) {
                    LockSupport.park(this);
                }
                parked = false;
                spinUntil = System.nanoTime() + WORKER_SPIN_NANOS;
            }
        }
    }
}
