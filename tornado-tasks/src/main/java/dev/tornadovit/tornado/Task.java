package dev.tornadovit.tornado;

import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.WorkerGrid;

import java.util.List;

/**
 * One recorded kernel launch: its identity (kernel and arguments), its tensors, for KernelContext its grid, and
 * for the attention steps that can be fused, what they compute ({@code op}, else null).
 */
record Task(String key, List<DeviceTensor> tensors, int scalars, WorkerGrid grid, TaskAdder adder, Object op) {
    /** Adds one task to a TaskGraph under a given task id. */
    @FunctionalInterface
    interface TaskAdder {
        void add(TaskGraph graph, String taskId);
    }

    Task withOp(Object o) {
        return new Task(key, tensors, scalars, grid, adder, o);
    }
}
