package dev.tornadovit.tornado.kernels;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.annotations.Parallel;
import uk.ac.manchester.tornado.api.common.TornadoFunctions;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * Multi-tensor optimiser kernels (as apex's multi_tensor_apply): each launch covers a group of up to {@link #GROUP}
 * tensors, so a model's 152 parameter tensors take 19 launches instead of 152. The group's tensors are laid end to end
 * in one index space: {@code e0..e7} are the cumulative ends (tensor k holds the indices [e(k-1), e(k)), e7 is the
 * group's total), and each element finds its tensor by comparing against them. Slots past the group's last tensor
 * have empty ranges (their ends equal the total) and are never touched.
 */
public final class OptimizerKernels {
    /** Tensors per launch. */
    public static final int GROUP = 8;

    private OptimizerKernels() {
    }

    /** Zeroes every tensor of the group. */
    public static void zeroGroup(FloatArray x0, FloatArray x1, FloatArray x2, FloatArray x3, FloatArray x4,
                                 FloatArray x5, FloatArray x6, FloatArray x7, int e0, int e1, int e2, int e3, int e4,
                                 int e5, int e6, int e7) {
        for (@Parallel int i = 0; i < e7; i++) {
            if (i < e0) {
                x0.set(i, 0f);
            } else if (i < e1) {
                x1.set(i - e0, 0f);
            } else if (i < e2) {
                x2.set(i - e1, 0f);
            } else if (i < e3) {
                x3.set(i - e2, 0f);
            } else if (i < e4) {
                x4.set(i - e3, 0f);
            } else if (i < e5) {
                x5.set(i - e4, 0f);
            } else if (i < e6) {
                x6.set(i - e5, 0f);
            } else {
                x7.set(i - e6, 0f);
            }
        }
    }

    /** Element i of the group's index space. */
    private static float element(FloatArray x0, FloatArray x1, FloatArray x2, FloatArray x3, FloatArray x4,
                                 FloatArray x5, FloatArray x6, FloatArray x7, int e0, int e1, int e2, int e3, int e4,
                                 int e5, int e6, int i) {
        float v;
        if (i < e0) {
            v = x0.get(i);
        } else if (i < e1) {
            v = x1.get(i - e0);
        } else if (i < e2) {
            v = x2.get(i - e1);
        } else if (i < e3) {
            v = x3.get(i - e2);
        } else if (i < e4) {
            v = x4.get(i - e3);
        } else if (i < e5) {
            v = x5.get(i - e4);
        } else if (i < e6) {
            v = x6.get(i - e5);
        } else {
            v = x7.get(i - e6);
        }
        return v;
    }

    /**
     * Σ x² over the group, stage 1 on a grid of chunks·L threads (work-groups of L ≤ 256): work-group c sums the
     * elements c·L + lid, stepping by chunks·L, into partial[offset + c]. Fixed order, so the same data always gives
     * the same partial sums.
     */
    public static void squaresGroupPartial(KernelContext ctx, FloatArray x0, FloatArray x1, FloatArray x2,
                                           FloatArray x3, FloatArray x4, FloatArray x5, FloatArray x6, FloatArray x7,
                                           int e0, int e1, int e2, int e3, int e4, int e5, int e6, int e7,
                                           FloatArray partial, int offset, int chunks) {
        float[] buf = ctx.allocateFloatLocalArray(256);
        int lid = ctx.localIdx, size = ctx.localGroupSizeX, chunk = ctx.groupIdx;
        float s = 0f;
        for (int i = chunk * size + lid; i < e7; i += chunks * size) {
            float v = element(x0, x1, x2, x3, x4, x5, x6, x7, e0, e1, e2, e3, e4, e5, e6, i);
            s += v * v;
        }
        buf[lid] = s;
        for (int stride = size / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lid < stride) buf[lid] += buf[lid + stride];
        }
        if (lid == 0) partial.set(offset + chunk, buf[0]);
    }

    /** out[0] = Σ partial[0..count), overwritten: one work-group, in a fixed order. */
    public static void sumTo(KernelContext ctx, FloatArray partial, FloatArray out, int count) {
        float[] buf = ctx.allocateFloatLocalArray(256);
        int lid = ctx.localIdx, size = ctx.localGroupSizeX;
        float s = 0f;
        for (int c = lid; c < count; c += size) s += partial.get(c);
        buf[lid] = s;
        for (int stride = size / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lid < stride) buf[lid] += buf[lid + stride];
        }
        if (lid == 0) out.set(0, buf[0]);
    }

    /**
     * One AdamW step for every tensor of the group (parameter p and gradient g, weight decay wd each), whose moments lie
     * end to end in m and v from {@code momentBase} (element i of the group's index space has its moments at
     * momentBase + i), reading lr, the bias corrections and the gradient scale from {@code hyper}, with the arithmetic
     * of {@link ElementwiseKernels#adamW}; one thread per element (a grid of at least e7 threads). Returned as a task,
     * a lambda whose captured variables TornadoVM passes as the kernel's parameters: its 40 parameters are more than
     * TornadoVM's typed task methods take (20), and as the lambda's own body the kernel is compiled whole, where a
     * called method would be refused by TornadoVM's inlining limit.
     */
    public static TornadoFunctions.Task adamWGroup(KernelContext ctx, FloatArray p0, FloatArray g0, FloatArray p1,
                                                   FloatArray g1, FloatArray p2, FloatArray g2, FloatArray p3,
                                                   FloatArray g3, FloatArray p4, FloatArray g4, FloatArray p5,
                                                   FloatArray g5, FloatArray p6, FloatArray g6, FloatArray p7,
                                                   FloatArray g7, FloatArray m, FloatArray v, FloatArray hyper, int e0,
                                                   int e1, int e2, int e3, int e4, int e5, int e6, int e7, float wd0,
                                                   float wd1, float wd2, float wd3, float wd4, float wd5, float wd6,
                                                   float wd7, int momentBase, float beta1, float beta2, float eps) {
        return () -> {
            int i = ctx.globalIdx;
            if (i < e7) {
                // what every tensor shares, once; then the element's own tensor
                float lr = hyper.get(0), gradScale = hyper.get(3);
                float step = lr / hyper.get(1), invSqrtBc2 = 1f / TornadoMath.sqrt(hyper.get(2));
                int mi = momentBase + i;
                if (i < e0) {
                    adamWElement(p0, g0, m, v, i, mi, 1f - lr * wd0, step, invSqrtBc2, gradScale, beta1, beta2, eps);
                } else if (i < e1) {
                    adamWElement(p1, g1, m, v, i - e0, mi, 1f - lr * wd1, step, invSqrtBc2, gradScale, beta1, beta2, eps);
                } else if (i < e2) {
                    adamWElement(p2, g2, m, v, i - e1, mi, 1f - lr * wd2, step, invSqrtBc2, gradScale, beta1, beta2, eps);
                } else if (i < e3) {
                    adamWElement(p3, g3, m, v, i - e2, mi, 1f - lr * wd3, step, invSqrtBc2, gradScale, beta1, beta2, eps);
                } else if (i < e4) {
                    adamWElement(p4, g4, m, v, i - e3, mi, 1f - lr * wd4, step, invSqrtBc2, gradScale, beta1, beta2, eps);
                } else if (i < e5) {
                    adamWElement(p5, g5, m, v, i - e4, mi, 1f - lr * wd5, step, invSqrtBc2, gradScale, beta1, beta2, eps);
                } else if (i < e6) {
                    adamWElement(p6, g6, m, v, i - e5, mi, 1f - lr * wd6, step, invSqrtBc2, gradScale, beta1, beta2, eps);
                } else {
                    adamWElement(p7, g7, m, v, i - e6, mi, 1f - lr * wd7, step, invSqrtBc2, gradScale, beta1, beta2, eps);
                }
            }
        };
    }

    /**
     * One element's AdamW update (decoupled weight decay in {@code decay}): parameter and gradient element i, moments
     * element {@code mi}; the single-tensor kernel's too.
     */
    static void adamWElement(FloatArray param, FloatArray grad, FloatArray m, FloatArray v, int i, int mi, float decay,
                             float step, float invSqrtBc2, float gradScale, float beta1, float beta2, float eps) {
        float gi = grad.get(i) * gradScale;
        float m1 = beta1 * m.get(mi) + (1f - beta1) * gi;
        float v1 = beta2 * v.get(mi) + (1f - beta2) * gi * gi;
        m.set(mi, m1);
        v.set(mi, v1);
        param.set(i, param.get(i) * decay - step * m1 / (TornadoMath.sqrt(v1) * invSqrtBc2 + eps));
    }
}
