package dev.tornadovit.tornado;

import dev.tornadovit.distributed.Distributed;
import dev.tornadovit.distributed.NcclLibrary;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tornado.cuda.CudaLibraryProvider;
import dev.tornadovit.tornado.cuda.NcclGroups;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static dev.tornadovit.tornado.Launches.task;

/** {@link TornadoBackend}'s collectives: gradients averaged across ranks by NCCL library tasks, on the device. */
final class NcclCollectives extends DeviceOperations {
    /** The kernel name of an NCCL all-reduce task, by which graphs that hold one are recognised. */
    static final String ALL_REDUCE_TASK = "ncclAllReduceMean";

    private final TornadoDevices.Found found;

    NcclCollectives(TornadoBackend backend, TornadoDevices.Found found) {
        super(backend);
        this.found = found;
    }

    /** The NCCL group of each run this backend averaged over (one communicator each). */
    private final Map<Distributed, Long> ncclGroups = new HashMap<>();

    /** On TornadoVM's CUDA backend where NCCL loads: gradients averaged by NCCL on the device, in our task graphs. */
    boolean averagesOnDevice(Distributed distributed) {
        if (!found.backend().equals("cuda") || CudaLibraryProvider.unavailableReason() != null) return false;
        try {
            NcclLibrary.load();
            return true;
        } catch (RuntimeException | LinkageError e) {
            return false;
        }
    }

    void averageOnDevice(Distributed distributed, List<Tensor> tensors) {
        long group = ncclGroups.computeIfAbsent(distributed, NcclGroups::register);
        Task[] tasks = new Task[tensors.size()];
        for (int i = 0; i < tasks.length; i++) {
            DeviceTensor d = t(tensors.get(i));
            int n = d.size;
            tasks[i] = task(ALL_REDUCE_TASK, null, (g, id) -> g.libraryTask(id, CudaLibraryProvider::allReduceMean,
                    d.array, n, group), d, n, group);
        }
        submit(tasks);
    }

    /** Closes the NCCL groups. */
    void close() {
        ncclGroups.values().forEach(NcclGroups::close);
        ncclGroups.clear();
    }
}
