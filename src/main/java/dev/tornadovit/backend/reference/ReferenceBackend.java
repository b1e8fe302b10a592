package dev.tornadovit.backend.reference;

import dev.tornadovit.tensor.AdamWUpdate;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.MathConstants;
import dev.tornadovit.tensor.PoolMode;
import dev.tornadovit.tensor.Precision;
import dev.tornadovit.tensor.Erf;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tensor.Write;

/**
 * The readable reference: every operation as plain single-threaded loops in float64, forward and backward side by
 * side. Gradient checks run the whole model on it against finite differences; every fast kernel is checked
 * against it. It runs {@link Precision#FP32} only: in its float64 nothing is rounded to a narrower format, and
 * emulating tf32 or bf16 here would take away the reference the other backends are checked against. Re-attention's
 * operations on stacks of attention maps live in {@link ReferenceHeadMaps}.
 */
public final class ReferenceBackend implements Backend {

    public ReferenceBackend() {
    }

    /** A reference backend for {@code precision}, which must be fp32: any other is refused in one line. */
    public ReferenceBackend(Precision precision) {
        if (precision != Precision.FP32) {
            throw new IllegalArgumentException("device reference (float64, for gradient checks) runs precision fp32 "
                    + "only, not " + precision + ": use --device cpu, which emulates " + precision);
        }
    }

    static final class RefTensor implements Tensor {
        final double[] data;
        final ReferenceBackend owner;

        RefTensor(ReferenceBackend owner, int size) {
            this.owner = owner;
            this.data = new double[size];
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

    private double[] d(Tensor t) {
        if (!(t instanceof RefTensor r) || r.owner != this) {
            throw new IllegalArgumentException("tensor does not belong to this reference backend: " + t);
        }
        return r.data;
    }

    @Override
    public String name() {
        return "reference (float64)";
    }

    @Override
    public boolean isDoublePrecision() {
        return true;
    }

    /** fp32: no operand is rounded to a narrower format (the tensors themselves are float64). */
    @Override
    public Precision precision() {
        return Precision.FP32;
    }

    @Override
    public Tensor allocate(int size) {
        return new RefTensor(this, size);
    }

    @Override
    public void upload(Tensor dst, float[] src) {
        double[] x = d(dst);
        for (int i = 0; i < src.length; i++) x[i] = src[i];
    }

    @Override
    public void upload(Tensor dst, double[] src) {
        System.arraycopy(src, 0, d(dst), 0, src.length);
    }

    @Override
    public float[] downloadFloat(Tensor src) {
        double[] x = d(src);
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) out[i] = (float) x[i];
        return out;
    }

    @Override
    public double[] downloadDouble(Tensor src) {
        return d(src).clone();
    }

    @Override
    public void zero(Tensor t) {
        java.util.Arrays.fill(d(t), 0);
    }

    @Override
    public void copy(Tensor src, Tensor dst, int n) {
        System.arraycopy(d(src), 0, d(dst), 0, n);
    }

    // ---------------------------------------------------------------- elementwise

    @Override
    public void add(Tensor a, Tensor b, Tensor out, int n) {
        double[] x = d(a), y = d(b), o = d(out);
        for (int i = 0; i < n; i++) o[i] = x[i] + y[i];
    }

    @Override
    public void accumulate(Tensor dst, Tensor src, int n) {
        double[] o = d(dst), s = d(src);
        for (int i = 0; i < n; i++) o[i] += s[i];
    }

    static double gelu(double x) {
        return 0.5 * x * (1 + Erf.erf(x * MathConstants.INV_SQRT2));
    }

    static double geluDerivative(double x) {
        return 0.5 * (1 + Erf.erf(x * MathConstants.INV_SQRT2)) + x * MathConstants.INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    }

    @Override
    public void gelu(Tensor x, Tensor y, int n) {
        double[] in = d(x), out = d(y);
        for (int i = 0; i < n; i++) out[i] = gelu(in[i]);
    }

    @Override
    public void geluBackward(Tensor x, Tensor dy, Tensor dx, int n, Write write) {
        if (write == Write.OVERWRITE) zero(dx);
        double[] in = d(x), g = d(dy), out = d(dx);
        for (int i = 0; i < n; i++) out[i] += g[i] * geluDerivative(in[i]);
    }

    static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    @Override
    public void sigmoidGate(Tensor gatePre, Tensor o, Tensor out, int n) {
        double[] g = d(gatePre), x = d(o), y = d(out);
        for (int i = 0; i < n; i++) y[i] = x[i] * sigmoid(g[i]);
    }

