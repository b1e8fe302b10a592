package dev.tornadovit.backend.cpu;

import dev.tornadovit.backend.cpu.ReusableLoops.Kernel;
import dev.tornadovit.tensor.CrossProcessSum;

import static dev.tornadovit.backend.cpu.OperationLoops.REDUCTION_CHUNKS;

/**
 * {@link CpuBackend}'s normalisations: LayerNorm over token features, and the two norms of Re-attention's mixed maps,
 * BatchNorm per head (its statistics optionally summed across the processes of a data-parallel run) and LayerNorm over
 * heads; with their gradients. Parameter gradients are summed in fixed chunks, in chunk order.
 */
final class Norms {

    private Norms() {}

    private static final Kernel LAYER_NORM = (in, start, end) ->
            VectorMath.layerNormRows(in.f0, in.f1, in.f2, in.f3, in.f4, in.f5, start, end, in.i0, in.x0);

    static void layerNorm(float[] x, float[] gamma, float[] beta, float[] y, float[] mean, float[] rstd, int m, int d,
                          double eps) {
        OperationLoops.loop().arrays(x, gamma, beta, y, mean, rstd).ints(d).real(eps)
                .run(LAYER_NORM, m, Math.max(1, 4096 / d));
    }

    /** Rows [start, end) of sum = a + b, normalised while they are in cache: as add then layerNorm, bit for bit. */
    private static final Kernel ADD_LAYER_NORM = (in, start, end) -> {
        float[] a = in.f0, b = in.f1, sum = in.f2;
        int d = in.i0;
        for (int i = start * d; i < end * d; i++) sum[i] = a[i] + b[i];
        VectorMath.layerNormRows(sum, in.f3, in.f4, in.f5, in.f6, in.f7, start, end, d, in.x0);
    };

    static void addLayerNorm(float[] a, float[] b, float[] sum, float[] gamma, float[] beta, float[] y, float[] mean,
                             float[] rstd, int m, int d, double eps) {
        OperationLoops.loop().arrays(a, b, sum, gamma, beta, y, mean, rstd).ints(d).real(eps)
                .run(ADD_LAYER_NORM, m, Math.max(1, 4096 / d));
    }

    /** dx of a layer norm, and per chunk of rows the partial sums of dγ and dβ. */
    private static final Kernel LAYER_NORM_BACKWARD = (in, start, end) -> {
        float[] partial = in.f6;
        int m = in.i0, d = in.i1, chunks = in.i2;
        for (int c = start; c < end; c++) {
            int rowStart = (int) ((long) m * c / chunks), rowEnd = (int) ((long) m * (c + 1) / chunks);
            VectorMath.layerNormBackwardRows(in.f0, in.f1, in.f2, in.f3, in.f4, in.f5, partial, c * 2 * d, partial,
                    c * 2 * d + d, rowStart, rowEnd, d);
        }
    };

    static void layerNormBackward(float[] gy, float[] in, float[] gm, float[] mu, float[] rs, float[] gx, float[] gg,
                                  float[] gb, int m, int d) {
        int chunks = Math.min(REDUCTION_CHUNKS, m);
        // Per chunk of rows, float partial sums of dγ and dβ (laid out [chunk][dγ | dβ]), then summed in chunk order.
        OperationLoops loops = OperationLoops.get();
        float[] partial = loops.floatScratch(chunks * 2 * d);
        loops.loop.arrays(gy, in, gm, mu, rs, gx, partial).ints(m, d, chunks).run(LAYER_NORM_BACKWARD, chunks, 1);
        for (int j = 0; j < d; j++) {
            double sumGamma = 0, sumBeta = 0;
            for (int c = 0; c < chunks; c++) {
                sumGamma += partial[c * 2 * d + j];
                sumBeta += partial[c * 2 * d + d + j];
            }
            gg[j] += (float) sumGamma;
            gb[j] += (float) sumBeta;
        }
    }

