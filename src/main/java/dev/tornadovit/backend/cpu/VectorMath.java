package dev.tornadovit.backend.cpu;

import dev.tornadovit.tensor.PointwiseActivation;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorised elementwise functions for the CPU backend: GELU, LayerNorm, and the attention weightings φ (softmax
 * rows and the pointwise L^-α·h(s)) with their derivatives.
 *
 * <p>Results must not depend on how a loop is split between threads, nor on whether the JIT has compiled the code
 * yet (a resumed run repeats an uninterrupted one bit for bit). So exp is computed here from exact IEEE operations
 * (the Vector API's EXP is a native routine once compiled but Math.exp lane by lane before, and the two differ in
 * the last bit); lanes are summed in a fixed order (reduceLanes(ADD) adds in a tree once compiled, in sequence
 * before); and the scalar code that finishes a range repeats the vector code operation for operation
 * (Math.fma where the vector code fuses), so an element gets the same bits in a vector lane or in the tail.
 *
 * <p>The vector functions are kept short and called from the main loops only: C2 stops inlining vector code past
 * a node budget, and a vector handed to a method that is not inlined is boxed on the heap.
 */
public final class VectorMath {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final float INV_SQRT2 = 0.70710678118654752f, INV_SQRT_2PI = 0.39894228040143268f;
    /**
     * erf(x) = x·P(x²)/Q(x²) on [-ERF_CLAMP, ERF_CLAMP], beyond which erf is ±1 in float: P and Q of degree 5 in x²,
     * fitted to erf by iteratively reweighted least squares ({@code scripts/fit_erf.py}: 1.6e-8 in float64; the float32
     * evaluation here within 3.4e-7 of erf). Abramowitz & Stegun 7.1.26 (erf = 1 − t·poly(t)·e^−x², t = 1/(1 + p·|x|))
     * is about as accurate in float32 (4.2e-7) but needs an exp and a longer chain of dependent operations.
     */
    private static final float ERF_CLAMP = 3.925f;
    private static final float ERF_P0 = 1.1283790199e+00f, ERF_P1 = 1.9297398890e-01f, ERF_P2 = 5.3084493495e-02f,
            ERF_P3 = 3.8763705586e-03f, ERF_P4 = 2.8749005372e-04f, ERF_P5 = 2.0308206753e-06f;
    private static final float ERF_Q1 = 5.0435038354e-01f, ERF_Q2 = 1.1516800647e-01f, ERF_Q3 = 1.5188451730e-02f,
            ERF_Q4 = 1.1897544522e-03f, ERF_Q5 = 3.8030827013e-05f;

    private static final float LOG2E = 1.44269504088896341f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    /**
     * exp's argument is clamped to [EXP_LOW, EXP_HIGH], where 2^n stays a normal float. Every caller here passes
     * arguments <= 0 except the sigmoid, for which anything beyond gives 0 or 1 in float anyway.
     */
    private static final float EXP_LOW = -87.33654f, EXP_HIGH = 88f;
    /** 1.5·2^23: adding it rounds a float below 2^22 in magnitude to an integer, held in the low mantissa bits. */
    private static final float ROUNDER = 12582912f;
    private static final int ROUNDER_BITS_LESS_BIAS = Float.floatToRawIntBits(ROUNDER) - 127;
    /** Cephes expf's polynomial. */
    private static final float E0 = 1.9875691500e-4f, E1 = 1.3981999507e-3f, E2 = 8.3334519073e-3f,
            E3 = 4.1665795894e-2f, E4 = 1.6666665459e-1f, E5 = 5.0000001201e-1f;
    private static final FloatVector ONE = FloatVector.broadcast(S, 1f), VE2 = FloatVector.broadcast(S, E2),
            VE3 = FloatVector.broadcast(S, E3), VE4 = FloatVector.broadcast(S, E4), VE5 = FloatVector.broadcast(S, E5),
            VP3 = FloatVector.broadcast(S, ERF_P3), VP2 = FloatVector.broadcast(S, ERF_P2),
            VP1 = FloatVector.broadcast(S, ERF_P1), VP0 = FloatVector.broadcast(S, ERF_P0),
            VQ3 = FloatVector.broadcast(S, ERF_Q3), VQ2 = FloatVector.broadcast(S, ERF_Q2),
            VQ1 = FloatVector.broadcast(S, ERF_Q1);

    private VectorMath() {
    }

    // ---------------------------------------------------------------- exp and friends, vector and scalar twins

