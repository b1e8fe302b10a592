package dev.tornadovit.backend.cpu;

import dev.tornadovit.tensor.PointwiseActivation;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorised elementwise functions for the CPU backend. The scalar erf with a double exp per element made GELU
 * the largest cost of a small ViT's training step; here one vector exp serves both GELU and its derivative.
 * The attention weightings φ and their derivatives live here too: softmax rows and the pointwise L^-α·h(s).
 * Every loop runs whole vectors and finishes the last few elements with scalars.
 */
public final class VectorMath {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final float INV_SQRT2 = 0.70710678118654752f, INV_SQRT_2PI = 0.39894228040143268f;
    // Abramowitz & Stegun 7.1.26: |erf error| < 1.5e-7, about float32's own resolution near 1.
    private static final float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f,
            A4 = -1.453152027f, A5 = 1.061405429f;

    private VectorMath() {
    }

    /** erf(z) and exp(-z²) at once: the latter is what the GELU derivative needs too. */
    private static FloatVector erf(FloatVector z, FloatVector expNegZ2) {
        FloatVector az = z.abs();
        FloatVector t = FloatVector.broadcast(S, 1f).div(az.fma(P, 1f));
        FloatVector poly = t.fma(A5, A4).fma(t, FloatVector.broadcast(S, A3)).fma(t, FloatVector.broadcast(S, A2))
                .fma(t, FloatVector.broadcast(S, A1)).mul(t);
        FloatVector erfAbs = poly.mul(expNegZ2).neg().add(1f);
        return erfAbs.blend(erfAbs.neg(), z.compare(VectorOperators.LT, 0f));
    }

    private static float erfScalar(float z) {
        float az = Math.abs(z), t = 1f / (1f + P * az);
        float poly = ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t;
        float r = 1f - poly * (float) Math.exp(-az * az);
        return z < 0 ? -r : r;
    }

    /** y[i] = GELU(x[i]) (erf form) for i in [start, end). */
    public static void gelu(float[] x, float[] y, int start, int end) {
        int i = start, bound = start + S.loopBound(end - start);
        for (; i < bound; i += S.length()) {
            FloatVector v = FloatVector.fromArray(S, x, i);
            FloatVector z = v.mul(INV_SQRT2);
            FloatVector e = z.mul(z).neg().lanewise(VectorOperators.EXP);
            v.mul(0.5f).mul(erf(z, e).add(1f)).intoArray(y, i);
        }
        for (; i < end; i++) y[i] = 0.5f * x[i] * (1 + erfScalar(x[i] * INV_SQRT2));
    }

    /** dx[i] += dy[i] · GELU'(x[i]) for i in [start, end). */
    public static void geluBackward(float[] x, float[] dy, float[] dx, int start, int end) {
        int i = start, bound = start + S.loopBound(end - start);
        for (; i < bound; i += S.length()) {
            FloatVector v = FloatVector.fromArray(S, x, i);
            FloatVector z = v.mul(INV_SQRT2);
            FloatVector e = z.mul(z).neg().lanewise(VectorOperators.EXP);
            FloatVector cdf = erf(z, e).add(1f).mul(0.5f);
            FloatVector derivative = v.mul(e).mul(INV_SQRT_2PI).add(cdf);
            FloatVector.fromArray(S, dy, i).fma(derivative, FloatVector.fromArray(S, dx, i)).intoArray(dx, i);
        }
        for (; i < end; i++) {
            float v = x[i], z = v * INV_SQRT2;
            float cdf = 0.5f * (1 + erfScalar(z));
            dx[i] += dy[i] * (cdf + v * INV_SQRT_2PI * (float) Math.exp(-z * z));
        }
    }

    private static FloatVector geluDerivative(FloatVector v) {
        FloatVector z = v.mul(INV_SQRT2);
        FloatVector e = z.mul(z).neg().lanewise(VectorOperators.EXP);
        return v.mul(e).mul(INV_SQRT_2PI).add(erf(z, e).add(1f).mul(0.5f));
    }

