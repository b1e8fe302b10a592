package dev.tornadovit.backend.cpu;

import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.tensor.PoolMode;
import dev.tornadovit.tensor.Tensor;

import java.util.Arrays;

/**
 * The default backend: float32 on the Java heap, every operation parallel over {@link CpuParallel} and the matrix
 * products on the vectorised, register-tiled {@link Matmul}. Results depend only on the thread count, never on
 * scheduling: reductions are split into fixed chunks and summed in chunk order, so a resumed run repeats an
 * uninterrupted one bit for bit.
 */
public final class CpuBackend implements Backend {

    /** Reductions over rows are split into this many fixed chunks, whatever the thread count. */
    private static final int REDUCTION_CHUNKS = 16;

    static final class CpuTensor implements Tensor {
        final float[] data;
        final CpuBackend owner;

        CpuTensor(CpuBackend owner, int size) {
            this.owner = owner;
            this.data = new float[size];
        }

        @Override
        public int size() {
            return data.length;
        }

        @Override
        public Backend backend() {
            return owner;
        }
    }

    /** Scratch space for per-chunk partial sums, reused so a training step allocates nothing. */
    private double[] scratch = new double[0];

    public CpuBackend() {
    }

    /** A backend whose operations use {@code threads} threads (the whole process shares one pool). */
    public CpuBackend(int threads) {
        CpuParallel.setThreads(threads);
    }

    private float[] f(Tensor t) {
        if (!(t instanceof CpuTensor c) || c.owner != this) {
            throw new IllegalArgumentException("tensor does not belong to this CPU backend: " + t);
        }
        return c.data;
    }

    /** Float scratch for per-chunk partial sums, zero-filled; separate from {@link #scratch} and reused alike. */
    private float[] floatScratch = new float[0];

    private float[] floatScratch(int n) {
        if (floatScratch.length < n) floatScratch = new float[n];
        Arrays.fill(floatScratch, 0, n, 0f);
        return floatScratch;
    }

    private double[] scratch(int n) {
        if (scratch.length < n) scratch = new double[n];
        Arrays.fill(scratch, 0, n, 0);
        return scratch;
    }

    @Override
    public String name() {
        return "cpu (" + CpuParallel.threads() + " threads)";
    }

    @Override
    public boolean isDoublePrecision() {
        return false;
    }

    /** Direct access for code that lives next to the backend (data loading, benchmarks). */
    public static float[] data(Tensor t) {
        return ((CpuTensor) t).data;
    }

    @Override
    public Tensor allocate(int size) {
        return new CpuTensor(this, size);
    }

    @Override
    public void upload(Tensor dst, float[] src) {
        System.arraycopy(src, 0, f(dst), 0, src.length);
    }

    @Override
    public void upload(Tensor dst, double[] src) {
        float[] x = f(dst);
        for (int i = 0; i < src.length; i++) x[i] = (float) src[i];
    }

    @Override
    public float[] downloadFloat(Tensor src) {
        return f(src).clone();
    }

