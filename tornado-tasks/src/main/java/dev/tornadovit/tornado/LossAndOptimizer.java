package dev.tornadovit.tornado;

import dev.tornadovit.tensor.AdamWUpdate;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tornado.kernels.ElementwiseKernels;
import dev.tornadovit.tornado.kernels.OptimizerKernels;
import dev.tornadovit.tornado.kernels.ReductionKernels;
import dev.tornadovit.tornado.kernels.RowKernels;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.tornadovit.tornado.Launches.REDUCE_LOCAL;
import static dev.tornadovit.tornado.Launches.chunks;
import static dev.tornadovit.tornado.Launches.distinctOutputs;
import static dev.tornadovit.tornado.Launches.grid1;
import static dev.tornadovit.tornado.Launches.parallelGrid;
import static dev.tornadovit.tornado.Launches.task;

/**
 * {@link TornadoBackend}'s loss and optimiser: cross-entropy, sums of squares (the gradient norm), AdamW, and their
 * multi-tensor forms, which handle up to {@link OptimizerKernels#GROUP} tensors a task.
 */
final class LossAndOptimizer extends DeviceOperations {
    private final HostTransfers transfers;

    LossAndOptimizer(TornadoBackend backend, HostTransfers transfers) {
        super(backend);
        this.transfers = transfers;
    }

    void crossEntropy(Tensor logits, Tensor labels, Tensor loss, Tensor dLogits, int batch, int classes,
                      double labelSmoothing) {
        DeviceTensor z = t(logits), y = t(labels), l = t(loss), gz = t(dLogits);
        distinctOutputs("crossEntropy", l, gz);
        float smoothing = (float) labelSmoothing;
        transfers.useAsLabels(y, batch, classes);
        submit(task("crossEntropy", grid1(REDUCE_LOCAL, REDUCE_LOCAL), (g, id) -> g.task(id, RowKernels::crossEntropy,
               new KernelContext(), z.array, y.array, l.array, gz.array, batch, classes, smoothing),
               z, y, l, gz, batch, classes, smoothing));
    }

    void sumOfSquares(Tensor x, int n, Tensor acc, int index) {
        DeviceTensor in = t(x), a = t(acc);
        int chunks = chunks(n, 512);
        DeviceTensor partial = scratch("squares", chunks, in, n);
        submit(task("squaresPartial", grid1(chunks * REDUCE_LOCAL, REDUCE_LOCAL), (g, id) -> g.task(id,
               ReductionKernels::squaresPartial, new KernelContext(), in.array, partial.array, n, chunks),
               in, partial, n, chunks),
               task("sumInto", grid1(REDUCE_LOCAL, REDUCE_LOCAL), (g, id) -> g.task(id, ReductionKernels::sumInto,
               new KernelContext(), partial.array, a.array, chunks, index), partial, a, chunks, index));
    }

    void adamW(Tensor param, Tensor grad, Tensor m, Tensor v, int n, Tensor hyper, double weightDecay,
               double beta1, double beta2, double eps) {
        DeviceTensor p = t(param), g = t(grad), mm = t(m), vv = t(v), h = t(hyper);
        distinctOutputs("adamW", p, mm, vv);
        float wd = (float) weightDecay, b1 = (float) beta1, b2 = (float) beta2, e = (float) eps;
        submit(task("adamW", null, (tg, id) -> tg.task(id, ElementwiseKernels::adamW, p.array, g.array, mm.array,
               vv.array, h.array, n, wd, b1, b2, e), p, g, mm, vv, h, n, wd, b1, b2, e));
    }

    // ---------------------------------------------------------------- multi-tensor optimiser steps

    /**
     * Size-1 tensors for the empty slots of a group kernel ({@link OptimizerKernels}), each slot its own: TornadoVM's
     * scheduler waits forever on a task that gets one array for two written parameters.
     */
    private final List<DeviceTensor> pads = new ArrayList<>();

    private DeviceTensor pad(int index) {
        while (pads.size() <= index) pads.add((DeviceTensor) backend.allocate(1));
        return pads.get(index);
    }