    private static FloatVector sigmoid(FloatVector v) {
        return FloatVector.broadcast(S, 1f).div(v.neg().lanewise(VectorOperators.EXP).add(1f));
    }

    // ---------------------------------------------------------------- layer normalisation

    /** LayerNorm of rows [start, end) of x [·,d]: y = (x − mean)·rstd·γ + β, keeping mean and rstd per row. */
    public static void layerNormRows(float[] x, float[] gamma, float[] beta, float[] y, float[] mean, float[] rstd,
                                     int start, int end, int d, double eps) {
        int bound = S.loopBound(d);
        for (int i = start; i < end; i++) {
            int o = i * d, j = 0;
            FloatVector vsum = FloatVector.zero(S);
            for (; j < bound; j += S.length()) vsum = vsum.add(FloatVector.fromArray(S, x, o + j));
            float sum = vsum.reduceLanes(VectorOperators.ADD);
            for (; j < d; j++) sum += x[o + j];
            float m = sum / d;
            // Two passes (centre, then square) rather than E[x²] − m², which cancels badly.
            FloatVector vvar = FloatVector.zero(S);
            for (j = 0; j < bound; j += S.length()) {
                FloatVector c = FloatVector.fromArray(S, x, o + j).sub(m);
                vvar = c.fma(c, vvar);
            }
            float var = vvar.reduceLanes(VectorOperators.ADD);
            for (; j < d; j++) var += (x[o + j] - m) * (x[o + j] - m);
            float r = (float) (1 / Math.sqrt(var / d + eps));
            mean[i] = m;
            rstd[i] = r;
            for (j = 0; j < bound; j += S.length()) {
                FloatVector.fromArray(S, x, o + j).sub(m).mul(r)
                        .fma(FloatVector.fromArray(S, gamma, j), FloatVector.fromArray(S, beta, j)).intoArray(y, o + j);
            }
            for (; j < d; j++) y[o + j] = (x[o + j] - m) * r * gamma[j] + beta[j];
        }
    }

    /**
     * LayerNorm's backward for rows [start, end): dx += rstd·(dy·γ − mean(dy·γ) − x̂·mean(dy·γ·x̂)) with
     * x̂ = (x − mean)·rstd, and this range's parts of the parameter gradients: dGammaPart[gammaOff + j] += Σ dy·x̂,
     * dBetaPart[betaOff + j] += Σ dy.
     */
    public static void layerNormBackwardRows(float[] dy, float[] x, float[] gamma, float[] mean, float[] rstd,
                                             float[] dx, float[] dGammaPart, int gammaOff, float[] dBetaPart,
                                             int betaOff, int start, int end, int d) {
        int bound = S.loopBound(d);
        for (int i = start; i < end; i++) {
            int o = i * d, j = 0;
            float m = mean[i], r = rstd[i];
            FloatVector vg = FloatVector.zero(S), vgx = FloatVector.zero(S);
            for (; j < bound; j += S.length()) {
                FloatVector g = FloatVector.fromArray(S, dy, o + j);
                FloatVector xh = FloatVector.fromArray(S, x, o + j).sub(m).mul(r);
                FloatVector gh = g.mul(FloatVector.fromArray(S, gamma, j));
                vg = vg.add(gh);
                vgx = gh.fma(xh, vgx);
                g.fma(xh, FloatVector.fromArray(S, dGammaPart, gammaOff + j)).intoArray(dGammaPart, gammaOff + j);
                g.add(FloatVector.fromArray(S, dBetaPart, betaOff + j)).intoArray(dBetaPart, betaOff + j);
            }
            float sumG = vg.reduceLanes(VectorOperators.ADD), sumGx = vgx.reduceLanes(VectorOperators.ADD);
            for (; j < d; j++) {
                float g = dy[o + j], xh = (x[o + j] - m) * r, gh = g * gamma[j];
                sumG += gh;
                sumGx += gh * xh;
                dGammaPart[gammaOff + j] += g * xh;
                dBetaPart[betaOff + j] += g;
            }
            float meanG = sumG / d, meanGx = sumGx / d;
            for (j = 0; j < bound; j += S.length()) {
                FloatVector xh = FloatVector.fromArray(S, x, o + j).sub(m).mul(r);
                FloatVector gh = FloatVector.fromArray(S, dy, o + j).mul(FloatVector.fromArray(S, gamma, j));
                gh.sub(meanG).sub(xh.mul(meanGx)).mul(r).add(FloatVector.fromArray(S, dx, o + j)).intoArray(dx, o + j);
            }
            for (; j < d; j++) {
                float xh = (x[o + j] - m) * r;
                dx[o + j] += r * (dy[o + j] * gamma[j] - meanG - xh * meanGx);
            }
        }
    }

