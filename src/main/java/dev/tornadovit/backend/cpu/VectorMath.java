package dev.tornadovit.backend.cpu;

import dev.tornadovit.tensor.PointwiseActivation;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorised elementwise functions for the CPU backend: GELU, LayerNorm, and the attention weightings φ (softmax
 * rows and the pointwise L^-α·h(s)) with their derivatives.
 *
 * <p>Results must not depend on how a loop is split between threads, nor on whether the JIT has compiled the code
 * yet (a resumed run repeats an uninterrupted one bit for bit). So the elementwise functions finish a range with a
 * masked vector, not scalar code of their own; exp is computed here from exact IEEE operations (the Vector API's
 * own EXP is a native routine once compiled but Math.exp lane by lane before, and the two differ in the last bit);
 * and lanes are summed in a fixed order.
 */
public final class VectorMath {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final float INV_SQRT2 = 0.70710678118654752f, INV_SQRT_2PI = 0.39894228040143268f;
    // Abramowitz & Stegun 7.1.26: |erf error| < 1.5e-7, about float32's own resolution near 1.
    private static final float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f,
            A4 = -1.453152027f, A5 = 1.061405429f;

    private VectorMath() {
    }

    // ---------------------------------------------------------------- exp and friends

    private static final float LOG2E = 1.44269504088896341f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    /** Below EXP_LOW exp is under float's smallest normal and returned as 0; above EXP_HIGH it overflows. */
    private static final float EXP_LOW = -87.33654f, EXP_HIGH = 88.72283f;
    /** 1.5·2^23: adding it rounds a float below 2^22 in magnitude to an integer, held in the low mantissa bits. */
    private static final float ROUNDER = 12582912f;

