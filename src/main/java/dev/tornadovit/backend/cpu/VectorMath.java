package dev.tornadovit.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorised elementwise functions for the CPU backend. The scalar erf with a double exp per element made GELU
 * the largest cost of a small ViT's training step; here one vector exp serves both GELU and its derivative.
 *
 * <p>exp is our own polynomial, not {@code VectorOperators.EXP}: that one runs Java code until the JIT swaps in
 * an intrinsic with different rounding, so results would depend on compilation timing and a resumed run would
 * no longer repeat an uninterrupted one bit for bit. Additions, multiplications and fused multiply-adds round
 * the same way interpreted or compiled.
 */
public final class VectorMath {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final float INV_SQRT2 = 0.70710678118654752f, INV_SQRT_2PI = 0.39894228040143268f;
    // Abramowitz & Stegun 7.1.26: |erf error| < 1.5e-7, about float32's own resolution near 1.
    private static final float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f,
            A4 = -1.453152027f, A5 = 1.061405429f;

    private static final float LOG2E = 1.44269504088896341f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float ROUNDER = 12582912f; // 1.5·2^23: adding and subtracting it rounds to an integer

    private VectorMath() {
    }

    /**
     * e^x, relative error about 2e-7 (float32's own): x = n·ln2 + r with |r| ≤ ln2/2, e^r by its Taylor series to
     * r^7, and 2^n built in the exponent bits. Inputs below -87 give about 1e-38, above 88 about 1.6e38.
     */
    public static FloatVector exp(FloatVector x) {
        x = x.max(-87f).min(88f);
        FloatVector n = x.fma(LOG2E, ROUNDER).sub(ROUNDER);
        FloatVector r = n.fma(FloatVector.broadcast(S, -LN2_HI), x);
        r = n.fma(FloatVector.broadcast(S, -LN2_LO), r);
        FloatVector p = r.fma(1f / 5040, 1f / 720).fma(r, FloatVector.broadcast(S, 1f / 120))
                .fma(r, FloatVector.broadcast(S, 1f / 24)).fma(r, FloatVector.broadcast(S, 1f / 6))
                .fma(r, FloatVector.broadcast(S, 0.5f)).fma(r, FloatVector.broadcast(S, 1f))
                .fma(r, FloatVector.broadcast(S, 1f));
        IntVector bits = ((IntVector) n.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
        return p.mul(bits.reinterpretAsFloats());
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
            FloatVector e = exp(z.mul(z).neg());
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
            FloatVector e = exp(z.mul(z).neg());
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
}