    // ---------------------------------------------------------------- attention weightings

    /** dst[dOff..+n) = softmax(src[sOff..+n)): one row of attention weights. */
    public static void softmaxRow(float[] src, int sOff, float[] dst, int dOff, int n) {
        int bound = S.loopBound(n), j = 0;
        FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (; j < bound; j += S.length()) vmax = vmax.max(FloatVector.fromArray(S, src, sOff + j));
        float max = vmax.reduceLanes(VectorOperators.MAX);
        for (; j < n; j++) max = Math.max(max, src[sOff + j]);
        FloatVector vsum = FloatVector.zero(S);
        for (j = 0; j < bound; j += S.length()) {
            FloatVector e = FloatVector.fromArray(S, src, sOff + j).sub(max).lanewise(VectorOperators.EXP);
            e.intoArray(dst, dOff + j);
            vsum = vsum.add(e);
        }
        float sum = vsum.reduceLanes(VectorOperators.ADD);
        for (; j < n; j++) {
            float e = (float) Math.exp(src[sOff + j] - max);
            dst[dOff + j] = e;
            sum += e;
        }
        float inv = 1 / sum;
        for (j = 0; j < bound; j += S.length()) FloatVector.fromArray(S, dst, dOff + j).mul(inv).intoArray(dst, dOff + j);
        for (; j < n; j++) dst[dOff + j] *= inv;
    }

    /**
     * Softmax's backward for one row: dS = a ⊙ (dA − ⟨a, dA⟩), written to dS (or added when {@code accumulate}).
     * dS may be dA itself.
     */
    public static void softmaxBackwardRow(float[] a, int aOff, float[] dA, int gOff, float[] dS, int dsOff, int n,
                                          boolean accumulate) {
        int bound = S.loopBound(n), j = 0;
        FloatVector vdot = FloatVector.zero(S);
        for (; j < bound; j += S.length()) {
            vdot = FloatVector.fromArray(S, a, aOff + j).fma(FloatVector.fromArray(S, dA, gOff + j), vdot);
        }
        float dot = vdot.reduceLanes(VectorOperators.ADD);
        for (; j < n; j++) dot += a[aOff + j] * dA[gOff + j];
        for (j = 0; j < bound; j += S.length()) {
            FloatVector r = FloatVector.fromArray(S, dA, gOff + j).sub(dot).mul(FloatVector.fromArray(S, a, aOff + j));
            if (accumulate) r = r.add(FloatVector.fromArray(S, dS, dsOff + j));
            r.intoArray(dS, dsOff + j);
        }
        for (; j < n; j++) {
            float r = a[aOff + j] * (dA[gOff + j] - dot);
            dS[dsOff + j] = accumulate ? dS[dsOff + j] + r : r;
        }
    }

