package dev.tornadovit.tornado;

import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.WorkerGrid;

import java.util.List;

/**
 * One recorded kernel launch: its identity (kernel and arguments), its tensors, and for KernelContext its grid.
 */
record Task(String key, List<DeviceTensor> tensors, int scalars, WorkerGrid grid, TaskAdder adder) {
    /** Adds one task to a TaskGraph under a given task id. */
    @FunctionalInterface
    interface TaskAdder {
        void add(TaskGraph graph, String taskId);
    }
}
