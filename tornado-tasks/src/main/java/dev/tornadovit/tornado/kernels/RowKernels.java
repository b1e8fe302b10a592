package dev.tornadovit.tornado.kernels;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * Operations that need statistics of a whole row (LayerNorm, softmax, cross-entropy): a warp's worth of threads a row
 * ({@link #LANES}), striding over it and combining in local memory.
 */
public final class RowKernels {
    private RowKernels() {
    }

    /**
     * Threads a row gets (a warp on NVIDIA GPUs), and rows a work-group, in the row kernels but cross-entropy: the rows
     * are short (LayerNorm's 384 features, attention's 197 or 785 keys), so a work-group a row left most of its threads
     * idle and spent its time in barriers; a warp a row reads the row in coalesced 128-byte pieces and reduces it in
     * five steps.
     */
    public static final int LANES = 32, ROWS = 8;

    /**
     * LayerNorm of x [rows, d], keeping mean and 1/std per row; two passes over the row for an accurate variance. A
     * warp a row, {@link #ROWS} rows a work-group, as {@link #softmax}.
     */
    public static void layerNorm(KernelContext ctx, FloatArray x, FloatArray gamma, FloatArray beta, FloatArray y,
                                 FloatArray mean, FloatArray rstd, int rows, int d, float eps) {
        float[] buf = ctx.allocateFloatLocalArray(LANES * ROWS);
        int lid = ctx.localIdx;
        int lane = lid % LANES, first = lid - lane;
        int row = ctx.groupIdx * ROWS + lid / LANES;
        int end = row < rows ? d : 0; // a row past the end reads nothing but joins every barrier
        int o = row * d;
        float s = 0f;
        for (int j = lane; j < end; j += LANES) s += x.get(o + j);
        buf[lid] = s;
        for (int stride = LANES / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lane < stride) buf[lid] += buf[lid + stride];
        }
        ctx.localBarrier();
        float m = buf[first] / d;
        ctx.localBarrier();
        float v = 0f;
        for (int j = lane; j < end; j += LANES) {
            float c = x.get(o + j) - m;
            v += c * c;
        }
        buf[lid] = v;
        for (int stride = LANES / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lane < stride) buf[lid] += buf[lid + stride];
        }
        ctx.localBarrier();
        float r = 1f / TornadoMath.sqrt(buf[first] / d + eps);
        for (int j = lane; j < end; j += LANES) y.set(o + j, (x.get(o + j) - m) * r * gamma.get(j) + beta.get(j));
        if (lane == 0 && end > 0) {
            mean.set(row, m);
            rstd.set(row, r);
        }
    }

    /**
     * sum = a + b, then {@link #layerNorm} of sum, in one pass over memory: each thread reads back only the sums it
     * wrote itself, so the row needs no barrier between being written and being normalised.
     */
    public static void addLayerNorm(KernelContext ctx, FloatArray a, FloatArray b, FloatArray sum, FloatArray gamma,
                                    FloatArray beta, FloatArray y, FloatArray mean, FloatArray rstd, int rows, int d,
                                    float eps) {
        float[] buf = ctx.allocateFloatLocalArray(LANES * ROWS);
        int lid = ctx.localIdx;
        int lane = lid % LANES, first = lid - lane;
        int row = ctx.groupIdx * ROWS + lid / LANES;
        int end = row < rows ? d : 0; // a row past the end reads nothing but joins every barrier
        int o = row * d;
        float s = 0f;
        for (int j = lane; j < end; j += LANES) {
            float x = a.get(o + j) + b.get(o + j);
            sum.set(o + j, x);
            s += x;
        }
        buf[lid] = s;
        for (int stride = LANES / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lane < stride) buf[lid] += buf[lid + stride];
        }
        ctx.localBarrier();
        float m = buf[first] / d;
        ctx.localBarrier();
        float v = 0f;
        for (int j = lane; j < end; j += LANES) {
            float c = sum.get(o + j) - m;
            v += c * c;
        }
        buf[lid] = v;
        for (int stride = LANES / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lane < stride) buf[lid] += buf[lid + stride];
        }
        ctx.localBarrier();
        float r = 1f / TornadoMath.sqrt(buf[first] / d + eps);
        for (int j = lane; j < end; j += LANES) y.set(o + j, (sum.get(o + j) - m) * r * gamma.get(j) + beta.get(j));
        if (lane == 0 && end > 0) {
            mean.set(row, m);
            rstd.set(row, r);
        }
    }

    /** dx += r·(dy·γ - mean(dy·γ) - x̂·mean(dy·γ·x̂)) per row; a warp a row, as {@link #layerNorm}. */
    public static void layerNormBackward(KernelContext ctx, FloatArray dy, FloatArray x, FloatArray gamma,
                                         FloatArray mean, FloatArray rstd, FloatArray dx, int rows, int d) {
        float[] bufG = ctx.allocateFloatLocalArray(LANES * ROWS);
        float[] bufX = ctx.allocateFloatLocalArray(LANES * ROWS);
        int lid = ctx.localIdx;
        int lane = lid % LANES, first = lid - lane;
        int row = ctx.groupIdx * ROWS + lid / LANES;
        int end = row < rows ? d : 0;
        int o = row * d;
        float m = end > 0 ? mean.get(row) : 0f, r = end > 0 ? rstd.get(row) : 0f;
        float sg = 0f, sgx = 0f;
        for (int j = lane; j < end; j += LANES) {
            float gh = dy.get(o + j) * gamma.get(j);
            sg += gh;
            sgx += gh * (x.get(o + j) - m) * r;
        }
        bufG[lid] = sg;
        bufX[lid] = sgx;
        for (int stride = LANES / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lane < stride) {
                bufG[lid] += bufG[lid + stride];
                bufX[lid] += bufX[lid + stride];
            }
        }
        ctx.localBarrier();
        float meanG = bufG[first] / d, meanGx = bufX[first] / d;
        for (int j = lane; j < end; j += LANES) {
            float xh = (x.get(o + j) - m) * r;
            dx.set(o + j, dx.get(o + j) + r * (dy.get(o + j) * gamma.get(j) - meanG - xh * meanGx));
        }
    }


    /**
     * Softmax of each row of scores [rows, keys]: the row's maximum, the sum of exp(s − max), then the weights, each
     * pass reading the row again (from cache) rather than writing and re-reading unnormalised weights.
     */
    public static void softmax(KernelContext ctx, FloatArray scores, FloatArray weights, int rows, int keys) {
        float[] buf = ctx.allocateFloatLocalArray(LANES * ROWS);
        int lid = ctx.localIdx;
        int lane = lid % LANES, first = lid - lane;
        int row = ctx.groupIdx * ROWS + lid / LANES;
        int end = row < rows ? keys : 0; // a row past the end reads nothing but joins every barrier
        int o = row * keys;
        float mx = -3.4e38f;
        for (int j = lane; j < end; j += LANES) mx = TornadoMath.max(mx, scores.get(o + j));
        buf[lid] = mx;
        for (int stride = LANES / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lane < stride) buf[lid] = TornadoMath.max(buf[lid], buf[lid + stride]);
        }
        ctx.localBarrier();
        float rowMax = buf[first];
        ctx.localBarrier();
        float s = 0f;
        for (int j = lane; j < end; j += LANES) s += TornadoMath.exp(scores.get(o + j) - rowMax);
        buf[lid] = s;
        for (int stride = LANES / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lane < stride) buf[lid] += buf[lid + stride];
        }
        ctx.localBarrier();
        float inv = 1f / buf[first];
        for (int j = lane; j < end; j += LANES) {
            weights.set(o + j, TornadoMath.exp(scores.get(o + j) - rowMax) * inv);
        }
    }

    /**
     * dScores (+)= a ⊙ (dA - Σ_j a·dA) per row: added with {@code accumulate} 1, overwritten with 0. A warp a row, as
     * {@link #softmax}.
     */
    public static void softmaxBackward(KernelContext ctx, FloatArray weights, FloatArray dWeights, FloatArray dScores,
                                       int rows, int keys, int accumulate) {
        float[] buf = ctx.allocateFloatLocalArray(LANES * ROWS);
        int lid = ctx.localIdx;
        int lane = lid % LANES, first = lid - lane;
        int row = ctx.groupIdx * ROWS + lid / LANES;
        int end = row < rows ? keys : 0;
        int o = row * keys;
        float s = 0f;
        for (int j = lane; j < end; j += LANES) s += weights.get(o + j) * dWeights.get(o + j);
        buf[lid] = s;
        for (int stride = LANES / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lane < stride) buf[lid] += buf[lid + stride];
        }
        ctx.localBarrier();
        float dot = buf[first];
        for (int j = lane; j < end; j += LANES) {
            float a = weights.get(o + j);
            float old = accumulate == 1 ? dScores.get(o + j) : 0f;
            dScores.set(o + j, old + a * (dWeights.get(o + j) - dot));
        }
    }

    /**
     * Softmax cross-entropy with label smoothing on one work-group: each thread takes samples lid, lid+L, ..., writes
     * their logit gradients (mean over the batch, overwritten) and the work-group sums the loss. Labels are checked on
     * the host (TornadoBackend), since kernels cannot throw.
     */
    public static void crossEntropy(KernelContext ctx, FloatArray logits, FloatArray labels, FloatArray loss,
                                    FloatArray dLogits, int batch, int classes, float smoothing) {
        float[] buf = ctx.allocateFloatLocalArray(256);
        int lid = ctx.localIdx, size = ctx.localGroupSizeX;
        float total = 0f;
        for (int b = lid; b < batch; b += size) {
            int label = (int) labels.get(b);
            int o = b * classes;
            float mx = -3.4e38f;
            for (int c = 0; c < classes; c++) mx = TornadoMath.max(mx, logits.get(o + c));
            float s = 0f;
            for (int c = 0; c < classes; c++) s += TornadoMath.exp(logits.get(o + c) - mx);
            float logSum = mx + TornadoMath.log(s);
            for (int c = 0; c < classes; c++) {
                float target = smoothing / classes + (c == label ? 1f - smoothing : 0f);
                float logP = logits.get(o + c) - logSum;
                total -= target * logP;
                dLogits.set(o + c, (TornadoMath.exp(logP) - target) / batch);
            }
        }
        buf[lid] = total;
        for (int stride = size / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lid < stride) buf[lid] += buf[lid + stride];
        }
        if (lid == 0) loss.set(0, buf[0] / batch);
    }
}