    /** a[aOff..+n) = scale · h(s[sOff..+n)): pointwise attention weights, scale = L^-α. */
    public static void pointwiseWeights(PointwiseActivation h, float scale, float[] s, int sOff, float[] a, int aOff,
                                        int n) {
        int bound = S.loopBound(n), j = 0;
        switch (h) {
            case RELU -> {
                for (; j < bound; j += S.length())
                    FloatVector.fromArray(S, s, sOff + j).max(0f).mul(scale).intoArray(a, aOff + j);
            }
            case RELU2 -> {
                for (; j < bound; j += S.length()) {
                    FloatVector r = FloatVector.fromArray(S, s, sOff + j).max(0f);
                    r.mul(r).mul(scale).intoArray(a, aOff + j);
                }
            }
            case RELU6 -> {
                for (; j < bound; j += S.length())
                    FloatVector.fromArray(S, s, sOff + j).max(0f).min(6f).mul(scale).intoArray(a, aOff + j);
            }
            case IDENTITY -> {
                for (; j < bound; j += S.length()) FloatVector.fromArray(S, s, sOff + j).mul(scale).intoArray(a, aOff + j);
            }
            case SIGMOID -> {
                for (; j < bound; j += S.length())
                    sigmoid(FloatVector.fromArray(S, s, sOff + j)).mul(scale).intoArray(a, aOff + j);
            }
            case GELU -> {
                for (; j < bound; j += S.length()) {
                    FloatVector v = FloatVector.fromArray(S, s, sOff + j);
                    FloatVector z = v.mul(INV_SQRT2);
                    FloatVector e = z.mul(z).neg().lanewise(VectorOperators.EXP);
                    v.mul(0.5f * scale).mul(erf(z, e).add(1f)).intoArray(a, aOff + j);
                }
            }
            case SOFTPLUS -> {
                // max(s, 0) + log1p(exp(−|s|)): never overflows.
                for (; j < bound; j += S.length()) {
                    FloatVector v = FloatVector.fromArray(S, s, sOff + j);
                    v.abs().neg().lanewise(VectorOperators.EXP).lanewise(VectorOperators.LOG1P).add(v.max(0f))
                            .mul(scale).intoArray(a, aOff + j);
                }
            }
        }
        for (; j < n; j++) a[aOff + j] = (float) (scale * h.apply(s[sOff + j]));
    }

    /** Writes r to dS at i, or adds it to what is there. */
    private static void store(FloatVector r, float[] dS, int i, boolean accumulate) {
        (accumulate ? r.add(FloatVector.fromArray(S, dS, i)) : r).intoArray(dS, i);
    }

