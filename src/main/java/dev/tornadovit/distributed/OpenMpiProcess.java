package dev.tornadovit.distributed;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.UnknownHostException;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * One rank of an Open MPI job: {@code MPI_COMM_WORLD}'s collectives through {@link OpenMpiLibrary}. Java arrays are
 * staged through one native buffer, reused and grown as needed (collectives are called by one thread at a time).
 */
final class OpenMpiProcess implements Distributed {
    private final OpenMpiLibrary mpi;
    private final int rank, size;
    private final String host;
    private final Arena arena = Arena.ofShared();
    private MemorySegment staging = MemorySegment.NULL;
    /** The MPI_Request handles of the sums started and not yet awaited, and a flag for MPI_Testall. */
    private MemorySegment requests = MemorySegment.NULL;
    private final MemorySegment testFlag = arena.allocate(JAVA_INT);
    private int pending;
    private long collectiveNanos;
    private boolean closed;

    private OpenMpiProcess(OpenMpiLibrary mpi) {
        this.mpi = mpi;
        this.rank = mpi.rank();
        this.size = mpi.size();
        this.host = hostName();
    }

    /**
     * Loads libmpi and joins the job. MPI_THREAD_SERIALIZED: MPI is called from more than one thread (the training
     * loop, and BatchNorm's statistics sums from inside the backend), never at once, as every call here holds this
     * object's lock; non-blocking sums are started, advanced and awaited under that lock too.
     */
    static OpenMpiProcess start() {
        OpenMpiLibrary mpi = OpenMpiLibrary.load();
        if (!mpi.initialized()) {
            int provided = mpi.initThread(OpenMpiLibrary.THREAD_SERIALIZED);
            if (provided < OpenMpiLibrary.THREAD_SERIALIZED) {
                throw new IllegalStateException("Open MPI provides thread level " + provided + " where TornadoViT needs "
                        + "MPI_THREAD_SERIALIZED (" + OpenMpiLibrary.THREAD_SERIALIZED + "); use an Open MPI built "
                        + "with thread support (every release since 3.0 is by default)");
            }
        }
        return new OpenMpiProcess(mpi);
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "unknown host";
        }
    }

    private MemorySegment staging(long bytes) {
        if (staging.byteSize() < bytes) staging = arena.allocate(Math.max(bytes, 2 * staging.byteSize()), 64);
        return staging;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public synchronized void sum(float[] values, int n) {
        allreduce(MemorySegment.ofArray(values), n, Float.BYTES, mpi.floatType, mpi.sum);
    }

    @Override
    public synchronized void sum(double[] values, int n) {
        allreduce(MemorySegment.ofArray(values), n, Double.BYTES, mpi.doubleType, mpi.sum);
    }

    @Override
    public synchronized void max(long[] values, int n) {
        allreduce(MemorySegment.ofArray(values), n, Long.BYTES, mpi.longType, mpi.max);
    }

    @Override
    public synchronized void broadcast(float[] values, int n, int root) {
        broadcast(MemorySegment.ofArray(values), n, Float.BYTES, mpi.floatType, root);
    }

    @Override
    public synchronized void broadcast(byte[] values, int n, int root) {
        broadcast(MemorySegment.ofArray(values), n, 1, mpi.byteType, root);
    }

    @Override
    public synchronized void startSum(MemorySegment values, int n) {
        if (n == 0) return;
        // MPI keeps the address until the sum is done: a Java array's could move meanwhile.
        if (!values.isNative()) throw new IllegalArgumentException("startSum needs native memory, not a Java array's");
        if (requests.byteSize() < (pending + 1) * ADDRESS.byteSize()) {
            // Handles are plain values (pointers in Open MPI): a larger array may take them over.
            MemorySegment grown = arena.allocate(ADDRESS, Math.max(8, 2L * (pending + 1)));
            if (pending > 0) MemorySegment.copy(requests, 0, grown, 0, pending * ADDRESS.byteSize());
            requests = grown;
        }
        long start = System.nanoTime();
        mpi.iallreduceInPlace(values, n, mpi.floatType, mpi.sum, requests.asSlice(pending * ADDRESS.byteSize(), ADDRESS));
        pending++;
        collectiveNanos += System.nanoTime() - start;
    }

    @Override
    public synchronized boolean progressSums() {
        if (pending == 0) return true;
        long start = System.nanoTime();
        boolean done = mpi.testAll(pending, requests, testFlag);
        collectiveNanos += System.nanoTime() - start;
        if (done) pending = 0;
        return done;
    }

    @Override
    public synchronized void awaitSums() {
        if (pending == 0) return;
        long start = System.nanoTime();
        mpi.waitAll(pending, requests);
        collectiveNanos += System.nanoTime() - start;
        pending = 0;
    }

    /** All-reduces the first {@code n} elements of a Java array (as a heap segment) in place, through the staging buffer. */
    private void allreduce(MemorySegment values, int n, long width, MemorySegment type, MemorySegment op) {
        if (n == 0) return;
        long bytes = n * width;
        MemorySegment buf = staging(bytes);
        MemorySegment.copy(values, 0, buf, 0, bytes);
        long start = System.nanoTime();
        mpi.allreduceInPlace(buf, n, type, op);
        collectiveNanos += System.nanoTime() - start;
        MemorySegment.copy(buf, 0, values, 0, bytes);
    }

    /** Rank {@code root}'s first {@code n} elements of a Java array (as a heap segment) on every rank. */
    private void broadcast(MemorySegment values, int n, long width, MemorySegment type, int root) {
        if (n == 0) return;
        long bytes = n * width;
        MemorySegment buf = staging(bytes);
        if (rank == root) MemorySegment.copy(values, 0, buf, 0, bytes);
        long start = System.nanoTime();
        mpi.broadcast(buf, n, type, root);
        collectiveNanos += System.nanoTime() - start;
        if (rank != root) MemorySegment.copy(buf, 0, values, 0, bytes);
    }

    @Override
    public synchronized void barrier() {
        long start = System.nanoTime();
        mpi.barrier();
        collectiveNanos += System.nanoTime() - start;
    }

    @Override
    public void abort(int code) {
        System.err.flush();
        System.out.flush();
        mpi.abort(code);
    }

    @Override
    public synchronized double collectiveSeconds() {
        return collectiveNanos / 1e9;
    }

    @Override
    public String describe() {
        return "rank " + rank + " of " + size + " on " + host;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        if (!mpi.finalized()) mpi.finalizeMpi();
    }
}