    /**
     * Math.max(v, bound) lane by lane, bit for bit, for a bound that is not NaN or -0, in two instructions (a compare
     * and a blend): FloatVector.max takes five on AVX2 to follow Java's rules for NaN and signed zeros, and the two
     * clamps of exp's argument were 10–15 % of a GELU. A NaN lane compares false and stays NaN; a -0 lane against a
     * bound of +0 takes the bound, as Math.max(-0f, 0f) gives +0.
     */
    private static FloatVector atLeast(FloatVector v, float bound) {
        return v.blend(bound, v.compare(VectorOperators.LE, bound));
    }

    /** Math.min(v, bound) lane by lane, bit for bit, for a bound that is not NaN or zero (NaN lanes stay NaN). */
    private static FloatVector atMost(FloatVector v, float bound) {
        return v.blend(bound, v.compare(VectorOperators.GT, bound));
    }

    /**
     * e^x, within 2 ulp on [EXP_LOW, EXP_HIGH], from multiply-adds and bit operations only: x = n·ln2 + r with
     * |r| <= ln2/2 (Cody and Waite's two-part ln2), e^r by Cephes' expf polynomial, n + 127 shifted into the
     * exponent field.
     */
    static FloatVector exp(FloatVector x) {
        FloatVector c = atMost(atLeast(x, EXP_LOW), EXP_HIGH);
        FloatVector shifted = c.fma(LOG2E, ROUNDER);
        FloatVector n = shifted.sub(ROUNDER);
        FloatVector r = n.mul(-LN2_HI).add(c).add(n.mul(-LN2_LO));
        FloatVector p = r.fma(E0, E1).fma(r, VE2).fma(r, VE3).fma(r, VE4).fma(r, VE5);
        FloatVector pow = shifted.reinterpretAsInts().sub(ROUNDER_BITS_LESS_BIAS).lanewise(VectorOperators.LSHL, 23)
                .reinterpretAsFloats();
        return p.mul(r).fma(r, r).add(1f).mul(pow);
    }