    /** dS (+)= dA ⊙ scale·h'(s), from the scores s. dS may be dA itself. */
    public static void pointwiseBackwardFromScores(PointwiseActivation h, float scale, float[] s, int sOff, float[] dA,
                                                   int gOff, float[] dS, int dsOff, int n, boolean accumulate) {
        int bound = S.loopBound(n), j = 0;
        // One loop per activation: a switch inside the loop would merge vectors of different cases.
        switch (h) {
            case RELU -> {
                for (; j < bound; j += S.length()) {
                    FloatVector v = FloatVector.fromArray(S, s, sOff + j);
                    FloatVector g = FloatVector.fromArray(S, dA, gOff + j).mul(scale);
                    store(g.blend(0f, v.compare(VectorOperators.LE, 0f)), dS, dsOff + j, accumulate);
                }
            }
            case RELU2 -> {
                for (; j < bound; j += S.length()) {
                    FloatVector v = FloatVector.fromArray(S, s, sOff + j);
                    FloatVector g = FloatVector.fromArray(S, dA, gOff + j).mul(scale);
                    store(g.mul(v.max(0f).mul(2f)), dS, dsOff + j, accumulate);
                }
            }
            case RELU6 -> {
                for (; j < bound; j += S.length()) {
                    FloatVector v = FloatVector.fromArray(S, s, sOff + j);
                    FloatVector g = FloatVector.fromArray(S, dA, gOff + j).mul(scale);
                    store(g.blend(0f, v.compare(VectorOperators.LE, 0f).or(v.compare(VectorOperators.GE, 6f))),
                            dS, dsOff + j, accumulate);
                }
            }
            case IDENTITY -> {
                for (; j < bound; j += S.length())
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(scale), dS, dsOff + j, accumulate);
            }
            case GELU -> {
                for (; j < bound; j += S.length()) {
                    FloatVector v = FloatVector.fromArray(S, s, sOff + j);
                    FloatVector g = FloatVector.fromArray(S, dA, gOff + j).mul(scale);
                    store(g.mul(geluDerivative(v)), dS, dsOff + j, accumulate);
                }
            }
            case SOFTPLUS -> {
                for (; j < bound; j += S.length()) {
                    FloatVector v = FloatVector.fromArray(S, s, sOff + j);
                    FloatVector g = FloatVector.fromArray(S, dA, gOff + j).mul(scale);
                    store(g.mul(sigmoid(v)), dS, dsOff + j, accumulate);
                }
            }
            case SIGMOID -> {
                for (; j < bound; j += S.length()) {
                    FloatVector sg = sigmoid(FloatVector.fromArray(S, s, sOff + j));
                    FloatVector g = FloatVector.fromArray(S, dA, gOff + j).mul(scale);
                    store(g.mul(sg.mul(sg.neg().add(1f))), dS, dsOff + j, accumulate);
                }
            }
        }
        for (; j < n; j++) {
            float r = dA[gOff + j] * scale * (float) h.derivative(s[sOff + j]);
            dS[dsOff + j] = accumulate ? dS[dsOff + j] + r : r;
        }
    }

    /**
     * dS (+)= dA ⊙ scale·h'(s) from the weights a = scale·h(s) alone, for the activations whose derivative they
     * determine (see {@link dev.tornadovit.tensor.AttentionWeighting#backwardNeedsScores()}): relu s > 0 ⟺ a > 0;
     * relu6 0 < s < 6 ⟺ 0 < a < 6·scale; relu² scale·2s = 2√(a·scale); identity constant. dS may be dA itself.
     */
    public static void pointwiseBackwardFromWeights(PointwiseActivation h, float scale, float[] a, int aOff,
                                                    float[] dA, int gOff, float[] dS, int dsOff, int n,
                                                    boolean accumulate) {
        // What the forward gives for s >= 6, rounded the same way.
        float saturated = scale * 6f;
        int bound = S.loopBound(n), j = 0;
        switch (h) {
            case RELU -> {
                for (; j < bound; j += S.length()) {
                    FloatVector w = FloatVector.fromArray(S, a, aOff + j);
                    FloatVector g = FloatVector.fromArray(S, dA, gOff + j).mul(scale);
                    store(g.blend(0f, w.compare(VectorOperators.LE, 0f)), dS, dsOff + j, accumulate);
                }
                for (; j < n; j++) finish(a[aOff + j] > 0 ? dA[gOff + j] * scale : 0f, dS, dsOff + j, accumulate);
            }
            case RELU6 -> {
                for (; j < bound; j += S.length()) {
                    FloatVector w = FloatVector.fromArray(S, a, aOff + j);
                    FloatVector g = FloatVector.fromArray(S, dA, gOff + j).mul(scale);
                    store(g.blend(0f, w.compare(VectorOperators.LE, 0f).or(w.compare(VectorOperators.GE, saturated))),
                            dS, dsOff + j, accumulate);
                }
                for (; j < n; j++) {
                    float w = a[aOff + j];
                    finish(w > 0 && w < saturated ? dA[gOff + j] * scale : 0f, dS, dsOff + j, accumulate);
                }
            }
            case RELU2 -> {
                for (; j < bound; j += S.length()) {
                    FloatVector root = FloatVector.fromArray(S, a, aOff + j).mul(scale).lanewise(VectorOperators.SQRT);
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(root.mul(2f)), dS, dsOff + j, accumulate);
                }
                for (; j < n; j++) {
                    finish(dA[gOff + j] * (2f * (float) Math.sqrt(a[aOff + j] * scale)), dS, dsOff + j, accumulate);
                }
            }
            case IDENTITY -> {
                for (; j < bound; j += S.length())
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(scale), dS, dsOff + j, accumulate);
                for (; j < n; j++) finish(dA[gOff + j] * scale, dS, dsOff + j, accumulate);
            }
            default -> throw new IllegalArgumentException(h + "'s derivative needs the scores, not only the weights");
        }
    }

    private static void finish(float r, float[] dS, int i, boolean accumulate) {
        dS[i] = accumulate ? dS[i] + r : r;
    }
}