    @Override
    public void sigmoidGateBackward(Tensor gatePre, Tensor o, Tensor dOut, Tensor dGatePre, Tensor dO, int n) {
        double[] g = d(gatePre), x = d(o), dy = d(dOut), dg = d(dGatePre), dx = d(dO);
        for (int i = 0; i < n; i++) {
            double s = sigmoid(g[i]);
            dx[i] += dy[i] * s;
            dg[i] += dy[i] * x[i] * s * (1 - s);
        }
    }

    // ---------------------------------------------------------------- patches and tokens

    @Override
    public void im2col(Tensor images, Tensor patches, int batch, int channels, int height, int width, int patch) {
        double[] img = d(images), out = d(patches);
        int gh = height / patch, gw = width / patch, rowLen = channels * patch * patch;
        for (int b = 0; b < batch; b++)
            for (int py = 0; py < gh; py++)
                for (int px = 0; px < gw; px++) {
                    int row = (b * gh + py) * gw + px;
                    for (int c = 0; c < channels; c++)
                        for (int dy = 0; dy < patch; dy++)
                            for (int dx = 0; dx < patch; dx++) {
                                out[row * rowLen + (c * patch + dy) * patch + dx] =
                                        img[((b * channels + c) * height + py * patch + dy) * width + px * patch + dx];
                            }
                }
    }

    @Override
    public void assembleTokens(Tensor patchEmbeddings, Tensor cls, Tensor pos, Tensor fixedPos, Tensor tokens,
                               int batch, int patches, int dim) {
        double[] pe = d(patchEmbeddings), out = d(tokens);
        double[] c = cls == null ? null : d(cls), p = pos == null ? null : d(pos), fp = fixedPos == null ? null : d(fixedPos);
        int first = c == null ? 0 : 1, tokenCount = patches + first;
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < tokenCount; t++)
                for (int i = 0; i < dim; i++) {
                    double v;
                    if (t < first) v = c[i];
                    else {
                        v = pe[(b * patches + t - first) * dim + i];
                        if (fp != null) v += fp[(t - first) * dim + i];
                    }
                    if (p != null) v += p[t * dim + i];
                    out[(b * tokenCount + t) * dim + i] = v;
                }
    }