    /**
     * Consecutive groups of at most {@link OptimizerKernels#GROUP} of {@code sizes}' indices, each with fewer than 2³¹
     * elements in all (the kernels index a group with ints).
     */
    static List<int[]> groups(int[] sizes) {
        List<int[]> out = new ArrayList<>();
        int from = 0;
        while (from < sizes.length) {
            int to = from;
            long total = 0;
            while (to < sizes.length && to - from < OptimizerKernels.GROUP && total + sizes[to] <= Integer.MAX_VALUE) {
                total += sizes[to++];
            }
            out.add(new int[]{from, to});
            from = to;
        }
        return out;
    }

    /** The cumulative ends of a group's tensors, slots past the last one holding the total. */
    private static int[] ends(List<DeviceTensor> group) {
        int[] e = new int[OptimizerKernels.GROUP];
        int total = 0;
        for (int k = 0; k < e.length; k++) e[k] = total += k < group.size() ? group.get(k).size : 0;
        return e;
    }

    /** A group's tensors in their slots, pads in the empty ones. */
    private DeviceTensor[] slots(List<DeviceTensor> group) {
        DeviceTensor[] x = new DeviceTensor[OptimizerKernels.GROUP];
        for (int k = 0; k < x.length; k++) x[k] = k < group.size() ? group.get(k) : pad(k - group.size());
        return x;
    }

    /** The non-empty tensors of {@code tensors}, split into groups. */
    private List<List<DeviceTensor>> grouped(List<DeviceTensor> tensors) {
        List<DeviceTensor> nonEmpty = tensors.stream().filter(x -> x.size > 0).toList();
        List<List<DeviceTensor>> out = new ArrayList<>();
        for (int[] g : groups(nonEmpty.stream().mapToInt(x -> x.size).toArray())) out.add(nonEmpty.subList(g[0], g[1]));
        return out;
    }

    private static Object[] args(DeviceTensor[] tensors, int[] ends, Object... more) {
        List<Object> a = new ArrayList<>(Arrays.asList(tensors));
        for (int e : ends) a.add(e);
        a.addAll(Arrays.asList(more));
        return a.toArray();
    }

    void zero(List<Tensor> tensors) {
        Set<DeviceTensor> seen = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        List<DeviceTensor> onDevice = new ArrayList<>();
        for (Tensor tensor : tensors) {
            DeviceTensor x = t(tensor);
            if (!seen.add(x)) continue; // once is enough, and one array may not be two written parameters
            if (!recording() && !x.resident()) {
                x.array.init(0f); // host-only, as zero(Tensor)
            } else {
                onDevice.add(x);
            }
        }
        List<Task> tasks = new ArrayList<>();
        for (List<DeviceTensor> group : grouped(onDevice)) {
            DeviceTensor[] x = slots(group);
            int[] e = ends(group);
            tasks.add(task("zeroGroup", null, (g, id) -> g.task(id, OptimizerKernels::zeroGroup, x[0].array,
                    x[1].array, x[2].array, x[3].array, x[4].array, x[5].array, x[6].array, x[7].array, e[0], e[1],
                    e[2], e[3], e[4], e[5], e[6], e[7]), args(x, e)));
        }
        if (!tasks.isEmpty()) submit(tasks.toArray(Task[]::new));
    }

    void sumOfSquares(List<Tensor> tensors, Tensor out) {
        DeviceTensor o = t(out);
        if (o.size != 1) throw new IllegalArgumentException("sumOfSquares writes one value, not " + o.size);
        List<DeviceTensor> xs = new ArrayList<>();
        for (Tensor tensor : tensors) xs.add(t(tensor));
        List<List<DeviceTensor>> groups = grouped(xs);
        if (groups.isEmpty()) {
            backend.zero(o);
            return;
        }
        int[] chunks = new int[groups.size()];
        int count = 0;
        for (int i = 0; i < chunks.length; i++) count += chunks[i] = chunks(ends(groups.get(i))[OptimizerKernels.GROUP - 1], 512);
        List<Object> key = new ArrayList<>(xs);
        key.add(o);
        DeviceTensor partial = scratch("squareGroups", count, key.toArray());
        List<Task> tasks = new ArrayList<>();
        int offset = 0;
        for (int i = 0; i < chunks.length; i++) {
            DeviceTensor[] x = slots(groups.get(i));
            int[] e = ends(groups.get(i));
            int off = offset, c = chunks[i];
            tasks.add(task("squaresGroupPartial", grid1(c * REDUCE_LOCAL, REDUCE_LOCAL), (g, id) -> g.task(id,
                    OptimizerKernels::squaresGroupPartial, new KernelContext(), x[0].array, x[1].array, x[2].array,
                    x[3].array, x[4].array, x[5].array, x[6].array, x[7].array, e[0], e[1], e[2], e[3], e[4], e[5], e[6],
                    e[7], partial.array, off, c), args(x, e, partial, off, c)));
            offset += c;
        }
        int total = count;
        tasks.add(task("sumTo", grid1(REDUCE_LOCAL, REDUCE_LOCAL), (g, id) -> g.task(id, OptimizerKernels::sumTo,
                new KernelContext(), partial.array, o.array, total), partial, o, total));
        submit(tasks.toArray(Task[]::new));
    }