    /**
     * Per head h, sums[h] = Σ x over the batch in order, or, when {@code meansAt} is positive, Σ (x − sums[meansAt + h])².
     */
    private static final Kernel HEAD_BATCH_NORM_STATISTICS = (in, start, end) -> {
        float[] x = in.f0;
        double[] sums = in.d0;
        int meansAt = in.i0, batch = in.i1, heads = in.i2, mapSize = in.i3;
        for (int h = start; h < end; h++) {
            double sum = 0;
            if (meansAt == 0) {
                for (int b = 0; b < batch; b++) {
                    int o = (b * heads + h) * mapSize;
                    for (int i = 0; i < mapSize; i++) sum += x[o + i];
                }
            } else {
                double m = sums[meansAt + h];
                for (int b = 0; b < batch; b++) {
                    int o = (b * heads + h) * mapSize;
                    for (int i = 0; i < mapSize; i++) {
                        double c = x[o + i] - m;
                        sum += c * c;
                    }
                }
            }
            sums[h] = sum;
        }
    };

    /** out = (in - μ)·γ/σ + β per head: the batch's statistics in training, the running ones in evaluation. */
    private static final Kernel HEAD_BATCH_NORM_APPLY = (in, start, end) -> {
        float[] x = in.f0, g = in.f1, bt = in.f2, out = in.f3, mu = in.f4, rs = in.f5, rm = in.f6, rv = in.f7;
        int heads = in.i0, mapSize = in.i1;
        double eps = in.x0;
        boolean training = in.flag;
        for (int bh = start; bh < end; bh++) {
            int h = bh % heads, o = bh * mapSize;
            float m = training ? mu[h] : rm[h];
            float r = training ? rs[h] : (float) (1 / Math.sqrt(rv[h] + eps));
            float scale = r * g[h], shift = bt[h] - m * scale;
            for (int i = 0; i < mapSize; i++) out[o + i] = x[o + i] * scale + shift;
        }
    };

    private static void headBatchNormApply(float[] x, float[] gamma, float[] beta, float[] y, float[] mean,
                                           float[] rstd, float[] runningMean, float[] runningVar, int batch, int heads,
                                           int mapSize, double eps, boolean training) {
        OperationLoops.loop().arrays(x, gamma, beta, y, mean, rstd, runningMean, runningVar).ints(heads, mapSize)
                .real(eps).flag(training).run(HEAD_BATCH_NORM_APPLY, batch * heads, 1);
    }

    /** Evaluation: normalised with the running statistics. */
    static void headBatchNormEvaluation(float[] x, float[] gamma, float[] beta, float[] y, float[] mean, float[] rstd,
                                        float[] runningMean, float[] runningVar, int batch, int heads, int mapSize,
                                        double eps) {
        headBatchNormApply(x, gamma, beta, y, mean, rstd, runningMean, runningVar, batch, heads, mapSize, eps, false);
    }

