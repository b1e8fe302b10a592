package dev.tornadovit.distributed;

import dev.tornadovit.distributed.NcclLibrary.DataType;
import dev.tornadovit.distributed.NcclLibrary.ReduceOp;

import java.lang.foreign.MemorySegment;

/**
 * One NCCL communicator over the ranks of a data-parallel run, for collectives on GPU memory: rank 0 makes the
 * communicator's unique id, MPI hands it to every rank (Horovod's pattern: MPI starts the job and rendezvous, NCCL
 * moves the gradients GPU to GPU), and every rank joins with its MPI rank.
 *
 * <p>Buffers are device pointers and the stream a CUDA stream ({@code cudaStream_t}), both as raw addresses: the
 * device backend passes its buffers' pointers and the stream its kernels run on, so the collective is ordered after
 * the kernels that wrote the gradients. The calls only enqueue work on that stream; the result is there once the
 * stream has run it. Every rank makes the same calls in the same order, with the same counts.
 *
 * <p>Not thread-safe: one thread calls it (as one thread runs a rank's training step).
 */
public final class NcclCommunicator implements AutoCloseable {
    private final NcclLibrary nccl;
    private final int rank, size;
    private MemorySegment comm;

    private NcclCommunicator(NcclLibrary nccl, MemorySegment comm, int rank, int size) {
        this.nccl = nccl;
        this.comm = comm;
        this.rank = rank;
        this.size = size;
    }

    /**
     * Every rank of {@code distributed} joins one communicator (a collective: all ranks call it). Each rank's CUDA
     * device must be current on the calling thread first. Loads NCCL ({@link NcclLibrary#load()}) at the first call.
     */
    public static NcclCommunicator create(Distributed distributed) {
        return create(distributed, NcclLibrary.load());
    }

    /** {@link #create(Distributed)} with a given NCCL. */
    public static NcclCommunicator create(Distributed distributed, NcclLibrary nccl) {
        byte[] id = distributed.isRoot() ? nccl.uniqueId() : new byte[NcclLibrary.UNIQUE_ID_BYTES];
        distributed.broadcast(id, id.length, 0);
        if (NcclLibrary.isBlank(id)) {
            throw new IllegalStateException("rank 0's NCCL unique id arrived empty; every rank must call "
                    + "NcclCommunicator.create together");
        }
        return new NcclCommunicator(nccl, nccl.commInitRank(distributed.size(), id, distributed.rank()),
                distributed.rank(), distributed.size());
    }

    public int rank() {
        return rank;
    }

    public int size() {
        return size;
    }

    /**
     * {@code recvPtr[0..count)} becomes the element-wise sum over the ranks of their {@code sendPtr[0..count)},
     * float32, enqueued on {@code stream}; {@code sendPtr == recvPtr} sums in place.
     */
    public void allReduceSum(long sendPtr, long recvPtr, long count, long stream) {
        allReduce(sendPtr, recvPtr, count, DataType.FLOAT32, ReduceOp.SUM, stream);
    }

    /** {@code ncclAllReduce}: {@code recvPtr} becomes {@code op} over the ranks' {@code sendPtr}, on {@code stream}. */
    public void allReduce(long sendPtr, long recvPtr, long count, DataType type, ReduceOp op, long stream) {
        requireOpen();
        requireBuffers(sendPtr, recvPtr, count);
        nccl.allReduce(sendPtr, recvPtr, count, type, op, comm, stream);
    }

    /** Every rank's {@code recvPtr[0..count)} (float32) becomes rank {@code root}'s {@code sendPtr[0..count)}. */
    public void broadcast(long sendPtr, long recvPtr, long count, int root, long stream) {
        broadcast(sendPtr, recvPtr, count, DataType.FLOAT32, root, stream);
    }

    /** {@code ncclBroadcast}; {@code sendPtr} is read on {@code root} only. */
    public void broadcast(long sendPtr, long recvPtr, long count, DataType type, int root, long stream) {
        requireOpen();
        requireBuffers(root == rank ? sendPtr : recvPtr, recvPtr, count);
        if (root < 0 || root >= size) throw new IllegalArgumentException("root " + root + " is not a rank of " + size);
        nccl.broadcast(sendPtr, recvPtr, count, type, root, comm, stream);
    }

    /**
     * Runs {@code calls} (several collectives, say one per gradient bucket) between {@code ncclGroupStart} and
     * {@code ncclGroupEnd}, so NCCL launches them as one operation.
     */
    public void group(Runnable calls) {
        requireOpen();
        nccl.groupStart();
        try {
            calls.run();
        } finally {
            nccl.groupEnd();
        }
    }

    /** {@code ncclCommAbort}: ends the communicator without waiting for the other ranks (a rank that failed). */
    public void abort() {
        if (comm == null) return;
        MemorySegment c = comm;
        comm = null;
        nccl.commAbort(c);
    }

    /** {@code ncclCommDestroy}, once the work enqueued has run. */
    @Override
    public void close() {
        if (comm == null) return;
        MemorySegment c = comm;
        comm = null;
        nccl.commDestroy(c);
    }

    private void requireOpen() {
        if (comm == null) throw new IllegalStateException("this NCCL communicator is closed");
    }

    private static void requireBuffers(long sendPtr, long recvPtr, long count) {
        if (count < 0) throw new IllegalArgumentException("count " + count + " is negative");
        if (count > 0 && (sendPtr == 0 || recvPtr == 0)) {
            throw new IllegalArgumentException("a null device pointer for " + count + " elements");
        }
    }
}