    void adamW(List<AdamWUpdate> updates, double beta1, double beta2, double eps) {
        // Tensors that share per-step values (one learning-rate scale) are grouped together, in list order.
        Map<DeviceTensor, List<AdamWUpdate>> byHyper = new LinkedHashMap<>();
        Set<DeviceTensor> written = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        for (AdamWUpdate u : updates) {
            for (Tensor w : List.of(u.param(), u.m(), u.v())) {
                if (!written.add(t(w))) throw new IllegalArgumentException("adamW: " + w + " is written by two updates");
            }
            t(u.grad());
            if (u.param().size() > 0) byHyper.computeIfAbsent(t(u.hyper()), h -> new ArrayList<>()).add(u);
        }
        float b1 = (float) beta1, b2 = (float) beta2, e = (float) eps;
        List<Task> tasks = new ArrayList<>();
        byHyper.forEach((h, list) -> {
            for (int[] range : groups(list.stream().mapToInt(u -> u.param().size()).toArray())) {
                List<AdamWUpdate> group = list.subList(range[0], range[1]);
                List<DeviceTensor> params = group.stream().map(u -> t(u.param())).toList();
                int[] ends = ends(params);
                DeviceTensor[] x = new DeviceTensor[4 * OptimizerKernels.GROUP];
                float[] wd = new float[OptimizerKernels.GROUP];
                for (int k = 0; k < OptimizerKernels.GROUP; k++) {
                    AdamWUpdate u = k < group.size() ? group.get(k) : null;
                    for (int j = 0; j < 4; j++) {
                        x[4 * k + j] = u == null ? pad(4 * (k - group.size()) + j)
                                : t(j == 0 ? u.param() : j == 1 ? u.grad() : j == 2 ? u.m() : u.v());
                    }
                    wd[k] = u == null ? 0f : (float) u.weightDecay();
                }
                List<Object> a = new ArrayList<>(Arrays.asList(args(x, ends, h)));
                for (float w : wd) a.add(w);
                a.addAll(List.of(b1, b2, e));
                tasks.add(task("adamWGroup", parallelGrid(ends[OptimizerKernels.GROUP - 1]),
                        (g, id) -> adamWGroupTask(g, id, x, h, ends, wd, b1, b2, e),
                        a.toArray()));
            }
        });
        if (!tasks.isEmpty()) submit(tasks.toArray(Task[]::new));
    }

    /** The {@link OptimizerKernels#adamWGroup} task of one group: its slots' tensors, ends and weight decays. */
    private static void adamWGroupTask(TaskGraph graph, String id, DeviceTensor[] x, DeviceTensor hyper, int[] e,
                                       float[] wd, float beta1, float beta2, float eps) {
        FloatArray[] a = Arrays.stream(x).map(d -> d.array).toArray(FloatArray[]::new);
        graph.task(id, OptimizerKernels.adamWGroup(new KernelContext(), a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
                a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22],
                a[23], a[24], a[25], a[26], a[27], a[28], a[29], a[30], a[31], hyper.array, e[0], e[1], e[2], e[3],
                e[4], e[5], e[6], e[7], wd[0], wd[1], wd[2], wd[3], wd[4], wd[5], wd[6], wd[7], beta1, beta2, eps));
    }
}
