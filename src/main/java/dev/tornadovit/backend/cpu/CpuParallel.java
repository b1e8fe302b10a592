package dev.tornadovit.backend.cpu;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
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
 */
public final class CpuParallel {

    /** How many chunks each thread gets at most: more chunks balance load, fewer cost less. */
    private static final int CHUNKS_PER_THREAD = 4;
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

    /** One loop: the chunks still to claim, and how many are finished. */
    private static final class Job {
        final IntRangeBody body;
        final int n;
        final int chunks;
        final AtomicInteger nextChunk = new AtomicInteger();
        final AtomicInteger doneChunks = new AtomicInteger();
        volatile Throwable failure;

        Job(IntRangeBody body, int n, int chunks) {
            this.body = body;
            this.n = n;
            this.chunks = chunks;
        }

        /** Claims and runs chunks until none is left. */
        void work() {
            int c;
            while ((c = nextChunk.getAndIncrement()) < chunks) {
                int start = (int) ((long) c * n / chunks);
                int end = (int) ((long) (c + 1) * n / chunks);
                try {
                    if (failure == null) {
                        body.run(start, end);
                    }
                } catch (Throwable t) {
                    if (failure == null) {
                        failure = t;
                    }
                } finally {
                    doneChunks.incrementAndGet();
                }
            }
        }

        boolean finished() {
            return doneChunks.get() >= chunks;
        }
    }

    private static final class Pool {
        final int threads;
        final Worker[] workers;
        /** Held by the thread whose loop is running; anyone else finding it taken runs inline. */
        final AtomicBoolean busy = new AtomicBoolean();
        volatile Job current;
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
            Job job = new Job(body, n, chunks);
            try {
                current = job;
                for (Worker w : workers) {
                    if (w.parked) {
                        LockSupport.unpark(w);
                    }
                }
                job.work();
                awaitOthers(job);
            } finally {
                current = null;
                busy.set(false);
            }
            Throwable failure = job.failure;
            if (failure instanceof RuntimeException e) {
                throw e;
            } else if (failure instanceof Error e) {
                throw e;
            } else if (failure != null) {
                throw new RuntimeException(failure);
            }
        }

        /** Waits for chunks the workers still run: they are short, so spin, then back off. */
        private static void awaitOthers(Job job) {
            for (int spins = 0; !job.finished(); spins++) {
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
            Job last = null;
            while (!pool.stopped) {
                Job job = awaitJob(last);
                if (job != null) {
                    last = job;
                    job.work();
                }
            }
        }

        /** Returns a job other than {@code last}, or null when the pool stops. */
        private Job awaitJob(Job last) {
            long spinUntil = System.nanoTime() + WORKER_SPIN_NANOS;
            while (true) {
                Job job = pool.current;
                if (job != null && job != last) {
                    return job;
                }
                if (pool.stopped) {
                    return null;
                }
                if (System.nanoTime() < spinUntil) {
                    Thread.onSpinWait();
                    continue;
                }
                // Publish "parked" before re-reading the job, so that a caller publishing a job
                // concurrently either sees the flag and unparks us or is seen by the re-read.
                parked = true;
                job = pool.current;
                if ((job == null || job == last) && !pool.stopped) {
                    LockSupport.park(this);
                }
                parked = false;
                spinUntil = System.nanoTime() + WORKER_SPIN_NANOS;
            }
        }
    }
}