    /**
     * e^x, within 2 ulp, from additions, multiplications and bit operations only (so every JIT tier gives the same
     * bits): x = n·ln2 + r with |r| <= ln2/2 (Cody and Waite's two-part ln2), e^r by Cephes' expf polynomial, then
     * 2^n put into exponent fields. 0 below EXP_LOW (no subnormals), infinity above EXP_HIGH.
     */
    static FloatVector exp(FloatVector x) {
        FloatVector c = x.max(EXP_LOW).min(EXP_HIGH);
        FloatVector shifted = c.mul(LOG2E).add(ROUNDER);
        FloatVector n = shifted.sub(ROUNDER);
        FloatVector r = n.mul(-LN2_HI).add(c);
        r = n.mul(-LN2_LO).add(r);
        FloatVector p = r.mul(1.9875691500e-4f).add(1.3981999507e-3f);
        p = p.mul(r).add(8.3334519073e-3f);
        p = p.mul(r).add(4.1665795894e-2f);
        p = p.mul(r).add(1.6666665459e-1f);
        p = p.mul(r).add(5.0000001201e-1f);
        FloatVector er = p.mul(r.mul(r)).add(r).add(1f);
        // 2^n as 2^h·2^(n−h), h = n/2, so that both factors stay normal floats even for n = 128 or −126. The integer
        // n sits in the low bits of shifted; an exponent field holds e + 127.
        IntVector exponent = shifted.reinterpretAsInts().sub(Float.floatToRawIntBits(ROUNDER));
        IntVector half = exponent.lanewise(VectorOperators.ASHR, 1);
        FloatVector pow1 = half.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector pow2 = exponent.sub(half).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector result = er.mul(pow1).mul(pow2);
        return result.blend(0f, x.compare(VectorOperators.LT, EXP_LOW))
                .blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, EXP_HIGH));
    }

    /** log(1 + y) for y in [0, 1], as 2·atanh(y / (2 + y)): the series in t ≤ 1/3 reaches float precision by t^15. */
    private static FloatVector log1pUnit(FloatVector y) {
        FloatVector t = y.div(y.add(2f)), t2 = t.mul(t);
        FloatVector p = t2.mul(1f / 15).add(1f / 13);
        p = p.mul(t2).add(1f / 11);
        p = p.mul(t2).add(1f / 9);
        p = p.mul(t2).add(1f / 7);
        p = p.mul(t2).add(1f / 5);
        p = p.mul(t2).add(1f / 3);
        p = p.mul(t2).add(1f);
        return p.mul(t).mul(2f);
    }

    private static FloatVector sigmoid(FloatVector v) {
        return FloatVector.broadcast(S, 1f).div(exp(v.neg()).add(1f));
    }

    /** erf(z) and exp(-z²) at once: the latter is what the GELU derivative needs too. */
    private static FloatVector erf(FloatVector z, FloatVector expNegZ2) {
        FloatVector az = z.abs();
        FloatVector t = FloatVector.broadcast(S, 1f).div(az.mul(P).add(1f));
        FloatVector poly = t.mul(A5).add(A4).mul(t).add(A3).mul(t).add(A2).mul(t).add(A1).mul(t);
        FloatVector erfAbs = poly.mul(expNegZ2).neg().add(1f);
        return erfAbs.blend(erfAbs.neg(), z.compare(VectorOperators.LT, 0f));
    }

    private static FloatVector gelu(FloatVector v) {
        FloatVector z = v.mul(INV_SQRT2);
        return v.mul(0.5f).mul(erf(z, exp(z.mul(z).neg())).add(1f));
    }

    private static FloatVector geluDerivative(FloatVector v) {
        FloatVector z = v.mul(INV_SQRT2);
        FloatVector e = exp(z.mul(z).neg());
        return v.mul(e).mul(INV_SQRT_2PI).add(erf(z, e).add(1f).mul(0.5f));
    }

    /** softplus(v) = max(v, 0) + log1p(exp(−|v|)): never overflows. */
    private static FloatVector softplus(FloatVector v) {
        return log1pUnit(exp(v.abs().neg())).add(v.max(0f));
    }

    /**
     * The sum of the lanes, added in lane order. reduceLanes(ADD) may add in any order, and does: in a tree once
     * compiled, in sequence before, which rounds differently.
     */
    private static float sumLanes(FloatVector v) {
        float sum = 0;
        for (int i = 0; i < L; i++) sum += v.lane(i);
        return sum;
    }

    /** The lanes of the last, partial vector of a range that ends at {@code end}. */
    private static VectorMask<Float> tail(int i, int end) {
        return S.indexInRange(i, end);
    }

    // ---------------------------------------------------------------- GELU

    /*
     * GELU keeps its own loop bodies, written with fused multiply-adds and no helper taking or returning vectors
     * beyond expForGelu/erfForGelu, which C2 inlines: built from the generic helpers above, C2 stopped inlining,
     * boxed every vector and allocated about 150 MB per call on the small ViT's MLP.
     */
    private static final float ROUND_GELU = 12582912f;

    private static FloatVector expForGelu(FloatVector x) {
        x = x.max(-87f).min(88f);
        FloatVector n = x.fma(LOG2E, ROUND_GELU).sub(ROUND_GELU);
        FloatVector r = n.fma(FloatVector.broadcast(S, -LN2_HI), x);
        r = n.fma(FloatVector.broadcast(S, -LN2_LO), r);
        FloatVector p = r.fma(1f / 5040, 1f / 720).fma(r, FloatVector.broadcast(S, 1f / 120))
                .fma(r, FloatVector.broadcast(S, 1f / 24)).fma(r, FloatVector.broadcast(S, 1f / 6))
                .fma(r, FloatVector.broadcast(S, 0.5f)).fma(r, FloatVector.broadcast(S, 1f))
                .fma(r, FloatVector.broadcast(S, 1f));
        IntVector bits = ((IntVector) n.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
        return p.mul(bits.reinterpretAsFloats());
    }

    private static FloatVector erfForGelu(FloatVector z, FloatVector expNegZ2) {
        FloatVector az = z.abs();
        FloatVector t = FloatVector.broadcast(S, 1f).div(az.fma(P, 1f));
        FloatVector poly = t.fma(A5, A4).fma(t, FloatVector.broadcast(S, A3)).fma(t, FloatVector.broadcast(S, A2))
                .fma(t, FloatVector.broadcast(S, A1)).mul(t);
        FloatVector erfAbs = poly.mul(expNegZ2).neg().add(1f);
        return erfAbs.blend(erfAbs.neg(), z.compare(VectorOperators.LT, 0f));
    }


    /** y[i] = GELU(x[i]) (erf form) for i in [start, end). */
    public static void gelu(float[] x, float[] y, int start, int end) {
        int i = start, bound = start + S.loopBound(end - start);
        for (; i < bound; i += S.length()) {
            FloatVector v = FloatVector.fromArray(S, x, i);
            FloatVector z = v.mul(INV_SQRT2);
            FloatVector e = expForGelu(z.mul(z).neg());
            v.mul(0.5f).mul(erfForGelu(z, e).add(1f)).intoArray(y, i);
        }
        if (i < end) {
            // The last partial vector with the same vector arithmetic, so a value never depends on the loop split.
            VectorMask<Float> m = tail(i, end);
            FloatVector v = FloatVector.fromArray(S, x, i, m);
            FloatVector z = v.mul(INV_SQRT2);
            FloatVector e = expForGelu(z.mul(z).neg());
            v.mul(0.5f).mul(erfForGelu(z, e).add(1f)).intoArray(y, i, m);
        }
    }

    /** dx[i] += dy[i] · GELU'(x[i]) for i in [start, end). */
    public static void geluBackward(float[] x, float[] dy, float[] dx, int start, int end) {
        int i = start, bound = start + S.loopBound(end - start);
        for (; i < bound; i += S.length()) {
            FloatVector v = FloatVector.fromArray(S, x, i);
            FloatVector z = v.mul(INV_SQRT2);
            FloatVector e = expForGelu(z.mul(z).neg());
            FloatVector cdf = erfForGelu(z, e).add(1f).mul(0.5f);
            FloatVector derivative = v.mul(e).mul(INV_SQRT_2PI).add(cdf);
            FloatVector.fromArray(S, dy, i).fma(derivative, FloatVector.fromArray(S, dx, i)).intoArray(dx, i);
        }
        if (i < end) {
            VectorMask<Float> m = tail(i, end);
            FloatVector v = FloatVector.fromArray(S, x, i, m);
            FloatVector z = v.mul(INV_SQRT2);
            FloatVector e = expForGelu(z.mul(z).neg());
            FloatVector cdf = erfForGelu(z, e).add(1f).mul(0.5f);
            FloatVector derivative = v.mul(e).mul(INV_SQRT_2PI).add(cdf);
            FloatVector.fromArray(S, dy, i, m).fma(derivative, FloatVector.fromArray(S, dx, i, m)).intoArray(dx, i, m);
        }
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
            float sum = sumLanes(vsum);
            for (; j < d; j++) sum += x[o + j];
            float m = sum / d;
            // Two passes (centre, then square) rather than E[x²] − m², which cancels badly.
            FloatVector vvar = FloatVector.zero(S);
            for (j = 0; j < bound; j += S.length()) {
                FloatVector c = FloatVector.fromArray(S, x, o + j).sub(m);
                vvar = c.fma(c, vvar);
            }
            float var = sumLanes(vvar);
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
            float sumG = sumLanes(vg), sumGx = sumLanes(vgx);
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
        VectorMask<Float> m = tail(bound, n);
        FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (; j < bound; j += L) vmax = vmax.max(FloatVector.fromArray(S, src, sOff + j));
        if (j < n) vmax = vmax.max(FloatVector.fromArray(S, src, sOff + j, m).blend(Float.NEGATIVE_INFINITY, m.not()));
        float max = vmax.reduceLanes(VectorOperators.MAX);
        FloatVector vsum = FloatVector.zero(S);
        for (j = 0; j < bound; j += L) {
            FloatVector e = exp(FloatVector.fromArray(S, src, sOff + j).sub(max));
            e.intoArray(dst, dOff + j);
            vsum = vsum.add(e);
        }
        if (j < n) {
            FloatVector e = exp(FloatVector.fromArray(S, src, sOff + j, m).sub(max));
            e.intoArray(dst, dOff + j, m);
            vsum = vsum.add(e, m);
        }
        float inv = 1 / sumLanes(vsum);
        for (j = 0; j < bound; j += L) FloatVector.fromArray(S, dst, dOff + j).mul(inv).intoArray(dst, dOff + j);
        if (j < n) FloatVector.fromArray(S, dst, dOff + j, m).mul(inv).intoArray(dst, dOff + j, m);
    }

    /**
     * Softmax's backward for one row: dS = a ⊙ (dA − ⟨a, dA⟩), written to dS (or added when {@code accumulate}).
     * dS may be dA itself.
     */
    public static void softmaxBackwardRow(float[] a, int aOff, float[] dA, int gOff, float[] dS, int dsOff, int n,
                                          boolean accumulate) {
        int bound = S.loopBound(n), j = 0;
        VectorMask<Float> m = tail(bound, n);
        FloatVector vdot = FloatVector.zero(S);
        for (; j < bound; j += L) {
            vdot = FloatVector.fromArray(S, a, aOff + j).fma(FloatVector.fromArray(S, dA, gOff + j), vdot);
        }
        // Masked loads fill the missing lanes with zeros, which add nothing.
        if (j < n) vdot = FloatVector.fromArray(S, a, aOff + j, m).fma(FloatVector.fromArray(S, dA, gOff + j, m), vdot);
        float dot = sumLanes(vdot);
        for (j = 0; j < bound; j += L) {
            FloatVector r = FloatVector.fromArray(S, dA, gOff + j).sub(dot).mul(FloatVector.fromArray(S, a, aOff + j));
            if (accumulate) r = r.add(FloatVector.fromArray(S, dS, dsOff + j));
            r.intoArray(dS, dsOff + j);
        }
        if (j < n) {
            FloatVector r = FloatVector.fromArray(S, dA, gOff + j, m).sub(dot).mul(FloatVector.fromArray(S, a, aOff + j, m));
            if (accumulate) r = r.add(FloatVector.fromArray(S, dS, dsOff + j, m));
            r.intoArray(dS, dsOff + j, m);
        }
    }

    /** h(v)·scale, for the pointwise weightings. */
    private static FloatVector weight(PointwiseActivation h, float scale, FloatVector v) {
        FloatVector r = switch (h) {
            case RELU -> v.max(0f);
            case RELU2 -> v.max(0f).mul(v.max(0f));
            case RELU6 -> v.max(0f).min(6f);
            case IDENTITY -> v;
            case SIGMOID -> sigmoid(v);
            case GELU -> gelu(v);
            case SOFTPLUS -> softplus(v);
        };
        return r.mul(scale);
    }

    /** a[aOff..+n) = scale · h(s[sOff..+n)): pointwise attention weights, scale = L^-α. */
    public static void pointwiseWeights(PointwiseActivation h, float scale, float[] s, int sOff, float[] a, int aOff,
                                        int n) {
        int bound = S.loopBound(n), j = 0;
        // One loop per activation, so the loop body has no branch; the cheap ones are what ReLU/L runs.
        switch (h) {
            case RELU -> {
                for (; j < bound; j += L) FloatVector.fromArray(S, s, sOff + j).max(0f).mul(scale).intoArray(a, aOff + j);
            }
            case RELU2 -> {
                for (; j < bound; j += L) {
                    FloatVector r = FloatVector.fromArray(S, s, sOff + j).max(0f);
                    r.mul(r).mul(scale).intoArray(a, aOff + j);
                }
            }
            case RELU6 -> {
                for (; j < bound; j += L) {
                    FloatVector.fromArray(S, s, sOff + j).max(0f).min(6f).mul(scale).intoArray(a, aOff + j);
                }
            }
            case IDENTITY -> {
                for (; j < bound; j += L) FloatVector.fromArray(S, s, sOff + j).mul(scale).intoArray(a, aOff + j);
            }
            case SIGMOID -> {
                for (; j < bound; j += L) sigmoid(FloatVector.fromArray(S, s, sOff + j)).mul(scale).intoArray(a, aOff + j);
            }
            case GELU -> {
                for (; j < bound; j += L) gelu(FloatVector.fromArray(S, s, sOff + j)).mul(scale).intoArray(a, aOff + j);
            }
            case SOFTPLUS -> {
                for (; j < bound; j += L) softplus(FloatVector.fromArray(S, s, sOff + j)).mul(scale).intoArray(a, aOff + j);
            }
        }
        if (j < n) {
            VectorMask<Float> m = tail(j, n);
            weight(h, scale, FloatVector.fromArray(S, s, sOff + j, m)).intoArray(a, aOff + j, m);
        }
    }

    /** scale·h'(v) from the scores v. */
    private static FloatVector derivativeFromScores(PointwiseActivation h, float scale, FloatVector v) {
        return switch (h) {
            case RELU -> FloatVector.broadcast(S, scale).blend(0f, v.compare(VectorOperators.LE, 0f));
            case RELU2 -> v.max(0f).mul(2f * scale);
            case RELU6 -> FloatVector.broadcast(S, scale)
                    .blend(0f, v.compare(VectorOperators.LE, 0f).or(v.compare(VectorOperators.GE, 6f)));
            case IDENTITY -> FloatVector.broadcast(S, scale);
            case GELU -> geluDerivative(v).mul(scale);
            case SOFTPLUS -> sigmoid(v).mul(scale);
            case SIGMOID -> {
                FloatVector sg = sigmoid(v);
                yield sg.mul(sg.neg().add(1f)).mul(scale);
            }
        };
    }

    /** dS (+)= dA ⊙ scale·h'(s), from the scores s. dS may be dA itself. */
    public static void pointwiseBackwardFromScores(PointwiseActivation h, float scale, float[] s, int sOff, float[] dA,
                                                   int gOff, float[] dS, int dsOff, int n, boolean accumulate) {
        int bound = S.loopBound(n), j = 0;
        switch (h) {
            case RELU -> {
                for (; j < bound; j += L) {
                    FloatVector d = derivativeFromScores(PointwiseActivation.RELU, scale, FloatVector.fromArray(S, s, sOff + j));
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(d), dS, dsOff + j, accumulate);
                }
            }
            case RELU2 -> {
                for (; j < bound; j += L) {
                    FloatVector d = derivativeFromScores(PointwiseActivation.RELU2, scale, FloatVector.fromArray(S, s, sOff + j));
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(d), dS, dsOff + j, accumulate);
                }
            }
            case RELU6 -> {
                for (; j < bound; j += L) {
                    FloatVector d = derivativeFromScores(PointwiseActivation.RELU6, scale, FloatVector.fromArray(S, s, sOff + j));
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(d), dS, dsOff + j, accumulate);
                }
            }
            case IDENTITY -> {
                for (; j < bound; j += L) store(FloatVector.fromArray(S, dA, gOff + j).mul(scale), dS, dsOff + j, accumulate);
            }
            case GELU -> {
                for (; j < bound; j += L) {
                    FloatVector d = derivativeFromScores(PointwiseActivation.GELU, scale, FloatVector.fromArray(S, s, sOff + j));
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(d), dS, dsOff + j, accumulate);
                }
            }
            case SOFTPLUS -> {
                for (; j < bound; j += L) {
                    FloatVector d = derivativeFromScores(PointwiseActivation.SOFTPLUS, scale, FloatVector.fromArray(S, s, sOff + j));
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(d), dS, dsOff + j, accumulate);
                }
            }
            case SIGMOID -> {
                for (; j < bound; j += L) {
                    FloatVector d = derivativeFromScores(PointwiseActivation.SIGMOID, scale, FloatVector.fromArray(S, s, sOff + j));
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(d), dS, dsOff + j, accumulate);
                }
            }
        }
        if (j < n) {
            VectorMask<Float> m = tail(j, n);
            FloatVector r = FloatVector.fromArray(S, dA, gOff + j, m)
                    .mul(derivativeFromScores(h, scale, FloatVector.fromArray(S, s, sOff + j, m)));
            if (accumulate) r = r.add(FloatVector.fromArray(S, dS, dsOff + j, m));
            r.intoArray(dS, dsOff + j, m);
        }
    }

    /** scale·h'(s) from the weights w = scale·h(s); see {@link #pointwiseBackwardFromWeights}. */
    private static FloatVector derivativeFromWeights(PointwiseActivation h, float scale, FloatVector w) {
        return switch (h) {
            case RELU -> FloatVector.broadcast(S, scale).blend(0f, w.compare(VectorOperators.LE, 0f));
            // What the forward gives for s >= 6, rounded the same way.
            case RELU6 -> FloatVector.broadcast(S, scale).blend(0f,
                    w.compare(VectorOperators.LE, 0f).or(w.compare(VectorOperators.GE, scale * 6f)));
            case RELU2 -> w.mul(scale).lanewise(VectorOperators.SQRT).mul(2f);
            case IDENTITY -> FloatVector.broadcast(S, scale);
            default -> throw new IllegalArgumentException(h + "'s derivative needs the scores, not only the weights");
        };
    }

    /**
     * dS (+)= dA ⊙ scale·h'(s) from the weights a = scale·h(s) alone, for the activations whose derivative they
     * determine (see {@link dev.tornadovit.tensor.AttentionWeighting#backwardNeedsScores()}): relu s > 0 ⟺ a > 0;
     * relu6 0 < s < 6 ⟺ 0 < a < 6·scale; relu² scale·2s = 2√(a·scale); identity constant. dS may be dA itself.
     */
    public static void pointwiseBackwardFromWeights(PointwiseActivation h, float scale, float[] a, int aOff,
                                                    float[] dA, int gOff, float[] dS, int dsOff, int n,
                                                    boolean accumulate) {
        int bound = S.loopBound(n), j = 0;
        switch (h) {
            case RELU -> {
                // ReLU/L's whole backward φ: a compare, a select and a multiply per weight.
                for (; j < bound; j += L) {
                    FloatVector d = derivativeFromWeights(PointwiseActivation.RELU, scale, FloatVector.fromArray(S, a, aOff + j));
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(d), dS, dsOff + j, accumulate);
                }
            }
            case RELU6 -> {
                for (; j < bound; j += L) {
                    FloatVector d = derivativeFromWeights(PointwiseActivation.RELU6, scale, FloatVector.fromArray(S, a, aOff + j));
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(d), dS, dsOff + j, accumulate);
                }
            }
            case RELU2 -> {
                for (; j < bound; j += L) {
                    FloatVector d = derivativeFromWeights(PointwiseActivation.RELU2, scale, FloatVector.fromArray(S, a, aOff + j));
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(d), dS, dsOff + j, accumulate);
                }
            }
            case IDENTITY -> {
                for (; j < bound; j += L) store(FloatVector.fromArray(S, dA, gOff + j).mul(scale), dS, dsOff + j, accumulate);
            }
            default -> throw new IllegalArgumentException(h + "'s derivative needs the scores, not only the weights");
        }
        if (j < n) {
            VectorMask<Float> m = tail(j, n);
            FloatVector r = FloatVector.fromArray(S, dA, gOff + j, m)
                    .mul(derivativeFromWeights(h, scale, FloatVector.fromArray(S, a, aOff + j, m)));
            if (accumulate) r = r.add(FloatVector.fromArray(S, dS, dsOff + j, m));
            r.intoArray(dS, dsOff + j, m);
        }
    }

    /** Writes r to dS at i, or adds it to what is there. */
    private static void store(FloatVector r, float[] dS, int i, boolean accumulate) {
        (accumulate ? r.add(FloatVector.fromArray(S, dS, i)) : r).intoArray(dS, i);
    }
}
