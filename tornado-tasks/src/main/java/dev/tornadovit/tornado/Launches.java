package dev.tornadovit.tornado;

import dev.tornadovit.tornado.kernels.RowKernels;
import uk.ac.manchester.tornado.api.WorkerGrid;
import uk.ac.manchester.tornado.api.WorkerGrid1D;
import uk.ac.manchester.tornado.api.WorkerGrid2D;

import java.util.ArrayList;
import java.util.List;

/**
 * Building blocks of kernel launches: a {@link Task} and its key, work-group grids, reduction sizes, and the check that
 * no tensor is two outputs of one task.
 */
final class Launches {
    static final int REDUCE_LOCAL = 256;

    private Launches() {
    }

    /** A task whose key lists the kernel and its arguments: tensors by id, everything else by value. */
    static Task task(String kernel, WorkerGrid grid, Task.TaskAdder adder, Object... args) {
        StringBuilder key = new StringBuilder(kernel).append('(');
        List<DeviceTensor> tensors = new ArrayList<>();
        for (Object a : args) {
            if (a instanceof DeviceTensor d) {
                tensors.add(d);
                key.append('#').append(d.id);
            } else {
                key.append(a);
            }
            key.append(',');
        }
        int scalars = args.length - tensors.size() + (grid == null ? 0 : 1); // a KernelContext counts as one
        return new Task(key.append(')').toString(), tensors, scalars, grid, adder);
    }

    /** The tasks of {@code parts}, in order. */
    static Task[] concat(Task[]... parts) {
        List<Task> all = new ArrayList<>();
        for (Task[] part : parts) all.addAll(List.of(part));
        return all.toArray(Task[]::new);
    }

    /**
     * Refuses one tensor as two outputs of an operation: meaningless, and TornadoVM's scheduler would wait forever on
     * a task that writes one array through two parameters.
     */
    static void distinctOutputs(String op, DeviceTensor... outputs) {
        for (int i = 0; i < outputs.length; i++) {
            for (int j = i + 1; j < outputs.length; j++) {
                if (outputs[i] == outputs[j]) {
                    throw new IllegalArgumentException(op + ": outputs " + (i + 1) + " and " + (j + 1) + " are the same tensor");
                }
            }
        }
    }

    static WorkerGrid grid1(int global, int local) {
        WorkerGrid1D g = new WorkerGrid1D(global);
        g.setLocalWork(local, 1, 1);
        return g;
    }

    /** One thread per element of {@code n}, in work-groups of 256 (the kernel skips the threads past n). */
    static WorkerGrid parallelGrid(int n) {
        return grid1(ceilDiv(n, REDUCE_LOCAL) * REDUCE_LOCAL, REDUCE_LOCAL);
    }

    static WorkerGrid grid2(int x, int y, int localX, int localY) {
        WorkerGrid2D g = new WorkerGrid2D(x, y);
        g.setLocalWork(localX, localY, 1);
        return g;
    }

    /** {@link RowKernels#ROWS} rows of {@link RowKernels#LANES} threads a work-group, for {@code rows} rows. */
    static WorkerGrid rowsGrid(int rows) {
        int local = RowKernels.LANES * RowKernels.ROWS;
        return grid1(ceilDiv(rows, RowKernels.ROWS) * local, local);
    }

    /** Work-groups per output for a two-stage reduction over {@code count} values. */
    static int chunks(long count, int max) {
        long c = (count + REDUCE_LOCAL * 8L - 1) / (REDUCE_LOCAL * 8L);
        return (int) Math.max(1, Math.min(max, c));
    }

    static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }
}