    static float exp(float x) {
        float c = Math.min(Math.max(x, EXP_LOW), EXP_HIGH);
        float shifted = Math.fma(c, LOG2E, ROUNDER);
        float n = shifted - ROUNDER;
        float r = n * -LN2_HI + c + n * -LN2_LO;
        float p = Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(r, E0, E1), r, E2), r, E3), r, E4), r, E5);
        float pow = Float.intBitsToFloat((Float.floatToRawIntBits(shifted) - ROUNDER_BITS_LESS_BIAS) << 23);
        return (Math.fma(p * r, r, r) + 1f) * pow;
    }

    /** log(1 + y) for y in [0, 1], as 2·atanh(y / (2 + y)): the series in t ≤ 1/3 reaches float precision by t^15. */
    private static FloatVector log1pUnit(FloatVector y) {
        FloatVector t = y.div(y.add(2f)), t2 = t.mul(t);
        FloatVector p = t2.mul(1f / 15).add(1f / 13).mul(t2).add(1f / 11).mul(t2).add(1f / 9).mul(t2).add(1f / 7)
                .mul(t2).add(1f / 5).mul(t2).add(1f / 3).mul(t2).add(1f);
        return p.mul(t).mul(2f);
    }

    private static float log1pUnit(float y) {
        float t = y / (y + 2f), t2 = t * t;
        float p = ((((((t2 * (1f / 15) + 1f / 13) * t2 + 1f / 11) * t2 + 1f / 9) * t2 + 1f / 7) * t2 + 1f / 5) * t2
                + 1f / 3) * t2 + 1f;
        return p * t * 2f;
    }

    private static FloatVector sigmoid(FloatVector v) {
        return ONE.div(exp(v.neg()).add(1f));
    }

    private static float sigmoid(float v) {
        return 1f / (exp(-v) + 1f);
    }

    /** erf(z): see {@link #ERF_CLAMP}. No exp, and P and Q are two independent chains. */
    private static FloatVector erf(FloatVector z) {
        FloatVector x = atMost(atLeast(z, -ERF_CLAMP), ERF_CLAMP), s = x.mul(x);
        FloatVector p = s.fma(ERF_P5, ERF_P4).fma(s, VP3).fma(s, VP2).fma(s, VP1).fma(s, VP0);
        FloatVector q = s.fma(ERF_Q5, ERF_Q4).fma(s, VQ3).fma(s, VQ2).fma(s, VQ1).fma(s, ONE);
        return x.mul(p).div(q);
    }

    private static float erf(float z) {
        float x = Math.min(Math.max(z, -ERF_CLAMP), ERF_CLAMP), s = x * x;
        float p = Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(s, ERF_P5, ERF_P4), s, ERF_P3), s, ERF_P2), s, ERF_P1),
                s, ERF_P0);
        float q = Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(s, ERF_Q5, ERF_Q4), s, ERF_Q3), s, ERF_Q2), s, ERF_Q1),
                s, 1f);
        return x * p / q;
    }

    private static FloatVector gelu(FloatVector v) {
        return v.mul(0.5f).mul(erf(v.mul(INV_SQRT2)).add(1f));
    }

    private static float gelu(float v) {
        return v * 0.5f * (erf(v * INV_SQRT2) + 1f);
    }

    private static FloatVector geluDerivative(FloatVector v) {
        FloatVector z = v.mul(INV_SQRT2);
        return v.mul(exp(z.mul(z).neg())).mul(INV_SQRT_2PI).add(erf(z).add(1f).mul(0.5f));
    }

    private static float geluDerivative(float v) {
        float z = v * INV_SQRT2;
        return v * exp(-(z * z)) * INV_SQRT_2PI + (erf(z) + 1f) * 0.5f;
    }

    /** softplus(v) = log1p(exp(−|v|)) + max(v, 0): never overflows. */
    private static FloatVector softplus(FloatVector v) {
        return log1pUnit(exp(v.abs().neg())).add(atLeast(v, 0f));
    }

    private static float softplus(float v) {
        return log1pUnit(exp(-Math.abs(v))) + Math.max(v, 0f);
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

    /** dst[dOff..+n) += src[sOff..+n). */
    public static void addInto(float[] src, int sOff, float[] dst, int dOff, int n) {
        int bound = S.loopBound(n), i = 0;
        for (; i < bound; i += L) {
            FloatVector.fromArray(S, dst, dOff + i).add(FloatVector.fromArray(S, src, sOff + i)).intoArray(dst, dOff + i);
        }
        for (; i < n; i++) dst[dOff + i] += src[sOff + i];
    }

    // ---------------------------------------------------------------- GELU

    /** y[i] = GELU(x[i]) (erf form) for i in [start, end). */
    public static void gelu(float[] x, float[] y, int start, int end) {
        int i = start, bound = start + S.loopBound(end - start);
        for (; i < bound; i += L) gelu(FloatVector.fromArray(S, x, i)).intoArray(y, i);
        for (; i < end; i++) y[i] = gelu(x[i]);
    }

    /** dx[i] += dy[i] · GELU'(x[i]) for i in [start, end), or dx[i] = that when not {@code accumulate}. */
    public static void geluBackward(float[] x, float[] dy, float[] dx, boolean accumulate, int start, int end) {
        int i = start, bound = start + S.loopBound(end - start);
        // One loop with the flag inside (C2 unswitches it), so that geluDerivative is inlined once: a loop per case
        // inlined it twice, and when a JVM had run both cases (the test suite) C2's inlining budget ran out in one
        // full-suite run and left its vectors boxed (0.5 MB allocated a tiny model's training step).
        for (; i < bound; i += L) {
            FloatVector d = FloatVector.fromArray(S, dy, i).mul(geluDerivative(FloatVector.fromArray(S, x, i)));
            if (accumulate) d = d.add(FloatVector.fromArray(S, dx, i));
            d.intoArray(dx, i);
        }
        for (; i < end; i++) {
            float d = dy[i] * geluDerivative(x[i]);
            dx[i] = accumulate ? d + dx[i] : d;
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
        FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (; j < bound; j += L) vmax = vmax.max(FloatVector.fromArray(S, src, sOff + j));
        float max = vmax.reduceLanes(VectorOperators.MAX); // max is exact in any order
        for (; j < n; j++) max = Math.max(max, src[sOff + j]);
        FloatVector vsum = FloatVector.zero(S);
        for (j = 0; j < bound; j += L) {
            FloatVector e = exp(FloatVector.fromArray(S, src, sOff + j).sub(max));
            e.intoArray(dst, dOff + j);
            vsum = vsum.add(e);
        }
        float sum = sumLanes(vsum);
        for (; j < n; j++) {
            float e = exp(src[sOff + j] - max);
            dst[dOff + j] = e;
            sum += e;
        }
        float inv = 1 / sum;
        for (j = 0; j < bound; j += L) FloatVector.fromArray(S, dst, dOff + j).mul(inv).intoArray(dst, dOff + j);
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
        for (; j < bound; j += L) {
            vdot = FloatVector.fromArray(S, a, aOff + j).fma(FloatVector.fromArray(S, dA, gOff + j), vdot);
        }
        float dot = sumLanes(vdot);
        for (; j < n; j++) dot = Math.fma(a[aOff + j], dA[gOff + j], dot);
        for (j = 0; j < bound; j += L) {
            FloatVector r = FloatVector.fromArray(S, dA, gOff + j).sub(dot).mul(FloatVector.fromArray(S, a, aOff + j));
            store(r, dS, dsOff + j, accumulate);
        }
        for (; j < n; j++) store((dA[gOff + j] - dot) * a[aOff + j], dS, dsOff + j, accumulate);
    }

    // Each activation has its own loop method: one method holding every case grows past what C2 inlines into it,
    // and the vectors passed to the functions it then calls are boxed.

    /** a[aOff..+n) = scale · h(s[sOff..+n)): pointwise attention weights, scale = L^-α. */
    public static void pointwiseWeights(PointwiseActivation h, float scale, float[] s, int sOff, float[] a, int aOff,
                                        int n) {
        int done = switch (h) {
            case RELU, RELU2, RELU6, IDENTITY -> piecewiseLinearWeights(h, scale, s, sOff, a, aOff, n);
            case SIGMOID -> sigmoidWeights(scale, s, sOff, a, aOff, n);
            case GELU -> geluWeights(scale, s, sOff, a, aOff, n);
            case SOFTPLUS -> softplusWeights(scale, s, sOff, a, aOff, n);
        };
        for (int j = done; j < n; j++) a[aOff + j] = weight(h, scale, s[sOff + j]);
    }

    /** The cheap activations, what ReLU/L runs: no exp, no row max, no row sum. Returns how many it did. */
    private static int piecewiseLinearWeights(PointwiseActivation h, float scale, float[] s, int sOff, float[] a,
                                              int aOff, int n) {
        int bound = S.loopBound(n), j = 0;
        switch (h) {
            case RELU -> {
                for (; j < bound; j += L) {
                    atLeast(FloatVector.fromArray(S, s, sOff + j), 0f).mul(scale).intoArray(a, aOff + j);
                }
            }
            case RELU2 -> {
                for (; j < bound; j += L) {
                    FloatVector r = atLeast(FloatVector.fromArray(S, s, sOff + j), 0f);
                    r.mul(r).mul(scale).intoArray(a, aOff + j);
                }
            }
            case RELU6 -> {
                for (; j < bound; j += L) {
                    atMost(atLeast(FloatVector.fromArray(S, s, sOff + j), 0f), 6f).mul(scale).intoArray(a, aOff + j);
                }
            }
            default -> {
                for (; j < bound; j += L) FloatVector.fromArray(S, s, sOff + j).mul(scale).intoArray(a, aOff + j);
            }
        }
        return j;
    }

    private static int sigmoidWeights(float scale, float[] s, int sOff, float[] a, int aOff, int n) {
        int bound = S.loopBound(n), j = 0;
        for (; j < bound; j += L) sigmoid(FloatVector.fromArray(S, s, sOff + j)).mul(scale).intoArray(a, aOff + j);
        return j;
    }

    private static int geluWeights(float scale, float[] s, int sOff, float[] a, int aOff, int n) {
        int bound = S.loopBound(n), j = 0;
        for (; j < bound; j += L) gelu(FloatVector.fromArray(S, s, sOff + j)).mul(scale).intoArray(a, aOff + j);
        return j;
    }

    private static int softplusWeights(float scale, float[] s, int sOff, float[] a, int aOff, int n) {
        int bound = S.loopBound(n), j = 0;
        for (; j < bound; j += L) softplus(FloatVector.fromArray(S, s, sOff + j)).mul(scale).intoArray(a, aOff + j);
        return j;
    }

    /** The scalar twin of the vector loops above. */
    private static float weight(PointwiseActivation h, float scale, float v) {
        return switch (h) {
            case RELU -> Math.max(v, 0f) * scale;
            case RELU2 -> Math.max(v, 0f) * Math.max(v, 0f) * scale;
            case RELU6 -> Math.min(Math.max(v, 0f), 6f) * scale;
            case IDENTITY -> v * scale;
            case SIGMOID -> sigmoid(v) * scale;
            case GELU -> gelu(v) * scale;
            case SOFTPLUS -> softplus(v) * scale;
        };
    }

    /** dS (+)= dA ⊙ scale·h'(s), from the scores s. dS may be dA itself. */
    public static void pointwiseBackwardFromScores(PointwiseActivation h, float scale, float[] s, int sOff, float[] dA,
                                                   int gOff, float[] dS, int dsOff, int n, boolean accumulate) {
        int done = switch (h) {
            case RELU, RELU2, RELU6, IDENTITY ->
                    piecewiseLinearFromScores(h, scale, s, sOff, dA, gOff, dS, dsOff, n, accumulate);
            case GELU -> geluFromScores(scale, s, sOff, dA, gOff, dS, dsOff, n, accumulate);
            case SOFTPLUS, SIGMOID -> sigmoidFromScores(h, scale, s, sOff, dA, gOff, dS, dsOff, n, accumulate);
        };
        for (int j = done; j < n; j++) {
            store(dA[gOff + j] * derivativeFromScores(h, scale, s[sOff + j]), dS, dsOff + j, accumulate);
        }
    }

    private static int piecewiseLinearFromScores(PointwiseActivation h, float scale, float[] s, int sOff, float[] dA,
                                                 int gOff, float[] dS, int dsOff, int n, boolean accumulate) {
        int bound = S.loopBound(n), j = 0;
        FloatVector vscale = FloatVector.broadcast(S, scale);
        switch (h) {
            case RELU -> {
                for (; j < bound; j += L) {
                    FloatVector d = vscale.blend(0f, FloatVector.fromArray(S, s, sOff + j).compare(VectorOperators.LE, 0f));
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(d), dS, dsOff + j, accumulate);
                }
            }
            case RELU2 -> {
                for (; j < bound; j += L) {
                    FloatVector d = atLeast(FloatVector.fromArray(S, s, sOff + j), 0f).mul(2f * scale);
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(d), dS, dsOff + j, accumulate);
                }
            }
            case RELU6 -> {
                for (; j < bound; j += L) {
                    FloatVector v = FloatVector.fromArray(S, s, sOff + j);
                    FloatVector d = vscale.blend(0f, v.compare(VectorOperators.LE, 0f).or(v.compare(VectorOperators.GE, 6f)));
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(d), dS, dsOff + j, accumulate);
                }
            }
            default -> {
                for (; j < bound; j += L) store(FloatVector.fromArray(S, dA, gOff + j).mul(scale), dS, dsOff + j, accumulate);
            }
        }
        return j;
    }

    // The expensive derivatives come in an overwriting and an adding loop: with a helper or a branch for the
    // difference, C2 runs out of inlining budget after the exp and boxes the result.

    private static int geluFromScores(float scale, float[] s, int sOff, float[] dA, int gOff, float[] dS, int dsOff,
                                      int n, boolean accumulate) {
        if (accumulate) return geluFromScoresAdding(scale, s, sOff, dA, gOff, dS, dsOff, n);
        int bound = S.loopBound(n), j = 0;
        for (; j < bound; j += L) {
            FloatVector d = geluDerivative(FloatVector.fromArray(S, s, sOff + j)).mul(scale);
            FloatVector.fromArray(S, dA, gOff + j).mul(d).intoArray(dS, dsOff + j);
        }
        return j;
    }

    private static int geluFromScoresAdding(float scale, float[] s, int sOff, float[] dA, int gOff, float[] dS,
                                            int dsOff, int n) {
        int bound = S.loopBound(n), j = 0;
        for (; j < bound; j += L) {
            FloatVector d = geluDerivative(FloatVector.fromArray(S, s, sOff + j)).mul(scale);
            FloatVector.fromArray(S, dA, gOff + j).mul(d).add(FloatVector.fromArray(S, dS, dsOff + j))
                    .intoArray(dS, dsOff + j);
        }
        return j;
    }

    /** softplus' = σ; σ' = σ(1 − σ). */
    private static int sigmoidFromScores(PointwiseActivation h, float scale, float[] s, int sOff, float[] dA, int gOff,
                                         float[] dS, int dsOff, int n, boolean accumulate) {
        if (accumulate) return sigmoidFromScoresAdding(h, scale, s, sOff, dA, gOff, dS, dsOff, n);
        int bound = S.loopBound(n), j = 0;
        float sigmoidFactor = h == PointwiseActivation.SIGMOID ? 1f : 0f;
        for (; j < bound; j += L) {
            FloatVector d = sigmoidDerivative(sigmoidFactor, FloatVector.fromArray(S, s, sOff + j)).mul(scale);
            FloatVector.fromArray(S, dA, gOff + j).mul(d).intoArray(dS, dsOff + j);
        }
        return j;
    }

    private static int sigmoidFromScoresAdding(PointwiseActivation h, float scale, float[] s, int sOff, float[] dA,
                                               int gOff, float[] dS, int dsOff, int n) {
        int bound = S.loopBound(n), j = 0;
        float sigmoidFactor = h == PointwiseActivation.SIGMOID ? 1f : 0f;
        for (; j < bound; j += L) {
            FloatVector d = sigmoidDerivative(sigmoidFactor, FloatVector.fromArray(S, s, sOff + j)).mul(scale);
            FloatVector.fromArray(S, dA, gOff + j).mul(d).add(FloatVector.fromArray(S, dS, dsOff + j))
                    .intoArray(dS, dsOff + j);
        }
        return j;
    }

    /**
     * σ(v)·(1 − σ(v)) when {@code sigmoidFactor} is 1 (the sigmoid's derivative), σ(v) when it is 0 (softplus'):
     * one expression for both, so that the loops have no branch.
     */
    private static FloatVector sigmoidDerivative(float sigmoidFactor, FloatVector v) {
        FloatVector sg = sigmoid(v);
        return sg.mul(sg.mul(-sigmoidFactor).add(1f));
    }

    /** scale·h'(v): the scalar twin of the vector loops above. */
    private static float derivativeFromScores(PointwiseActivation h, float scale, float v) {
        return switch (h) {
            case RELU -> v <= 0f ? 0f : scale;
            case RELU2 -> Math.max(v, 0f) * (2f * scale);
            case RELU6 -> v <= 0f || v >= 6f ? 0f : scale;
            case IDENTITY -> scale;
            case GELU -> geluDerivative(v) * scale;
            case SOFTPLUS -> sigmoidDerivative(0f, v) * scale;
            case SIGMOID -> sigmoidDerivative(1f, v) * scale;
        };
    }

    private static float sigmoidDerivative(float sigmoidFactor, float v) {
        float sg = sigmoid(v);
        return sg * (sg * -sigmoidFactor + 1f);
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
        FloatVector vscale = FloatVector.broadcast(S, scale);
        // What the forward gives for s >= 6, rounded the same way.
        float saturated = scale * 6f;
        switch (h) {
            case RELU -> {
                // ReLU/L's whole backward φ: a compare, a select and a multiply per weight.
                for (; j < bound; j += L) {
                    FloatVector d = vscale.blend(0f, FloatVector.fromArray(S, a, aOff + j).compare(VectorOperators.LE, 0f));
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(d), dS, dsOff + j, accumulate);
                }
            }
            case RELU6 -> {
                for (; j < bound; j += L) {
                    FloatVector w = FloatVector.fromArray(S, a, aOff + j);
                    FloatVector d = vscale.blend(0f,
                            w.compare(VectorOperators.LE, 0f).or(w.compare(VectorOperators.GE, saturated)));
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(d), dS, dsOff + j, accumulate);
                }
            }
            case RELU2 -> {
                for (; j < bound; j += L) {
                    FloatVector d = FloatVector.fromArray(S, a, aOff + j).mul(scale).lanewise(VectorOperators.SQRT).mul(2f);
                    store(FloatVector.fromArray(S, dA, gOff + j).mul(d), dS, dsOff + j, accumulate);
                }
            }
            case IDENTITY -> {
                for (; j < bound; j += L) store(FloatVector.fromArray(S, dA, gOff + j).mul(scale), dS, dsOff + j, accumulate);
            }
            default -> throw new IllegalArgumentException(h + "'s derivative needs the scores, not only the weights");
        }
        for (; j < n; j++) {
            float w = a[aOff + j];
            float d = switch (h) {
                case RELU -> w <= 0f ? 0f : scale;
                case RELU6 -> w <= 0f || w >= saturated ? 0f : scale;
                case RELU2 -> (float) Math.sqrt(w * scale) * 2f;
                default -> scale;
            };
            store(dA[gOff + j] * d, dS, dsOff + j, accumulate);
        }
    }

    /** Writes r to dS at i, or adds it to what is there. */
    private static void store(FloatVector r, float[] dS, int i, boolean accumulate) {
        (accumulate ? r.add(FloatVector.fromArray(S, dS, i)) : r).intoArray(dS, i);
    }

    private static void store(float r, float[] dS, int i, boolean accumulate) {
        dS[i] = accumulate ? r + dS[i] : r;
    }
}
