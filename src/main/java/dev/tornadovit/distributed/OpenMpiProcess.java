package dev.tornadovit.distributed;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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
        if (n == 0) return;
        MemorySegment buf = staging((long) n * Float.BYTES);
        MemorySegment.copy(values, 0, buf, ValueLayout.JAVA_FLOAT, 0, n);
        long start = System.nanoTime();
        mpi.allreduceInPlace(buf, n, mpi.floatType, mpi.sum);
        collectiveNanos += System.nanoTime() - start;
        MemorySegment.copy(buf, ValueLayout.JAVA_FLOAT, 0, values, 0, n);
    }

    @Override
    public synchronized void sum(double[] values, int n) {
        if (n == 0) return;
        MemorySegment buf = staging((long) n * Double.BYTES);
        MemorySegment.copy(values, 0, buf, ValueLayout.JAVA_DOUBLE, 0, n);
        long start = System.nanoTime();
        mpi.allreduceInPlace(buf, n, mpi.doubleType, mpi.sum);
        collectiveNanos += System.nanoTime() - start;
        MemorySegment.copy(buf, ValueLayout.JAVA_DOUBLE, 0, values, 0, n);
    }

    @Override
    public synchronized void max(long[] values, int n) {
        if (n == 0) return;
        MemorySegment buf = staging((long) n * Long.BYTES);
        MemorySegment.copy(values, 0, buf, ValueLayout.JAVA_LONG, 0, n);
        long start = System.nanoTime();
        mpi.allreduceInPlace(buf, n, mpi.longType, mpi.max);
        collectiveNanos += System.nanoTime() - start;
        MemorySegment.copy(buf, ValueLayout.JAVA_LONG, 0, values, 0, n);
    }

    @Override
    public synchronized void broadcast(float[] values, int n, int root) {
        if (n == 0) return;
        MemorySegment buf = staging((long) n * Float.BYTES);
        if (rank == root) MemorySegment.copy(values, 0, buf, ValueLayout.JAVA_FLOAT, 0, n);
        long start = System.nanoTime();
        mpi.broadcast(buf, n, mpi.floatType, root);
        collectiveNanos += System.nanoTime() - start;
        if (rank != root) MemorySegment.copy(buf, ValueLayout.JAVA_FLOAT, 0, values, 0, n);
    }

    @Override
    public synchronized void broadcast(byte[] values, int n, int root) {
        if (n == 0) return;
        MemorySegment buf = staging(n);
        if (rank == root) MemorySegment.copy(values, 0, buf, ValueLayout.JAVA_BYTE, 0, n);
        long start = System.nanoTime();
        mpi.broadcast(buf, n, mpi.byteType, root);
        collectiveNanos += System.nanoTime() - start;
        if (rank != root) MemorySegment.copy(buf, ValueLayout.JAVA_BYTE, 0, values, 0, n);
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
