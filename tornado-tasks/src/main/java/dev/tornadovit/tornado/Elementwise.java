package dev.tornadovit.tornado;

import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tensor.Write;
import dev.tornadovit.tornado.kernels.ElementwiseKernels;

import uk.ac.manchester.tornado.api.KernelContext;

import static dev.tornadovit.tornado.Launches.distinctOutputs;
import static dev.tornadovit.tornado.Launches.parallelGrid;
import static dev.tornadovit.tornado.Launches.task;
import static dev.tornadovit.tornado.kernels.ElementwiseKernels.wideThreads;

/** {@link TornadoBackend}'s elementwise operations: zero, copy, add, GELU and the sigmoid gate, with their gradients. */
final class Elementwise extends DeviceOperations {
    /**
     * Copy, GELU and GELU's backward through their wide kernels ({@link ElementwiseKernels#WIDE} elements a thread):
     * on the H100 the one-element loops reach 56–62 % of PyTorch's memory bandwidth (docs/gpu.md), the likely cause
     * being one load in flight a thread; off until the wide form is measured faster.
     */
    static final String WIDE_PROPERTY = "tornadovit.wideElementwise";

    private final boolean wide = Boolean.getBoolean(WIDE_PROPERTY);

    Elementwise(TornadoBackend backend) {
        super(backend);
    }

    boolean wide() {
        return wide;
    }

    void zero(Tensor tensor) {
        DeviceTensor x = t(tensor);
        if (!recording() && !x.resident()) {
            x.array.init(0f); // host-only: nothing on the device to clear yet
            return;
        }
        if (x.size == 0) return;
        submit(task("zero", null, (g, id) -> g.task(id, ElementwiseKernels::zero, x.array, x.size), x, x.size));
    }

    void copy(Tensor src, Tensor dst, int n) {
        DeviceTensor s = t(src), d = t(dst);
        if (n == 0) return;
        if (wide) {
            int q = wideThreads(n);
            submit(task("copyWide", parallelGrid(q), (g, id) -> g.task(id, ElementwiseKernels::copyWide,
                    new KernelContext(), s.array, d.array, n, q), s, d, n, q));
            return;
        }
        submit(task("copy", null, (g, id) -> g.task(id, ElementwiseKernels::copy, s.array, d.array, n), s, d, n));
    }

    void add(Tensor a, Tensor b, Tensor out, int n) {
        DeviceTensor x = t(a), y = t(b), o = t(out);
        submit(task("add", null, (g, id) -> g.task(id, ElementwiseKernels::add, x.array, y.array, o.array, n), x, y, o, n));
    }

    void accumulate(Tensor dst, Tensor src, int n) {
        DeviceTensor d = t(dst), s = t(src);
        submit(task("accumulate", null, (g, id) -> g.task(id, ElementwiseKernels::accumulate, d.array, s.array, n), d, s, n));
    }

    void gelu(Tensor x, Tensor y, int n) {
        DeviceTensor i = t(x), o = t(y);
        if (wide && n > 0) {
            int q = wideThreads(n);
            submit(task("geluWide", parallelGrid(q), (g, id) -> g.task(id, ElementwiseKernels::geluWide,
                    new KernelContext(), i.array, o.array, n, q), i, o, n, q));
            return;
        }
        submit(task("gelu", null, (g, id) -> g.task(id, ElementwiseKernels::gelu, i.array, o.array, n), i, o, n));
    }

    void geluBackward(Tensor x, Tensor dy, Tensor dx, int n, Write write) {
        geluBackward(x, dy, dx, n, write.accumulates() ? 1 : 0);
    }

    private void geluBackward(Tensor x, Tensor dy, Tensor dx, int n, int accumulate) {
        DeviceTensor i = t(x), gy = t(dy), gx = t(dx);
        if (wide && n > 0) {
            int q = wideThreads(n);
            submit(task("geluBackwardWide", parallelGrid(q), (g, id) -> g.task(id, ElementwiseKernels::geluBackwardWide,
                    new KernelContext(), i.array, gy.array, gx.array, n, q, accumulate), i, gy, gx, n, q, accumulate));
            return;
        }
        submit(task("geluBackward", null, (g, id) -> g.task(id, ElementwiseKernels::geluBackward, i.array, gy.array,
               gx.array, n, accumulate), i, gy, gx, n, accumulate));
    }

    void sigmoidGate(Tensor gatePre, Tensor o, Tensor out, int n) {
        DeviceTensor gp = t(gatePre), x = t(o), y = t(out);
        submit(task("sigmoidGate", null, (g, id) -> g.task(id, ElementwiseKernels::sigmoidGate, gp.array, x.array,
               y.array, n), gp, x, y, n));
    }

    void sigmoidGateBackward(Tensor gatePre, Tensor o, Tensor dOut, Tensor dGatePre, Tensor dO, int n) {
        DeviceTensor gp = t(gatePre), x = t(o), gy = t(dOut), dg = t(dGatePre), dx = t(dO);
        distinctOutputs("sigmoidGateBackward", dg, dx);
        submit(task("sigmoidGateBackward", null, (g, id) -> g.task(id, ElementwiseKernels::sigmoidGateBackward,
               gp.array, x.array, gy.array, dg.array, dx.array, n), gp, x, gy, dg, dx, n));
    }
}