    @Override
    public double[] downloadDouble(Tensor src) {
        float[] x = f(src);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i];
        return out;
    }

    @Override
    public void zero(Tensor t) {
        float[] x = f(t);
        CpuParallel.parallelFor(x.length, 1 << 16, (s, e) -> Arrays.fill(x, s, e, 0f));
    }

    @Override
    public void copy(Tensor src, Tensor dst, int n) {
        System.arraycopy(f(src), 0, f(dst), 0, n);
    }

    // ---------------------------------------------------------------- elementwise

    private static final int ELEMENT_GRAIN = 1 << 14;

    @Override
    public void add(Tensor a, Tensor b, Tensor out, int n) {
        float[] x = f(a), y = f(b), o = f(out);
        CpuParallel.parallelFor(n, ELEMENT_GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) o[i] = x[i] + y[i];
        });
    }

    @Override
    public void accumulate(Tensor dst, Tensor src, int n) {
        float[] o = f(dst), x = f(src);
        CpuParallel.parallelFor(n, ELEMENT_GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) o[i] += x[i];
        });
    }

    @Override
    public void gelu(Tensor x, Tensor y, int n) {
        float[] in = f(x), out = f(y);
        CpuParallel.parallelFor(n, 8192, (s, e) -> VectorMath.gelu(in, out, s, e));
    }

    @Override
    public void geluBackward(Tensor x, Tensor dy, Tensor dx, int n) {
        float[] in = f(x), g = f(dy), out = f(dx);
        CpuParallel.parallelFor(n, 8192, (s, e) -> VectorMath.geluBackward(in, g, out, s, e));
    }

    private static float sigmoid(float x) {
        return 1f / (1f + (float) Math.exp(-x));
    }

    @Override
    public void sigmoidGate(Tensor gatePre, Tensor o, Tensor out, int n) {
        float[] g = f(gatePre), x = f(o), y = f(out);
        CpuParallel.parallelFor(n, 4096, (s, e) -> {
            for (int i = s; i < e; i++) y[i] = x[i] * sigmoid(g[i]);
        });
    }

    @Override
    public void sigmoidGateBackward(Tensor gatePre, Tensor o, Tensor dOut, Tensor dGatePre, Tensor dO, int n) {
        float[] g = f(gatePre), x = f(o), dy = f(dOut), dg = f(dGatePre), dx = f(dO);
        CpuParallel.parallelFor(n, 4096, (s, e) -> {
            for (int i = s; i < e; i++) {
                float sg = sigmoid(g[i]);
                dx[i] += dy[i] * sg;
                dg[i] += dy[i] * x[i] * sg * (1 - sg);
            }
        });
    }

    // ---------------------------------------------------------------- patches and tokens

    @Override
    public void im2col(Tensor images, Tensor patches, int batch, int channels, int height, int width, int patch) {
        float[] img = f(images), out = f(patches);
        int gh = height / patch, gw = width / patch, rowLen = channels * patch * patch;
        CpuParallel.parallelFor(batch * gh, 1, (s, e) -> {
            for (int r = s; r < e; r++) {
                int b = r / gh, py = r % gh;
                for (int px = 0; px < gw; px++) {
                    int row = r * gw + px;
                    for (int c = 0; c < channels; c++)
                        for (int dy = 0; dy < patch; dy++) {
                            int src = ((b * channels + c) * height + py * patch + dy) * width + px * patch;
                            System.arraycopy(img, src, out, row * rowLen + (c * patch + dy) * patch, patch);
                        }
                }
            }
        });
    }

    @Override
    public void assembleTokens(Tensor patchEmbeddings, Tensor cls, Tensor pos, Tensor fixedPos, Tensor tokens,
                               int batch, int patches, int dim) {
        float[] pe = f(patchEmbeddings), out = f(tokens);
        float[] c = cls == null ? null : f(cls), p = pos == null ? null : f(pos), fp = fixedPos == null ? null : f(fixedPos);
        int first = c == null ? 0 : 1, tokenCount = patches + first;
        CpuParallel.parallelFor(batch * tokenCount, 64, (s, e) -> {
            for (int bt = s; bt < e; bt++) {
                int b = bt / tokenCount, t = bt % tokenCount, o = bt * dim;
                if (t < first) System.arraycopy(c, 0, out, o, dim);
                else {
                    System.arraycopy(pe, (b * patches + t - first) * dim, out, o, dim);
                    if (fp != null) for (int i = 0; i < dim; i++) out[o + i] += fp[(t - first) * dim + i];
                }
                if (p != null) for (int i = 0; i < dim; i++) out[o + i] += p[t * dim + i];
            }
        });
    }

    @Override
    public void assembleTokensBackward(Tensor dTokens, Tensor dPatchEmbeddings, Tensor dCls, Tensor dPos,
                                       int batch, int patches, int dim, boolean hasCls) {
        float[] g = f(dTokens), dpe = f(dPatchEmbeddings);
        float[] dc = dCls == null ? null : f(dCls), dp = dPos == null ? null : f(dPos);
        int first = hasCls ? 1 : 0, tokenCount = patches + first;
        CpuParallel.parallelFor(batch * patches, 64, (s, e) -> {
            for (int bp = s; bp < e; bp++) {
                int b = bp / patches, t = bp % patches + first;
                int src = (b * tokenCount + t) * dim, dst = bp * dim;
                for (int i = 0; i < dim; i++) dpe[dst + i] += g[src + i];
            }
        });
        // cls and position gradients sum over the batch: parallel over positions, batch summed in order.
        CpuParallel.parallelFor(tokenCount, 4, (s, e) -> {
            for (int t = s; t < e; t++) {
                for (int b = 0; b < batch; b++) {
                    int src = (b * tokenCount + t) * dim;
                    if (dp != null) for (int i = 0; i < dim; i++) dp[t * dim + i] += g[src + i];
                    if (t < first && dc != null) for (int i = 0; i < dim; i++) dc[i] += g[src + i];
                }
            }
        });
    }

    // ---------------------------------------------------------------- linear

    @Override
    public void linear(Tensor x, Tensor w, Tensor bias, Tensor y, int m, int k, int n) {
        Matmul.linearForward(f(x), 0, f(w), 0, bias == null ? null : f(bias), 0, f(y), 0, m, k, n);
    }

    @Override
    public void linearBackward(Tensor dy, Tensor x, Tensor w, Tensor dx, Tensor dw, Tensor dBias, int m, int k, int n) {
        if (dx != null) Matmul.linearBackwardInput(f(dy), 0, f(w), 0, f(dx), 0, m, k, n, true);
        Matmul.linearBackwardWeight(f(dy), 0, f(x), 0, f(dw), 0, dBias == null ? null : f(dBias), 0, m, k, n);
    }

    // ---------------------------------------------------------------- normalisation

    @Override
    public void layerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int m, int d,
                          double eps) {
        float[] in = f(x), g = f(gamma), bt = f(beta), out = f(y), mu = f(mean), rs = f(rstd);
        CpuParallel.parallelFor(m, Math.max(1, 4096 / d), (s, e) -> VectorMath.layerNormRows(in, g, bt, out, mu, rs, s, e, d, eps));
    }

    @Override
    public void layerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                                  Tensor dGamma, Tensor dBeta, int m, int d) {
        float[] gy = f(dy), in = f(x), gm = f(gamma), mu = f(mean), rs = f(rstd), gx = f(dx), gg = f(dGamma), gb = f(dBeta);
        int chunks = Math.min(REDUCTION_CHUNKS, m);
        // Per chunk of rows, float partial sums of dγ and dβ (laid out [chunk][dγ | dβ]), then summed in chunk order.
        float[] partial = floatScratch(chunks * 2 * d);
        CpuParallel.parallelFor(chunks, 1, (cs, ce) -> {
            for (int c = cs; c < ce; c++) {
                int rowStart = (int) ((long) m * c / chunks), rowEnd = (int) ((long) m * (c + 1) / chunks);
                VectorMath.layerNormBackwardRows(gy, in, gm, mu, rs, gx, partial, c * 2 * d, partial, c * 2 * d + d,
                        rowStart, rowEnd, d);
            }
        });
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

    // ---------------------------------------------------------------- attention

    @Override
    public void splitHeads(Tensor qkv, Tensor q, Tensor k, Tensor v, int batch, int tokens, int heads, int headDim) {
        float[] in = f(qkv), qq = f(q), kk = f(k), vv = f(v);
        int dim = heads * headDim;
        CpuParallel.parallelFor(batch * tokens, 16, (s, e) -> {
            for (int bt = s; bt < e; bt++) {
                int b = bt / tokens, t = bt % tokens;
                for (int h = 0; h < heads; h++) {
                    int src = bt * 3 * dim + h * headDim, dst = ((b * heads + h) * tokens + t) * headDim;
                    System.arraycopy(in, src, qq, dst, headDim);
                    System.arraycopy(in, src + dim, kk, dst, headDim);
                    System.arraycopy(in, src + 2 * dim, vv, dst, headDim);
                }
            }
        });
    }

    @Override
    public void splitHeadsBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dQkv, int batch, int tokens, int heads,
                                   int headDim) {
        float[] out = f(dQkv), gq = f(dq), gk = f(dk), gv = f(dv);
        int dim = heads * headDim;
        CpuParallel.parallelFor(batch * tokens, 16, (s, e) -> {
            for (int bt = s; bt < e; bt++) {
                int b = bt / tokens, t = bt % tokens;
                for (int h = 0; h < heads; h++) {
                    int dst = bt * 3 * dim + h * headDim, src = ((b * heads + h) * tokens + t) * headDim;
                    VectorMath.addInto(gq, src, out, dst, headDim);
                    VectorMath.addInto(gk, src, out, dst + dim, headDim);
                    VectorMath.addInto(gv, src, out, dst + 2 * dim, headDim);
                }
            }
        });
    }

    @Override
    public void mergeHeads(Tensor o, Tensor out, int batch, int tokens, int heads, int headDim) {
        float[] in = f(o), y = f(out);
        int dim = heads * headDim;
        CpuParallel.parallelFor(batch * tokens, 16, (s, e) -> {
            for (int bt = s; bt < e; bt++) {
                int b = bt / tokens, t = bt % tokens;
                for (int h = 0; h < heads; h++)
                    System.arraycopy(in, ((b * heads + h) * tokens + t) * headDim, y, bt * dim + h * headDim, headDim);
            }
        });
    }

    @Override
    public void mergeHeadsBackward(Tensor dOut, Tensor dO, int batch, int tokens, int heads, int headDim) {
        float[] g = f(dOut), gx = f(dO);
        int dim = heads * headDim;
        CpuParallel.parallelFor(batch * tokens, 16, (s, e) -> {
            for (int bt = s; bt < e; bt++) {
                int b = bt / tokens, t = bt % tokens;
                for (int h = 0; h < heads; h++) {
                    int dst = ((b * heads + h) * tokens + t) * headDim, src = bt * dim + h * headDim;
                    VectorMath.addInto(g, src, gx, dst, headDim);
                }
            }
        });
    }

    @Override
    public void attentionScores(Tensor q, Tensor k, Tensor scores, int batchHeads, int tokens, int headDim,
                                double scale) {
        int th = tokens * headDim;
        Matmul.batchedNT(batchHeads, f(q), 0, th, headDim, f(k), 0, th, headDim, f(scores), 0, tokens * tokens, tokens,
                tokens, tokens, headDim, (float) scale, false);
    }

    @Override
    public void attentionScoresBackward(Tensor dScores, Tensor q, Tensor k, Tensor dq, Tensor dk, int batchHeads,
                                        int tokens, int headDim, double scale) {
        int th = tokens * headDim, tt = tokens * tokens;
        // dq += scale·dS·k ; dk += scale·dSᵀ·q
        Matmul.batchedNN(batchHeads, f(dScores), 0, tt, tokens, f(k), 0, th, headDim, f(dq), 0, th, headDim,
                tokens, headDim, tokens, (float) scale, true);
        Matmul.batchedTN(batchHeads, f(dScores), 0, tt, tokens, f(q), 0, th, headDim, f(dk), 0, th, headDim,
                tokens, headDim, tokens, (float) scale, true);
    }

    @Override
    public void attentionWeights(Tensor scores, Tensor weights, int rows, int keys, AttentionWeighting weighting) {
        float[] s = f(scores), a = f(weights);
        if (weighting.softmax()) {
            CpuParallel.parallelFor(rows, Math.max(1, 4096 / keys), (rs, re) -> {
                for (int r = rs; r < re; r++) VectorMath.softmaxRow(s, r * keys, a, r * keys, keys);
            });
        } else {
            // Pointwise: every element on its own, no row statistics.
            float scale = (float) weighting.scale(keys);
            PointwiseActivation h = weighting.activation();
            CpuParallel.parallelFor(rows * keys, 4096, (st, en) -> VectorMath.pointwiseWeights(h, scale, s, st, a, st, en - st));
        }
    }

    @Override
    public void attentionWeightsBackward(Tensor scores, Tensor weights, Tensor dWeights, Tensor dScores, int rows,
                                         int keys, AttentionWeighting weighting) {
        float[] s = f(scores), a = f(weights), ga = f(dWeights), gs = f(dScores);
        if (weighting.softmax()) {
            CpuParallel.parallelFor(rows, Math.max(1, 4096 / keys), (rs, re) -> {
                for (int r = rs; r < re; r++) VectorMath.softmaxBackwardRow(a, r * keys, ga, r * keys, gs, r * keys, keys, true);
            });
        } else {
            float scale = (float) weighting.scale(keys);
            PointwiseActivation h = weighting.activation();
            CpuParallel.parallelFor(rows * keys, 4096,
                    (st, en) -> VectorMath.pointwiseBackwardFromScores(h, scale, s, st, ga, st, gs, st, en - st, true));
        }
    }

    @Override
    public boolean fusesAttention() {
        return true;
    }

    @Override
    public void attentionForward(Tensor q, Tensor k, Tensor v, Tensor scores, Tensor weights, Tensor o, int batchHeads,
                                 int tokens, int headDim, double scale, AttentionWeighting weighting,
                                 boolean keepScores) {
        FusedAttention.forward(f(q), f(k), f(v), keepScores ? f(scores) : null, f(weights), f(o), batchHeads, tokens,
                headDim, (float) scale, weighting, keepScores);
    }

    @Override
    public void attentionBackward(Tensor dO, Tensor q, Tensor k, Tensor v, Tensor scores, Tensor weights,
                                  Tensor dWeights, Tensor dScores, Tensor dq, Tensor dk, Tensor dv, int batchHeads,
                                  int tokens, int headDim, double scale, AttentionWeighting weighting) {
        FusedAttention.backward(f(dO), f(q), f(k), f(v), weighting.backwardNeedsScores() ? f(scores) : null,
                f(weights), f(dq), f(dk), f(dv), batchHeads, tokens, headDim, (float) scale, weighting);
    }

    @Override
    public void headMix(Tensor maps, Tensor theta, Tensor bias, Tensor out, int batch, int heads, int mapSize) {
        float[] a = f(maps), th = f(theta), bs = f(bias), y = f(out);
        CpuParallel.parallelFor(batch * heads, 1, (s, e) -> {
            for (int bg = s; bg < e; bg++) {
                int b = bg / heads, g = bg % heads, o = bg * mapSize;
                Arrays.fill(y, o, o + mapSize, bs[g]);
                for (int h = 0; h < heads; h++) {
                    float w = th[g * heads + h];
                    int src = (b * heads + h) * mapSize;
                    for (int i = 0; i < mapSize; i++) y[o + i] += w * a[src + i];
                }
            }
        });
    }

    @Override
    public void headMixBackward(Tensor dOut, Tensor maps, Tensor theta, Tensor dMaps, Tensor dTheta, Tensor dBias,
                                int batch, int heads, int mapSize) {
        float[] gy = f(dOut), a = f(maps), th = f(theta), ga = f(dMaps), gt = f(dTheta), gb = f(dBias);
        CpuParallel.parallelFor(batch * heads, 1, (s, e) -> {
            for (int bh = s; bh < e; bh++) {
                int b = bh / heads, h = bh % heads, o = bh * mapSize;
                for (int g = 0; g < heads; g++) {
                    float w = th[g * heads + h];
                    int src = (b * heads + g) * mapSize;
                    for (int i = 0; i < mapSize; i++) ga[o + i] += w * gy[src + i];
                }
            }
        });
        // dΘ[g,h] = Σ_b Σ_s dOut[b,g,s]·maps[b,h,s]; dBias[g] = Σ dOut[b,g,:] — one task per (g,h), batch in order.
        double[] partial = scratch(heads * heads + heads);
        CpuParallel.parallelFor(heads * heads + heads, 1, (s, e) -> {
            for (int idx = s; idx < e; idx++) {
                double acc = 0;
                if (idx < heads * heads) {
                    int g = idx / heads, h = idx % heads;
                    for (int b = 0; b < batch; b++) {
                        int og = (b * heads + g) * mapSize, oh = (b * heads + h) * mapSize;
                        float part = 0;
                        for (int i = 0; i < mapSize; i++) part += gy[og + i] * a[oh + i];
                        acc += part;
                    }
                } else {
                    int g = idx - heads * heads;
                    for (int b = 0; b < batch; b++) {
                        int og = (b * heads + g) * mapSize;
                        float part = 0;
                        for (int i = 0; i < mapSize; i++) part += gy[og + i];
                        acc += part;
                    }
                }
                partial[idx] = acc;
            }
        });
        for (int i = 0; i < heads * heads; i++) gt[i] += (float) partial[i];
        for (int g = 0; g < heads; g++) gb[g] += (float) partial[heads * heads + g];
    }

    @Override
    public void headBatchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd,
                              Tensor runningMean, Tensor runningVar, int batch, int heads, int mapSize, double eps,
                              double momentum, boolean training) {
        float[] in = f(x), g = f(gamma), bt = f(beta), out = f(y), mu = f(mean), rs = f(rstd);
        float[] rm = f(runningMean), rv = f(runningVar);
        long count = (long) batch * mapSize;
        if (training) {
            // Statistics per head in double: B·T·T values can reach millions.
            CpuParallel.parallelFor(heads, 1, (s, e) -> {
                for (int h = s; h < e; h++) {
                    double sum = 0;
                    for (int b = 0; b < batch; b++) {
                        int o = (b * heads + h) * mapSize;
                        for (int i = 0; i < mapSize; i++) sum += in[o + i];
                    }
                    double m = sum / count, v = 0;
                    for (int b = 0; b < batch; b++) {
                        int o = (b * heads + h) * mapSize;
                        for (int i = 0; i < mapSize; i++) {
                            double c = in[o + i] - m;
                            v += c * c;
                        }
                    }
                    mu[h] = (float) m;
                    rs[h] = (float) (1 / Math.sqrt(v / count + eps));
                    double unbiased = count > 1 ? v / (count - 1) : v / count;
                    rm[h] = (float) ((1 - momentum) * rm[h] + momentum * m);
                    rv[h] = (float) ((1 - momentum) * rv[h] + momentum * unbiased);
                }
            });
        }
        CpuParallel.parallelFor(batch * heads, 1, (s, e) -> {
            for (int bh = s; bh < e; bh++) {
                int h = bh % heads, o = bh * mapSize;
                float m = training ? mu[h] : rm[h];
                float r = training ? rs[h] : (float) (1 / Math.sqrt(rv[h] + eps));
                float scale = r * g[h], shift = bt[h] - m * scale;
                for (int i = 0; i < mapSize; i++) out[o + i] = in[o + i] * scale + shift;
            }
        });
    }

    @Override
    public void headBatchNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                                      Tensor dGamma, Tensor dBeta, int batch, int heads, int mapSize) {
        float[] gy = f(dy), in = f(x), g = f(gamma), mu = f(mean), rs = f(rstd), gx = f(dx), gg = f(dGamma), gb = f(dBeta);
        long count = (long) batch * mapSize;
        double[] sums = scratch(2 * heads);
        CpuParallel.parallelFor(heads, 1, (s, e) -> {
            for (int h = s; h < e; h++) {
                double sumG = 0, sumGx = 0;
                for (int b = 0; b < batch; b++) {
                    int o = (b * heads + h) * mapSize;
                    for (int i = 0; i < mapSize; i++) {
                        sumG += gy[o + i];
                        sumGx += gy[o + i] * (in[o + i] - mu[h]) * rs[h];
                    }
                }
                sums[2 * h] = sumG;
                sums[2 * h + 1] = sumGx;
            }
        });
        for (int h = 0; h < heads; h++) {
            gb[h] += (float) sums[2 * h];
            gg[h] += (float) sums[2 * h + 1];
        }
        CpuParallel.parallelFor(batch * heads, 1, (s, e) -> {
            for (int bh = s; bh < e; bh++) {
                int h = bh % heads, o = bh * mapSize;
                float meanG = (float) (sums[2 * h] / count), meanGx = (float) (sums[2 * h + 1] / count);
                float r = rs[h], m = mu[h], k = g[h] * r;
                for (int i = 0; i < mapSize; i++) {
                    float xh = (in[o + i] - m) * r;
                    gx[o + i] += k * (gy[o + i] - meanG - xh * meanGx);
                }
            }
        });
    }

    @Override
    public void headLayerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int batch,
                              int heads, int mapSize, double eps) {
        float[] in = f(x), g = f(gamma), bt = f(beta), out = f(y), mu = f(mean), rs = f(rstd);
        CpuParallel.parallelFor(batch * mapSize, 256, (s, e) -> {
            for (int bi = s; bi < e; bi++) {
                int b = bi / mapSize, i = bi % mapSize, base = b * heads * mapSize + i;
                float sum = 0;
                for (int h = 0; h < heads; h++) sum += in[base + h * mapSize];
                float m = sum / heads, var = 0;
                for (int h = 0; h < heads; h++) {
                    float c = in[base + h * mapSize] - m;
                    var += c * c;
                }
                float r = (float) (1 / Math.sqrt(var / heads + eps));
                mu[bi] = m;
                rs[bi] = r;
                for (int h = 0; h < heads; h++) out[base + h * mapSize] = (in[base + h * mapSize] - m) * r * g[h] + bt[h];
            }
        });
    }

    @Override
    public void headLayerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                                      Tensor dGamma, Tensor dBeta, int batch, int heads, int mapSize) {
        float[] gy = f(dy), in = f(x), g = f(gamma), mu = f(mean), rs = f(rstd), gx = f(dx), gg = f(dGamma), gb = f(dBeta);
        int n = batch * mapSize, chunks = Math.min(REDUCTION_CHUNKS, n);
        double[] partial = scratch(chunks * 2 * heads);
        CpuParallel.parallelFor(chunks, 1, (cs, ce) -> {
            for (int c = cs; c < ce; c++) {
                int start = (int) ((long) n * c / chunks), end = (int) ((long) n * (c + 1) / chunks);
                int pg = c * 2 * heads, pb = pg + heads;
                for (int bi = start; bi < end; bi++) {
                    int b = bi / mapSize, i = bi % mapSize, base = b * heads * mapSize + i;
                    float m = mu[bi], r = rs[bi], meanG = 0, meanGx = 0;
                    for (int h = 0; h < heads; h++) {
                        int idx = base + h * mapSize;
                        float xh = (in[idx] - m) * r, gh = gy[idx] * g[h];
                        meanG += gh;
                        meanGx += gh * xh;
                        partial[pg + h] += gy[idx] * xh;
                        partial[pb + h] += gy[idx];
                    }
                    meanG /= heads;
                    meanGx /= heads;
                    for (int h = 0; h < heads; h++) {
                        int idx = base + h * mapSize;
                        float xh = (in[idx] - m) * r;
                        gx[idx] += r * (gy[idx] * g[h] - meanG - xh * meanGx);
                    }
                }
            }
        });
        for (int c = 0; c < chunks; c++)
            for (int h = 0; h < heads; h++) {
                gg[h] += (float) partial[c * 2 * heads + h];
                gb[h] += (float) partial[c * 2 * heads + heads + h];
            }
    }

    @Override
    public void attentionApply(Tensor weights, Tensor v, Tensor o, int batchHeads, int tokens, int headDim) {
        int th = tokens * headDim;
        Matmul.batchedNN(batchHeads, f(weights), 0, tokens * tokens, tokens, f(v), 0, th, headDim, f(o), 0, th, headDim,
                tokens, headDim, tokens, 1f, false);
    }

    @Override
    public void attentionApplyBackward(Tensor dO, Tensor weights, Tensor v, Tensor dWeights, Tensor dv,
                                       int batchHeads, int tokens, int headDim) {
        int th = tokens * headDim, tt = tokens * tokens;
        // dA += dO·vᵀ ; dv += Aᵀ·dO
        Matmul.batchedNT(batchHeads, f(dO), 0, th, headDim, f(v), 0, th, headDim, f(dWeights), 0, tt, tokens,
                tokens, tokens, headDim, 1f, true);
        Matmul.batchedTN(batchHeads, f(weights), 0, tt, tokens, f(dO), 0, th, headDim, f(dv), 0, th, headDim,
                tokens, headDim, tokens, 1f, true);
    }

    // ---------------------------------------------------------------- pooling, loss, optimiser

    @Override
    public void pool(Tensor tokens, Tensor pooled, int batch, int tokenCount, int dim, PoolMode mode) {
        float[] x = f(tokens), y = f(pooled);
        CpuParallel.parallelFor(batch, 1, (s, e) -> {
            for (int b = s; b < e; b++) {
                if (mode == PoolMode.CLS) System.arraycopy(x, b * tokenCount * dim, y, b * dim, dim);
                else {
                    Arrays.fill(y, b * dim, (b + 1) * dim, 0f);
                    for (int t = 0; t < tokenCount; t++)
                        for (int i = 0; i < dim; i++) y[b * dim + i] += x[(b * tokenCount + t) * dim + i];
                    for (int i = 0; i < dim; i++) y[b * dim + i] /= tokenCount;
                }
            }
        });
    }

    @Override
    public void poolBackward(Tensor dPooled, Tensor dTokens, int batch, int tokenCount, int dim, PoolMode mode) {
        float[] g = f(dPooled), gx = f(dTokens);
        CpuParallel.parallelFor(batch, 1, (s, e) -> {
            for (int b = s; b < e; b++) {
                if (mode == PoolMode.CLS) for (int i = 0; i < dim; i++) gx[b * tokenCount * dim + i] += g[b * dim + i];
                else for (int t = 0; t < tokenCount; t++)
                    for (int i = 0; i < dim; i++) gx[(b * tokenCount + t) * dim + i] += g[b * dim + i] / tokenCount;
            }
        });
    }

    @Override
    public void crossEntropy(Tensor logits, Tensor labels, Tensor loss, Tensor dLogits, int batch, int classes,
                             double labelSmoothing) {
        float[] z = f(logits), y = f(labels), out = f(loss), gz = f(dLogits);
        double total = 0;
        for (int b = 0; b < batch; b++) {
            int label = (int) y[b];
            if (label < 0 || label >= classes) {
                throw new IllegalArgumentException("label " + label + " of sample " + b + " is outside [0," + classes + ")");
            }
            int o = b * classes;
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < classes; c++) max = Math.max(max, z[o + c]);
            double sum = 0;
            for (int c = 0; c < classes; c++) sum += Math.exp(z[o + c] - max);
            double logSum = max + Math.log(sum);
            for (int c = 0; c < classes; c++) {
                double target = labelSmoothing / classes + (c == label ? 1 - labelSmoothing : 0);
                double logP = z[o + c] - logSum;
                total -= target * logP;
                gz[o + c] = (float) ((Math.exp(logP) - target) / batch);
            }
        }
        out[0] = (float) (total / batch);
    }

    @Override
    public void sumOfSquares(Tensor x, int n, Tensor acc, int index) {
        float[] in = f(x);
        int chunks = Math.min(REDUCTION_CHUNKS, Math.max(1, n / 4096));
        double[] partial = scratch(chunks);
        CpuParallel.parallelFor(chunks, 1, (cs, ce) -> {
            for (int c = cs; c < ce; c++) {
                int start = (int) ((long) n * c / chunks), end = (int) ((long) n * (c + 1) / chunks);
                double s = 0;
                for (int i = start; i < end; i++) s += (double) in[i] * in[i];
                partial[c] = s;
            }
        });
        double total = 0;
        for (int c = 0; c < chunks; c++) total += partial[c];
        f(acc)[index] += (float) total;
    }

    @Override
    public void adamW(Tensor param, Tensor grad, Tensor m, Tensor v, int n, Tensor hyper, double weightDecay,
                      double beta1, double beta2, double eps) {
        float[] p = f(param), g = f(grad), mm = f(m), vv = f(v), hp = f(hyper);
        float lr = hp[0], bc1 = hp[1], bc2 = hp[2], gradScale = hp[3];
        float decay = (float) (1 - lr * weightDecay), b1 = (float) beta1, b2 = (float) beta2, e = (float) eps;
        float step = lr / bc1, invSqrtBc2 = (float) (1 / Math.sqrt(bc2));
        CpuParallel.parallelFor(n, 8192, (s, en) -> {
            for (int i = s; i < en; i++) {
                float gi = g[i] * gradScale;
                float mi = b1 * mm[i] + (1 - b1) * gi;
                float vi = b2 * vv[i] + (1 - b2) * gi * gi;
                mm[i] = mi;
                vv[i] = vi;
                p[i] = p[i] * decay - step * mi / ((float) Math.sqrt(vi) * invSqrtBc2 + e);
            }
        });
    }
}