    /**
     * Training: per head, in double (B·T·T values can be millions): Σx over the shard, summed across processes, gives
     * the mean; then Σ(x − mean)², summed likewise, the variance. Two passes, as one pass of Σx² would lose the
     * variance to cancellation when the mean is large.
     */
    static void headBatchNormTraining(float[] in, float[] gamma, float[] beta, float[] y, float[] mu, float[] rs,
                                      float[] rm, float[] rv, int batch, int heads, int mapSize, double eps,
                                      double momentum, CrossProcessSum across) {
        OperationLoops loops = OperationLoops.get();
        // [0, heads): the partial sums; [heads]: the element count; [heads + 1, 2·heads + 1): the global means.
        double[] sums = loops.scratch(2 * heads + 1);
        loops.loop.arrays(in).sums(sums).ints(0, batch, heads, mapSize).run(HEAD_BATCH_NORM_STATISTICS, heads, 1);
        sums[heads] = (double) batch * mapSize;
        across.sum(sums, heads + 1);
        double count = sums[heads];
        for (int h = 0; h < heads; h++) sums[heads + 1 + h] = sums[h] / count;
        loops.loop.arrays(in).sums(sums).ints(heads + 1, batch, heads, mapSize)
                .run(HEAD_BATCH_NORM_STATISTICS, heads, 1);
        across.sum(sums, heads);
        for (int h = 0; h < heads; h++) {
            double m = sums[heads + 1 + h], v = sums[h];
            mu[h] = (float) m;
            rs[h] = (float) (1 / Math.sqrt(v / count + eps));
            double unbiased = count > 1 ? v / (count - 1) : v / count;
            rm[h] = (float) ((1 - momentum) * rm[h] + momentum * m);
            rv[h] = (float) ((1 - momentum) * rv[h] + momentum * unbiased);
        }
        headBatchNormApply(in, gamma, beta, y, mu, rs, rm, rv, batch, heads, mapSize, eps, true);
    }

    /** Per head h: sums[2h] = Σ dy and sums[2h+1] = Σ dy·x̂, over the batch in order. */
    private static final Kernel HEAD_BATCH_NORM_GRADIENT_SUMS = (in, start, end) -> {
        float[] gy = in.f0, x = in.f1, mu = in.f2, rs = in.f3;
        double[] sums = in.d0;
        int batch = in.i0, heads = in.i1, mapSize = in.i2;
        for (int h = start; h < end; h++) {
            double sumG = 0, sumGx = 0;
            for (int b = 0; b < batch; b++) {
                int o = (b * heads + h) * mapSize;
                for (int i = 0; i < mapSize; i++) {
                    sumG += gy[o + i];
                    sumGx += gy[o + i] * (x[o + i] - mu[h]) * rs[h];
                }
            }
            sums[2 * h] = sumG;
            sums[2 * h + 1] = sumGx;
        }
    };

    /** dx += γ·r·(dy − mean dy − x̂·mean dy·x̂) per head, the means over sums[2·heads] elements. */
    private static final Kernel HEAD_BATCH_NORM_INPUT_GRADIENTS = (in, start, end) -> {
        float[] gy = in.f0, x = in.f1, g = in.f2, mu = in.f3, rs = in.f4, gx = in.f5;
        double[] sums = in.d0;
        int heads = in.i0, mapSize = in.i1;
        long count = (long) sums[2 * heads];
        for (int bh = start; bh < end; bh++) {
            int h = bh % heads, o = bh * mapSize;
            float meanG = (float) (sums[2 * h] / count), meanGx = (float) (sums[2 * h + 1] / count);
            float r = rs[h], m = mu[h], k = g[h] * r;
            for (int i = 0; i < mapSize; i++) {
                float xh = (x[o + i] - m) * r;
                gx[o + i] += k * (gy[o + i] - meanG - xh * meanGx);
            }
        }
    };

    static void headBatchNormBackward(float[] gy, float[] in, float[] g, float[] mu, float[] rs, float[] gx,
                                      float[] gg, float[] gb, int batch, int heads, int mapSize,
                                      CrossProcessSum across) {
        OperationLoops loops = OperationLoops.get();
        double[] sums = loops.scratch(2 * heads + 1);
        loops.loop.arrays(gy, in, mu, rs).sums(sums).ints(batch, heads, mapSize)
                .run(HEAD_BATCH_NORM_GRADIENT_SUMS, heads, 1);
        for (int h = 0; h < heads; h++) {
            gb[h] += (float) sums[2 * h];
            gg[h] += (float) sums[2 * h + 1];
        }
        sums[2 * heads] = (double) batch * mapSize;
        across.sum(sums, 2 * heads + 1);
        loops.loop.arrays(gy, in, g, mu, rs, gx).sums(sums).ints(heads, mapSize)
                .run(HEAD_BATCH_NORM_INPUT_GRADIENTS, batch * heads, 1);
    }

