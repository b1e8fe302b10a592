package dev.tornadovit.tornado.kernels;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.annotations.Parallel;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * Large sums as KernelContext kernels with local-memory trees, in two stages and without atomics or TornadoVM's
 * @Reduce (which sizes its partial buffer wrongly on CPU OpenCL devices).
 *
 * <p>Stage 1 runs on a grid of ({@code chunks} work-groups × outputs): work-group (c, o) sums elements
 * c·L + lid, c·L + lid + chunks·L, ... of output o (L = work-group size, so a work-group reads consecutive
 * addresses), reduces them in local memory and writes partial[o·chunks + c]. Stage 2 runs one work-group per output
 * over its partials. The results depend only on the sizes, never on scheduling. Work-group sizes are powers of two
 * up to {@link #MAX_LOCAL}.
 */
public final class ReductionKernels {
    private ReductionKernels() {
    }

    public static final int MAX_LOCAL = 256;

    /** Column sums use work-groups of COLUMN_TILE columns × COLUMN_LANES row lanes. */
    public static final int COLUMN_TILE = 32, COLUMN_LANES = 8;

    /**
     * Column sums of src [rows, cols], stage 1: partial[c·cols + j] over the rows r ≡ lane (mod chunks·lanes) of
     * chunk c. Grid (⌈cols/32⌉·32, chunks·8), work-groups 32×8.
     */
    public static void columnSumsPartial(KernelContext ctx, FloatArray src, FloatArray partial, int rows, int cols,
                                         int chunks) {
        float[] buf = ctx.allocateFloatLocalArray(256);
        int tx = ctx.localIdx, ty = ctx.localIdy;
        int j = ctx.groupIdx * 32 + tx;
        int chunk = ctx.groupIdy;
        float s = 0f;
        if (j < cols) {
            for (int r = chunk * 8 + ty; r < rows; r += chunks * 8) s += src.get(r * cols + j);
        }
        buf[ty * 32 + tx] = s;
        for (int stride = 4; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (ty < stride) buf[ty * 32 + tx] += buf[(ty + stride) * 32 + tx];
        }
        if (ty == 0 && j < cols) partial.set(chunk * cols + j, buf[tx]);
    }

    /**
     * dst[j] += Σ_c partial[c·cols + j]: few partials per column, one thread each, summed in order. A KernelContext
     * kernel (grid: cols rounded up to whole work-groups, 256 threads each), not a @Parallel loop: TornadoVM's CUDA
     * backend gives a one-dimensional loop blocks of up to 1024 threads whatever the registers its body needs, and
     * this body (the chunk count is compiled in and the loop unrolled) then failed to launch at 1152 and 1536 columns.
     */
    public static void columnSumsFinish(KernelContext ctx, FloatArray partial, FloatArray dst, int cols, int chunks) {
        int j = ctx.globalIdx;
        if (j < cols) {
            float s = 0f;
            for (int c = 0; c < chunks; c++) s += partial.get(c * cols + j);
            dst.set(j, dst.get(j) + s);
        }
    }

    /**
     * LayerNorm parameter gradients, stage 1, shaped as {@link #columnSumsPartial}: partial[(c·2)·d + j] = Σ dy·x̂ and
     * partial[(c·2+1)·d + j] = Σ dy over chunk c's rows.
     */
    public static void layerNormParamsPartial(KernelContext ctx, FloatArray dy, FloatArray x, FloatArray mean,
                                              FloatArray rstd, FloatArray partial, int rows, int d, int chunks) {
        float[] bufG = ctx.allocateFloatLocalArray(256);
        float[] bufB = ctx.allocateFloatLocalArray(256);
        int tx = ctx.localIdx, ty = ctx.localIdy;
        int j = ctx.groupIdx * 32 + tx;
        int chunk = ctx.groupIdy;
        float sg = 0f, sb = 0f;
        if (j < d) {
            for (int r = chunk * 8 + ty; r < rows; r += chunks * 8) {
                float g = dy.get(r * d + j);
                sg += g * (x.get(r * d + j) - mean.get(r)) * rstd.get(r);
                sb += g;
            }
        }
        bufG[ty * 32 + tx] = sg;
        bufB[ty * 32 + tx] = sb;
        for (int stride = 4; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (ty < stride) {
                bufG[ty * 32 + tx] += bufG[(ty + stride) * 32 + tx];
                bufB[ty * 32 + tx] += bufB[(ty + stride) * 32 + tx];
            }
        }
        if (ty == 0 && j < d) {
            partial.set((chunk * 2) * d + j, bufG[tx]);
            partial.set((chunk * 2 + 1) * d + j, bufB[tx]);
        }
    }

    /** dFirst[j] += Σ_c partial[c,0,j]; dSecond[j] += Σ_c partial[c,1,j]; grid as {@link #columnSumsFinish}. */
    public static void pairedColumnSumsFinish(KernelContext ctx, FloatArray partial, FloatArray dFirst,
                                              FloatArray dSecond, int d, int chunks) {
        int j = ctx.globalIdx;
        if (j < d) {
            float s0 = 0f, s1 = 0f;
            for (int c = 0; c < chunks; c++) {
                s0 += partial.get((c * 2) * d + j);
                s1 += partial.get((c * 2 + 1) * d + j);
            }
            dFirst.set(j, dFirst.get(j) + s0);
            dSecond.set(j, dSecond.get(j) + s1);
        }
    }

    /** Σ x² (gradient norm), stage 1: grid chunks·L, one output. */
    public static void squaresPartial(KernelContext ctx, FloatArray x, FloatArray partial, int n, int chunks) {
        float[] buf = ctx.allocateFloatLocalArray(256);
        int lid = ctx.localIdx, size = ctx.localGroupSizeX, chunk = ctx.groupIdx;
        float s = 0f;
        for (int i = chunk * size + lid; i < n; i += chunks * size) {
            float v = x.get(i);
            s += v * v;
        }
        buf[lid] = s;
        for (int stride = size / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lid < stride) buf[lid] += buf[lid + stride];
        }
        if (lid == 0) partial.set(chunk, buf[0]);
    }

    /** acc[index] += Σ_c partial[c]: one work-group. */
    public static void sumInto(KernelContext ctx, FloatArray partial, FloatArray acc, int chunks, int index) {
        float[] buf = ctx.allocateFloatLocalArray(256);
        int lid = ctx.localIdx, size = ctx.localGroupSizeX;
        float s = 0f;
        for (int c = lid; c < chunks; c += size) s += partial.get(c);
        buf[lid] = s;
        for (int stride = size / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lid < stride) buf[lid] += buf[lid + stride];
        }
        if (lid == 0) acc.set(index, acc.get(index) + buf[0]);
    }

    /**
     * Per-head sums over x [B,H,S] (every b and s of head h), stage 1 on a grid (chunks·L, heads). With {@code centre}
     * set it sums (x - mean[h])²: the second pass of a two-pass variance, which stays accurate over millions of values
     * where Σx² - (Σx)²/n would not.
     */
    public static void headSumsPartial(KernelContext ctx, FloatArray x, FloatArray mean, FloatArray partial, int batch,
                                       int heads, int mapSize, int chunks, int centre) {
        float[] buf = ctx.allocateFloatLocalArray(256);
        int lid = ctx.localIdx, size = ctx.localGroupSizeX, chunk = ctx.groupIdx, h = ctx.groupIdy;
        int count = batch * mapSize;
        float m = centre == 1 ? mean.get(h) : 0f;
        float s = 0f;
        for (int e = chunk * size + lid; e < count; e += chunks * size) {
            int b = e / mapSize, i = e % mapSize;
            float v = x.get((b * heads + h) * mapSize + i) - m;
            s += centre == 1 ? v * v : v;
        }
        buf[lid] = s;
        for (int stride = size / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lid < stride) buf[lid] += buf[lid + stride];
        }
        if (lid == 0) partial.set(h * chunks + chunk, buf[0]);
    }

    /** mean[h] = Σ partials / (B·S): one work-group per head. */
    public static void headMeanFinish(KernelContext ctx, FloatArray partial, FloatArray mean, int chunks, int count) {
        float[] buf = ctx.allocateFloatLocalArray(256);
        int lid = ctx.localIdx, size = ctx.localGroupSizeX, h = ctx.groupIdx;
        float s = 0f;
        for (int c = lid; c < chunks; c += size) s += partial.get(h * chunks + c);
        buf[lid] = s;
        for (int stride = size / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lid < stride) buf[lid] += buf[lid + stride];
        }
        if (lid == 0) mean.set(h, buf[0] / count);
    }

    /** rstd[h] from the centred sums; the running statistics move by {@code momentum} toward the unbiased variance. */
    public static void headVarianceFinish(KernelContext ctx, FloatArray partial, FloatArray mean, FloatArray rstd,
                                          FloatArray runningMean, FloatArray runningVar, int chunks, int count,
                                          float eps, float momentum) {
        float[] buf = ctx.allocateFloatLocalArray(256);
        int lid = ctx.localIdx, size = ctx.localGroupSizeX, h = ctx.groupIdx;
        float s = 0f;
        for (int c = lid; c < chunks; c += size) s += partial.get(h * chunks + c);
        buf[lid] = s;
        for (int stride = size / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lid < stride) buf[lid] += buf[lid + stride];
        }
        if (lid == 0) {
            float total = buf[0];
            float var = total / count;
            rstd.set(h, 1f / TornadoMath.sqrt(var + eps));
            float unbiased = count > 1 ? total / (count - 1) : var;
            runningMean.set(h, (1f - momentum) * runningMean.get(h) + momentum * mean.get(h));
            runningVar.set(h, (1f - momentum) * runningVar.get(h) + momentum * unbiased);
        }
    }

    /**
     * Per-head Σ dy and Σ dy·x̂ for the backward of a normalisation over [B,H,S], stage 1 on a grid (chunks·L, heads):
     * partial[(h·chunks + c)·2 + {0,1}]. BatchNorm ({@code perPosition} 0) has one mean/rstd per head, the head
     * LayerNorm ({@code perPosition} 1) one per (b, s) at index b·S + s.
     */
    public static void normGradSumsPartial(KernelContext ctx, FloatArray dy, FloatArray x, FloatArray mean,
                                           FloatArray rstd, FloatArray partial, int batch, int heads, int mapSize,
                                           int chunks, int perPosition) {
        float[] bufG = ctx.allocateFloatLocalArray(256);
        float[] bufX = ctx.allocateFloatLocalArray(256);
        int lid = ctx.localIdx, size = ctx.localGroupSizeX, chunk = ctx.groupIdx, h = ctx.groupIdy;
        int count = batch * mapSize;
        float sg = 0f, sgx = 0f;
        for (int e = chunk * size + lid; e < count; e += chunks * size) {
            int b = e / mapSize, i = e % mapSize;
            int idx = (b * heads + h) * mapSize + i;
            int stat = perPosition == 1 ? e : h;
            float g = dy.get(idx);
            sg += g;
            sgx += g * (x.get(idx) - mean.get(stat)) * rstd.get(stat);
        }
        bufG[lid] = sg;
        bufX[lid] = sgx;
        for (int stride = size / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lid < stride) {
                bufG[lid] += bufG[lid + stride];
                bufX[lid] += bufX[lid + stride];
            }
        }
        if (lid == 0) {
            partial.set((h * chunks + chunk) * 2, bufG[0]);
            partial.set((h * chunks + chunk) * 2 + 1, bufX[0]);
        }
    }

    /**
     * Stage 2 of {@link #normGradSumsPartial}, one work-group per head: dBeta[h] += Σdy, dGamma[h] += Σdy·x̂, and
     * sums[2h], sums[2h+1] keep both for the BatchNorm input gradient.
     */
    public static void normGradSumsFinish(KernelContext ctx, FloatArray partial, FloatArray dGamma, FloatArray dBeta,
                                          FloatArray sums, int chunks) {
        float[] bufG = ctx.allocateFloatLocalArray(256);
        float[] bufX = ctx.allocateFloatLocalArray(256);
        int lid = ctx.localIdx, size = ctx.localGroupSizeX, h = ctx.groupIdx;
        float sg = 0f, sgx = 0f;
        for (int c = lid; c < chunks; c += size) {
            sg += partial.get((h * chunks + c) * 2);
            sgx += partial.get((h * chunks + c) * 2 + 1);
        }
        bufG[lid] = sg;
        bufX[lid] = sgx;
        for (int stride = size / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lid < stride) {
                bufG[lid] += bufG[lid + stride];
                bufX[lid] += bufX[lid + stride];
            }
        }
        if (lid == 0) {
            sums.set(2 * h, bufG[0]);
            sums.set(2 * h + 1, bufX[0]);
            dBeta.set(h, dBeta.get(h) + bufG[0]);
            dGamma.set(h, dGamma.get(h) + bufX[0]);
        }
    }

    /**
     * Re-attention Θ gradients, stage 1 on a grid (chunks·L, H² + H): output p < H² is Σ_b Σ_s dOut[b,g,s]·maps[b,h,s]
     * with g = p / H, h = p % H; output H² + g is the bias gradient Σ dOut[b,g,:].
     */
    public static void headMixGradPartial(KernelContext ctx, FloatArray dOut, FloatArray maps, FloatArray partial,
                                          int batch, int heads, int mapSize, int chunks) {
        float[] buf = ctx.allocateFloatLocalArray(256);
        int lid = ctx.localIdx, size = ctx.localGroupSizeX, chunk = ctx.groupIdx, p = ctx.groupIdy;
        int count = batch * mapSize;
        int pairs = heads * heads;
        int g = p < pairs ? p / heads : p - pairs;
        int h = p < pairs ? p % heads : 0;
        float s = 0f;
        for (int e = chunk * size + lid; e < count; e += chunks * size) {
            int b = e / mapSize, i = e % mapSize;
            float gy = dOut.get((b * heads + g) * mapSize + i);
            s += p < pairs ? gy * maps.get((b * heads + h) * mapSize + i) : gy;
        }
        buf[lid] = s;
        for (int stride = size / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lid < stride) buf[lid] += buf[lid + stride];
        }
        if (lid == 0) partial.set(p * chunks + chunk, buf[0]);
    }

    /** Stage 2: one work-group per output, adding into dTheta [H,H] or dBias [H]. */
    public static void headMixGradFinish(KernelContext ctx, FloatArray partial, FloatArray dTheta, FloatArray dBias,
                                         int heads, int chunks) {
        float[] buf = ctx.allocateFloatLocalArray(256);
        int lid = ctx.localIdx, size = ctx.localGroupSizeX, p = ctx.groupIdx;
        float s = 0f;
        for (int c = lid; c < chunks; c += size) s += partial.get(p * chunks + c);
        buf[lid] = s;
        for (int stride = size / 2; stride > 0; stride /= 2) {
            ctx.localBarrier();
            if (lid < stride) buf[lid] += buf[lid + stride];
        }
        if (lid == 0) {
            int pairs = heads * heads;
            if (p < pairs) {
                dTheta.set(p, dTheta.get(p) + buf[0]);
            } else {
                dBias.set(p - pairs, dBias.get(p - pairs) + buf[0]);
            }
        }
    }
}
