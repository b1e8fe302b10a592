package dev.tornadovit.distributed;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.UnknownHostException;

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
    private long collectiveNanos;
    private boolean closed;

    private OpenMpiProcess(OpenMpiLibrary mpi) {
        this.mpi = mpi;
        this.rank = mpi.rank();
        this.size = mpi.size();
        this.host = hostName();
    }

    /** Loads libmpi and joins the job (MPI_Init_thread with MPI_THREAD_SERIALIZED). */
    static OpenMpiProcess start() {
        OpenMpiLibrary mpi = OpenMpiLibrary.load();
        if (!mpi.initialized()) mpi.initThread(OpenMpiLibrary.THREAD_SERIALIZED);
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