    @Override
    public void assembleTokensBackward(Tensor dTokens, Tensor dPatchEmbeddings, Tensor dCls, Tensor dPos,
                                       int batch, int patches, int dim, boolean hasCls) {
        double[] g = d(dTokens), dpe = d(dPatchEmbeddings);
        double[] dc = dCls == null ? null : d(dCls), dp = dPos == null ? null : d(dPos);
        int first = hasCls ? 1 : 0, tokenCount = patches + first;
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < tokenCount; t++)
                for (int i = 0; i < dim; i++) {
                    double v = g[(b * tokenCount + t) * dim + i];
                    if (t < first) {
                        if (dc != null) dc[i] += v;
                    } else dpe[(b * patches + t - first) * dim + i] += v;
                    if (dp != null) dp[t * dim + i] += v;
                }
    }

    // ---------------------------------------------------------------- linear

    @Override
    public void linear(Tensor x, Tensor w, Tensor bias, Tensor y, int m, int k, int n) {
        double[] in = d(x), wt = d(w), out = d(y), b = bias == null ? null : d(bias);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = b == null ? 0 : b[j];
                for (int p = 0; p < k; p++) s += in[i * k + p] * wt[j * k + p];
                out[i * n + j] = s;
            }
    }

    @Override
    public void linearBackward(Tensor dy, Tensor x, Tensor w, Tensor dx, Tensor dw, Tensor dBias, int m, int k, int n,
                               Write dxWrite) {
        if (dx != null && dxWrite == Write.OVERWRITE) zero(dx);
        double[] g = d(dy), in = d(x), wt = d(w), gw = d(dw);
        double[] gx = dx == null ? null : d(dx), gb = dBias == null ? null : d(dBias);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double gij = g[i * n + j];
                if (gb != null) gb[j] += gij;
                for (int p = 0; p < k; p++) {
                    if (gx != null) gx[i * k + p] += gij * wt[j * k + p];
                    gw[j * k + p] += gij * in[i * k + p];
                }
            }
    }

    // ---------------------------------------------------------------- normalisation

    @Override
    public void layerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int m, int dim,
                          double eps) {
        double[] in = d(x), g = d(gamma), bt = d(beta), out = d(y), mu = d(mean), rs = d(rstd);
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int j = 0; j < dim; j++) s += in[i * dim + j];
            double mean_ = s / dim, v = 0;
            for (int j = 0; j < dim; j++) {
                double c = in[i * dim + j] - mean_;
                v += c * c;
            }
            double r = 1 / Math.sqrt(v / dim + eps);
            mu[i] = mean_;
            rs[i] = r;
            for (int j = 0; j < dim; j++) out[i * dim + j] = (in[i * dim + j] - mean_) * r * g[j] + bt[j];
        }
    }

    @Override
    public void layerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                                  Tensor dGamma, Tensor dBeta, int m, int dim) {
        double[] g = d(dy), in = d(x), gm = d(gamma), mu = d(mean), rs = d(rstd), gx = d(dx), gg = d(dGamma), gbt = d(dBeta);
        for (int i = 0; i < m; i++) {
            // dx = r·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)) with ĝ = dy·γ and x̂ the normalised input
            double meanG = 0, meanGx = 0;
            for (int j = 0; j < dim; j++) {
                double xh = (in[i * dim + j] - mu[i]) * rs[i];
                double gh = g[i * dim + j] * gm[j];
                meanG += gh;
                meanGx += gh * xh;
                gg[j] += g[i * dim + j] * xh;
                gbt[j] += g[i * dim + j];
            }
            meanG /= dim;
            meanGx /= dim;
            for (int j = 0; j < dim; j++) {
                double xh = (in[i * dim + j] - mu[i]) * rs[i];
                gx[i * dim + j] += rs[i] * (g[i * dim + j] * gm[j] - meanG - xh * meanGx);
            }
        }
    }

    // ---------------------------------------------------------------- attention

    @Override
    public void splitHeads(Tensor qkv, Tensor q, Tensor k, Tensor v, int batch, int tokens, int heads, int headDim) {
        double[] in = d(qkv);
        double[][] outs = {d(q), d(k), d(v)};
        int dim = heads * headDim;
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < tokens; t++)
                for (int which = 0; which < 3; which++)
                    for (int h = 0; h < heads; h++)
                        for (int e = 0; e < headDim; e++)
                            outs[which][((b * heads + h) * tokens + t) * headDim + e] =
                                    in[((b * tokens + t) * 3 + which) * dim + h * headDim + e];
    }

    @Override
    public void splitHeadsBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dQkv, int batch, int tokens, int heads,
                                   int headDim, Write write) {
        if (write == Write.OVERWRITE) zero(dQkv);
        double[] out = d(dQkv);
        double[][] ins = {d(dq), d(dk), d(dv)};
        int dim = heads * headDim;
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < tokens; t++)
                for (int which = 0; which < 3; which++)
                    for (int h = 0; h < heads; h++)
                        for (int e = 0; e < headDim; e++)
                            out[((b * tokens + t) * 3 + which) * dim + h * headDim + e] +=
                                    ins[which][((b * heads + h) * tokens + t) * headDim + e];
    }

    @Override
    public void mergeHeads(Tensor o, Tensor out, int batch, int tokens, int heads, int headDim) {
        double[] in = d(o), y = d(out);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int t = 0; t < tokens; t++)
                    for (int e = 0; e < headDim; e++)
                        y[(b * tokens + t) * heads * headDim + h * headDim + e] = in[((b * heads + h) * tokens + t) * headDim + e];
    }

    @Override
    public void mergeHeadsBackward(Tensor dOut, Tensor dO, int batch, int tokens, int heads, int headDim,
                                   Write write) {
        if (write == Write.OVERWRITE) zero(dO);
        double[] g = d(dOut), gx = d(dO);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int t = 0; t < tokens; t++)
                    for (int e = 0; e < headDim; e++)
                        gx[((b * heads + h) * tokens + t) * headDim + e] += g[(b * tokens + t) * heads * headDim + h * headDim + e];
    }

    @Override
    public void attentionScores(Tensor q, Tensor k, Tensor scores, int batchHeads, int tokens, int headDim,
                                double scale) {
        double[] qq = d(q), kk = d(k), s = d(scores);
        for (int bh = 0; bh < batchHeads; bh++)
            for (int i = 0; i < tokens; i++)
                for (int j = 0; j < tokens; j++) {
                    double acc = 0;
                    for (int e = 0; e < headDim; e++)
                        acc += qq[(bh * tokens + i) * headDim + e] * kk[(bh * tokens + j) * headDim + e];
                    s[(bh * tokens + i) * tokens + j] = scale * acc;
                }
    }

    @Override
    public void attentionScoresBackward(Tensor dScores, Tensor q, Tensor k, Tensor dq, Tensor dk, int batchHeads,
                                        int tokens, int headDim, double scale) {
        double[] g = d(dScores), qq = d(q), kk = d(k), gq = d(dq), gk = d(dk);
        for (int bh = 0; bh < batchHeads; bh++)
            for (int i = 0; i < tokens; i++)
                for (int j = 0; j < tokens; j++) {
                    double gij = scale * g[(bh * tokens + i) * tokens + j];
                    for (int e = 0; e < headDim; e++) {
                        gq[(bh * tokens + i) * headDim + e] += gij * kk[(bh * tokens + j) * headDim + e];
                        gk[(bh * tokens + j) * headDim + e] += gij * qq[(bh * tokens + i) * headDim + e];
                    }
                }
    }

    @Override
    public void attentionWeights(Tensor scores, Tensor weights, int rows, int keys, AttentionWeighting weighting) {
        double[] s = d(scores), a = d(weights);
        double scale = weighting.scale(keys);
        for (int r = 0; r < rows; r++) {
            int o = r * keys;
            if (weighting.softmax()) {
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < keys; j++) max = Math.max(max, s[o + j]);
                double sum = 0;
                for (int j = 0; j < keys; j++) {
                    a[o + j] = Math.exp(s[o + j] - max);
                    sum += a[o + j];
                }
                for (int j = 0; j < keys; j++) a[o + j] /= sum;
            } else {
                for (int j = 0; j < keys; j++) a[o + j] = scale * weighting.activation().apply(s[o + j]);
            }
        }
    }

    @Override
    public void attentionWeightsBackward(Tensor scores, Tensor weights, Tensor dWeights, Tensor dScores, int rows,
                                         int keys, AttentionWeighting weighting) {
        double[] s = d(scores), a = d(weights), ga = d(dWeights), gs = d(dScores);
        double scale = weighting.scale(keys);
        for (int r = 0; r < rows; r++) {
            int o = r * keys;
            if (weighting.softmax()) {
                // ds_j = a_j (da_j - Σ_k a_k da_k)
                double dot = 0;
                for (int j = 0; j < keys; j++) dot += a[o + j] * ga[o + j];
                for (int j = 0; j < keys; j++) gs[o + j] += a[o + j] * (ga[o + j] - dot);
            } else {
                for (int j = 0; j < keys; j++) gs[o + j] += ga[o + j] * scale * weighting.activation().derivative(s[o + j]);
            }
        }
    }

    @Override
    public void headMix(Tensor maps, Tensor theta, Tensor bias, Tensor out, int batch, int heads, int mapSize) {
        ReferenceHeadMaps.headMix(d(maps), d(theta), d(bias), d(out), batch, heads, mapSize);
    }

    @Override
    public void headMixBackward(Tensor dOut, Tensor maps, Tensor theta, Tensor dMaps, Tensor dTheta, Tensor dBias,
                                int batch, int heads, int mapSize) {
        ReferenceHeadMaps.headMixBackward(d(dOut), d(maps), d(theta), d(dMaps), d(dTheta), d(dBias), batch, heads,
                mapSize);
    }

    @Override
    public void headBatchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd,
                              Tensor runningMean, Tensor runningVar, int batch, int heads, int mapSize, double eps,
                              double momentum, boolean training) {
        ReferenceHeadMaps.headBatchNorm(d(x), d(gamma), d(beta), d(y), d(mean), d(rstd), d(runningMean),
                d(runningVar), batch, heads, mapSize, eps, momentum, training);
    }

    @Override
    public void headBatchNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                                      Tensor dGamma, Tensor dBeta, int batch, int heads, int mapSize) {
        ReferenceHeadMaps.headBatchNormBackward(d(dy), d(x), d(gamma), d(mean), d(rstd), d(dx), d(dGamma), d(dBeta),
                batch, heads, mapSize);
    }

    @Override
    public void headLayerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int batch,
                              int heads, int mapSize, double eps) {
        ReferenceHeadMaps.headLayerNorm(d(x), d(gamma), d(beta), d(y), d(mean), d(rstd), batch, heads, mapSize, eps);
    }

    @Override
    public void headLayerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                                      Tensor dGamma, Tensor dBeta, int batch, int heads, int mapSize) {
        ReferenceHeadMaps.headLayerNormBackward(d(dy), d(x), d(gamma), d(mean), d(rstd), d(dx), d(dGamma), d(dBeta),
                batch, heads, mapSize);
    }

    @Override
    public void attentionApply(Tensor weights, Tensor v, Tensor o, int batchHeads, int tokens, int headDim) {
        double[] a = d(weights), vv = d(v), out = d(o);
        for (int bh = 0; bh < batchHeads; bh++)
            for (int i = 0; i < tokens; i++)
                for (int e = 0; e < headDim; e++) {
                    double acc = 0;
                    for (int j = 0; j < tokens; j++)
                        acc += a[(bh * tokens + i) * tokens + j] * vv[(bh * tokens + j) * headDim + e];
                    out[(bh * tokens + i) * headDim + e] = acc;
                }
    }

    @Override
    public void attentionApplyBackward(Tensor dO, Tensor weights, Tensor v, Tensor dWeights, Tensor dv,
                                       int batchHeads, int tokens, int headDim) {
        double[] g = d(dO), a = d(weights), vv = d(v), ga = d(dWeights), gv = d(dv);
        for (int bh = 0; bh < batchHeads; bh++)
            for (int i = 0; i < tokens; i++)
                for (int j = 0; j < tokens; j++) {
                    double aij = a[(bh * tokens + i) * tokens + j], acc = 0;
                    for (int e = 0; e < headDim; e++) {
                        double gie = g[(bh * tokens + i) * headDim + e];
                        acc += gie * vv[(bh * tokens + j) * headDim + e];
                        gv[(bh * tokens + j) * headDim + e] += aij * gie;
                    }
                    ga[(bh * tokens + i) * tokens + j] += acc;
                }
    }

    // ---------------------------------------------------------------- pooling, loss, optimiser

    @Override
    public void pool(Tensor tokens, Tensor pooled, int batch, int tokenCount, int dim, PoolMode mode) {
        double[] x = d(tokens), y = d(pooled);
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < dim; i++) {
                if (mode == PoolMode.CLS) y[b * dim + i] = x[b * tokenCount * dim + i];
                else {
                    double s = 0;
                    for (int t = 0; t < tokenCount; t++) s += x[(b * tokenCount + t) * dim + i];
                    y[b * dim + i] = s / tokenCount;
                }
            }
    }

    @Override
    public void poolBackward(Tensor dPooled, Tensor dTokens, int batch, int tokenCount, int dim, PoolMode mode) {
        double[] g = d(dPooled), gx = d(dTokens);
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < dim; i++) {
                if (mode == PoolMode.CLS) gx[b * tokenCount * dim + i] += g[b * dim + i];
                else for (int t = 0; t < tokenCount; t++) gx[(b * tokenCount + t) * dim + i] += g[b * dim + i] / tokenCount;
            }
    }

    @Override
    public void crossEntropy(Tensor logits, Tensor labels, Tensor loss, Tensor dLogits, int batch, int classes,
                             double labelSmoothing) {
        double[] z = d(logits), y = d(labels), out = d(loss), gz = d(dLogits);
        double total = 0;
        for (int b = 0; b < batch; b++) {
            int label = (int) y[b];
            if (label < 0 || label >= classes) {
                throw new IllegalArgumentException("label " + label + " of sample " + b + " is outside [0," + classes + ")");
            }
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < classes; c++) max = Math.max(max, z[b * classes + c]);
            double sum = 0;
            for (int c = 0; c < classes; c++) sum += Math.exp(z[b * classes + c] - max);
            double logSum = max + Math.log(sum);
            for (int c = 0; c < classes; c++) {
                double target = labelSmoothing / classes + (c == label ? 1 - labelSmoothing : 0);
                double logP = z[b * classes + c] - logSum;
                total -= target * logP;
                gz[b * classes + c] = (Math.exp(logP) - target) / batch;
            }
        }
        out[0] = total / batch;
    }

    @Override
    public void sumOfSquares(Tensor x, int n, Tensor acc, int index) {
        double[] in = d(x);
        double s = 0;
        for (int i = 0; i < n; i++) s += in[i] * in[i];
        d(acc)[index] += s;
    }

    @Override
    public void adamW(AdamWUpdate u, double beta1, double beta2, double eps) {
        double[] p = d(u.param()), g = d(u.grad()), mm = d(u.m()), vv = d(u.v()), hp = d(u.hyper());
        double lr = hp[0], bc1 = hp[1], bc2 = hp[2], gradScale = hp[3], weightDecay = u.weightDecay();
        int n = u.param().size(), o = u.momentOffset();
        for (int i = 0; i < n; i++) {
            double gi = g[i] * gradScale;
            p[i] -= lr * weightDecay * p[i];
            mm[o + i] = beta1 * mm[o + i] + (1 - beta1) * gi;
            vv[o + i] = beta2 * vv[o + i] + (1 - beta2) * gi * gi;
            p[i] -= lr * (mm[o + i] / bc1) / (Math.sqrt(vv[o + i] / bc2) + eps);
        }
    }
}