    private static final Kernel HEAD_LAYER_NORM = (in, start, end) -> {
        float[] x = in.f0, g = in.f1, bt = in.f2, out = in.f3, mu = in.f4, rs = in.f5;
        int heads = in.i0, mapSize = in.i1;
        double eps = in.x0;
        for (int bi = start; bi < end; bi++) {
            int b = bi / mapSize, i = bi % mapSize, base = b * heads * mapSize + i;
            float sum = 0;
            for (int h = 0; h < heads; h++) sum += x[base + h * mapSize];
            float m = sum / heads, var = 0;
            for (int h = 0; h < heads; h++) {
                float c = x[base + h * mapSize] - m;
                var += c * c;
            }
            float r = (float) (1 / Math.sqrt(var / heads + eps));
            mu[bi] = m;
            rs[bi] = r;
            for (int h = 0; h < heads; h++) out[base + h * mapSize] = (x[base + h * mapSize] - m) * r * g[h] + bt[h];
        }
    };

    static void headLayerNorm(float[] x, float[] gamma, float[] beta, float[] y, float[] mean, float[] rstd,
                              int batch, int heads, int mapSize, double eps) {
        OperationLoops.loop().arrays(x, gamma, beta, y, mean, rstd).ints(heads, mapSize).real(eps)
                .run(HEAD_LAYER_NORM, batch * mapSize, 256);
    }

    /** dx of a layer norm over heads, and per chunk of positions the partial sums of dγ and dβ. */
    private static final Kernel HEAD_LAYER_NORM_BACKWARD = (in, chunkStart, chunkEnd) -> {
        float[] gy = in.f0, x = in.f1, g = in.f2, mu = in.f3, rs = in.f4, gx = in.f5;
        double[] partial = in.d0;
        int n = in.i0, chunks = in.i1, heads = in.i2, mapSize = in.i3;
        for (int c = chunkStart; c < chunkEnd; c++) {
            int start = (int) ((long) n * c / chunks), end = (int) ((long) n * (c + 1) / chunks);
            int pg = c * 2 * heads, pb = pg + heads;
            for (int bi = start; bi < end; bi++) {
                int b = bi / mapSize, i = bi % mapSize, base = b * heads * mapSize + i;
                float m = mu[bi], r = rs[bi], meanG = 0, meanGx = 0;
                for (int h = 0; h < heads; h++) {
                    int idx = base + h * mapSize;
                    float xh = (x[idx] - m) * r, gh = gy[idx] * g[h];
                    meanG += gh;
                    meanGx += gh * xh;
                    partial[pg + h] += gy[idx] * xh;
                    partial[pb + h] += gy[idx];
                }
                meanG /= heads;
                meanGx /= heads;
                for (int h = 0; h < heads; h++) {
                    int idx = base + h * mapSize;
                    float xh = (x[idx] - m) * r;
                    gx[idx] += r * (gy[idx] * g[h] - meanG - xh * meanGx);
                }
            }
        }
    };

    static void headLayerNormBackward(float[] gy, float[] in, float[] g, float[] mu, float[] rs, float[] gx,
                                      float[] gg, float[] gb, int batch, int heads, int mapSize) {
        int n = batch * mapSize, chunks = Math.min(REDUCTION_CHUNKS, n);
        OperationLoops loops = OperationLoops.get();
        double[] partial = loops.scratch(chunks * 2 * heads);
        loops.loop.arrays(gy, in, g, mu, rs, gx).sums(partial).ints(n, chunks, heads, mapSize)
                .run(HEAD_LAYER_NORM_BACKWARD, chunks, 1);
        for (int c = 0; c < chunks; c++)
            for (int h = 0; h < heads; h++) {
                gg[h] += (float) partial[c * 2 * heads + h];
                gb[h] += (float) partial[c * 2 * heads + heads + h];
            }
    }
}
