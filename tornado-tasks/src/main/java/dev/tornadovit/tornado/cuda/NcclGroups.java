package dev.tornadovit.tornado.cuda;

import dev.tornadovit.distributed.Distributed;
import dev.tornadovit.distributed.NcclCommunicator;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The NCCL communicators our library tasks average over, by a number a task descriptor can carry. A communicator is
 * made at its first collective, inside a library task: there the thread has TornadoVM's CUDA context current, which
 * NCCL joins; every rank reaches that task at the same point of its first step.
 */
public final class NcclGroups {
    private NcclGroups() {
    }

    private static final AtomicLong IDS = new AtomicLong();
    private static final Map<Long, Group> GROUPS = new ConcurrentHashMap<>();

    private static final class Group {
        final Distributed distributed;
        NcclCommunicator communicator;

        Group(Distributed distributed) {
            this.distributed = distributed;
        }
    }

    /** A number for the ranks of {@code distributed}, to pass to {@link CudaLibraryProvider#allReduceMean}. */
    public static long register(Distributed distributed) {
        long id = IDS.incrementAndGet();
        GROUPS.put(id, new Group(distributed));
        return id;
    }

    /** The communicator of {@code id}, joined now if it is the first call. */
    static NcclCommunicator communicator(long id) {
        Group group = GROUPS.get(id);
        if (group == null) throw new IllegalStateException("no NCCL group " + id + " (closed?)");
        if (group.communicator == null) {
            // NCCL's set-up selects the device through the CUDA runtime, which makes the device's primary context
            // current; TornadoVM's kernels and events live in the context that was current here: restore it
            CublasLtLibrary driver = CublasLtLibrary.get();
            long context = driver.currentContext();
            try {
                group.communicator = NcclCommunicator.create(group.distributed);
            } finally {
                if (context != 0) driver.makeCurrent(context);
            }
        }
        return group.communicator;
    }

    /** Destroys the communicator of {@code id}, if one was made. */
    public static void close(long id) {
        Group group = GROUPS.remove(id);
        if (group != null && group.communicator != null) group.communicator.close();
    }
}
