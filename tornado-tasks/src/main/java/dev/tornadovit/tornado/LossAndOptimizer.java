package dev.tornadovit.tornado;

import dev.tornadovit.tensor.AdamWUpdate;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tornado.kernels.ElementwiseKernels;
import dev.tornadovit.tornado.kernels.OptimizerKernels;
import dev.tornadovit.tornado.kernels.ReductionKernels;
import dev.tornadovit.tornado.kernels.RowKernels;
import uk.ac.manchester.tornado.api.KernelContext;
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

    void adamW(AdamWUpdate u, double beta1, double beta2, double eps) {
        DeviceTensor p = t(u.param()), g = t(u.grad()), mm = t(u.m()), vv = t(u.v()), h = t(u.hyper());
        distinctOutputs("adamW", p, mm, vv);
        int offset = u.momentOffset(), n = p.size;
        float wd = (float) u.weightDecay(), b1 = (float) beta1, b2 = (float) beta2, e = (float) eps;
        submit(task("adamW", null, (tg, id) -> tg.task(id, ElementwiseKernels::adamW, p.array, g.array, mm.array,
               vv.array, h.array, offset, n, wd, b1, b2, e), p, g, mm, vv, h, offset, n, wd, b1, b2, e));
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
        // Tensors that share per-step values (one learning-rate scale) and whose moments follow each other in the same
        // moment tensors are grouped together, in list order.
        Map<DeviceTensor, List<AdamWUpdate>> byHyper = new LinkedHashMap<>();
        Set<DeviceTensor> written = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        for (AdamWUpdate u : updates) {
            if (!written.add(t(u.param()))) throw new IllegalArgumentException("adamW: " + u.param() + " is updated twice");
            t(u.grad());
            t(u.m());
            t(u.v());
            if (u.param().size() > 0) byHyper.computeIfAbsent(t(u.hyper()), h -> new ArrayList<>()).add(u);
        }
        for (AdamWUpdate u : updates) {
            // one array passed as two written arguments of a task hangs TornadoVM's scheduler
            if (u.m() == u.v() || written.contains(t(u.m())) || written.contains(t(u.v()))) {
                throw new IllegalArgumentException("adamW: the moments of " + u.param() + " are not apart from each "
                        + "other and from every parameter");
            }
        }
        checkMomentsApart(updates);
        float b1 = (float) beta1, b2 = (float) beta2, e = (float) eps;
        List<Task> tasks = new ArrayList<>();
        byHyper.forEach((h, list) -> {
            for (List<AdamWUpdate> run : contiguousMoments(list)) {
                for (int[] range : groups(run.stream().mapToInt(u -> u.param().size()).toArray())) {
                    List<AdamWUpdate> group = run.subList(range[0], range[1]);
                    tasks.add(adamWGroup(group, h, b1, b2, e));
                }
            }
        });
        if (!tasks.isEmpty()) submit(tasks.toArray(Task[]::new));
    }

    /** The {@link OptimizerKernels#adamWGroup} task of one group: its slots' tensors, ends and weight decays. */
    private Task adamWGroup(List<AdamWUpdate> group, DeviceTensor hyper, float beta1, float beta2, float eps) {
        List<DeviceTensor> params = group.stream().map(u -> t(u.param())).toList();
        int[] ends = ends(params);
        DeviceTensor[] x = new DeviceTensor[2 * OptimizerKernels.GROUP];
        float[] wd = new float[OptimizerKernels.GROUP];
        for (int k = 0; k < OptimizerKernels.GROUP; k++) {
            AdamWUpdate u = k < group.size() ? group.get(k) : null;
            x[2 * k] = u == null ? pad(2 * (k - group.size())) : t(u.param());
            x[2 * k + 1] = u == null ? pad(2 * (k - group.size()) + 1) : t(u.grad());
            wd[k] = u == null ? 0f : (float) u.weightDecay();
        }
        DeviceTensor m = t(group.get(0).m()), v = t(group.get(0).v());
        int base = group.get(0).momentOffset();
        List<Object> a = new ArrayList<>(Arrays.asList(x));
        a.addAll(List.of(m, v, hyper));
        for (int end : ends) a.add(end);
        for (float w : wd) a.add(w);
        a.addAll(List.of(base, beta1, beta2, eps));
        FloatArray[] f = Arrays.stream(x).map(d -> d.array).toArray(FloatArray[]::new);
        return task("adamWGroup", parallelGrid(ends[OptimizerKernels.GROUP - 1]), (g, id) -> g.task(id,
                OptimizerKernels.adamWGroup(new KernelContext(), f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8],
                        f[9], f[10], f[11], f[12], f[13], f[14], f[15], m.array, v.array, hyper.array, ends[0],
                        ends[1], ends[2], ends[3], ends[4], ends[5], ends[6], ends[7], wd[0], wd[1], wd[2], wd[3],
                        wd[4], wd[5], wd[6], wd[7], base, beta1, beta2, eps)), a.toArray());
    }

    /**
     * Consecutive runs of {@code updates} whose moments follow each other (the next one's offset is where the last one's
     * ended, in the same moment tensors): a group kernel finds an element's moments at its group's first offset plus
     * its index in the group.
     */
    static List<List<AdamWUpdate>> contiguousMoments(List<AdamWUpdate> updates) {
        List<List<AdamWUpdate>> runs = new ArrayList<>();
        int from = 0;
        for (int i = 1; i <= updates.size(); i++) {
            if (i == updates.size() || !follows(updates.get(i - 1), updates.get(i))) {
                runs.add(updates.subList(from, i));
                from = i;
            }
        }
        return runs;
    }

    private static boolean follows(AdamWUpdate a, AdamWUpdate b) {
        return a.m() == b.m() && a.v() == b.v() && (long) a.momentOffset() + a.param().size() == b.momentOffset();
    }

    /** Two updates whose moment ranges overlap in the same moment tensor would race on the device. */
    private static void checkMomentsApart(List<AdamWUpdate> updates) {
        Map<Tensor, List<AdamWUpdate>> byMoments = new IdentityHashMap<>();
        for (AdamWUpdate u : updates) {
            if (u.param().size() == 0) continue;
            byMoments.computeIfAbsent(u.m(), k -> new ArrayList<>()).add(u);
            if (u.v() != u.m()) byMoments.computeIfAbsent(u.v(), k -> new ArrayList<>()).add(u);
        }
        for (List<AdamWUpdate> list : byMoments.values()) {
            List<AdamWUpdate> sorted = new ArrayList<>(list);
            sorted.sort(java.util.Comparator.comparingInt(AdamWUpdate::momentOffset));
            for (int i = 1; i < sorted.size(); i++) {
                AdamWUpdate a = sorted.get(i - 1), b = sorted.get(i);
                if ((long) a.momentOffset() + a.param().size() > b.momentOffset()) {
                    throw new IllegalArgumentException("adamW: the moments of " + a.param() + " and " + b.param()
                            + " overlap (offsets " + a.momentOffset() + " and " + b.momentOffset() + ")");
                }
            }
        }
    }
}
