package dev.tornadovit.tornado.kernels;

import uk.ac.manchester.tornado.api.math.TornadoMath;

/**
 * Scalar functions the kernels share, in float, written so TornadoVM can inline them into OpenCL / PTX / SPIR-V.
 * They mirror {@code dev.tornadovit.tensor.PointwiseActivation} and {@code Erf.erfFast}, which the CPU backend uses.
 */
public final class DeviceMath {
    private DeviceMath() {
    }

    // Pointwise attention activations h of φ(s) = L^-α·h(s); the backend maps PointwiseActivation onto these codes.
    public static final int RELU = 0, RELU2 = 1, GELU = 2, SOFTPLUS = 3, IDENTITY = 4, RELU6 = 5, SIGMOID = 6;

    public static final float INV_SQRT2 = 0.70710678f;
    public static final float INV_SQRT_2PI = 0.39894228f;

    /** erf by the Chebyshev-fitted erfc of Numerical Recipes (fractional error below 1.2e-7), as the CPU backend. */
    public static float erf(float x) {
        float z = TornadoMath.abs(x);
        float t = 1f / (1f + 0.5f * z);
        float poly = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f
                + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
        float erfc = t * TornadoMath.exp(-z * z + poly);
        return x >= 0f ? 1f - erfc : erfc - 1f;
    }

    public static float gelu(float x) {
        return 0.5f * x * (1f + erf(x * INV_SQRT2));
    }

    public static float geluDerivative(float x) {
        float cdf = 0.5f * (1f + erf(x * INV_SQRT2));
        float pdf = INV_SQRT_2PI * TornadoMath.exp(-0.5f * x * x);
        return cdf + x * pdf;
    }

    public static float sigmoid(float x) {
        return 1f / (1f + TornadoMath.exp(-x));
    }

    /** log(1+e^s) without overflow for large s. */
    public static float softplus(float s) {
        return s > 0f ? s + TornadoMath.log(1f + TornadoMath.exp(-s)) : TornadoMath.log(1f + TornadoMath.exp(s));
    }

    /** h(s) of pointwise attention. */
    public static float activation(int kind, float s) {
        float r;
        if (kind == RELU) {
            r = s > 0f ? s : 0f;
        } else if (kind == RELU2) {
            r = s > 0f ? s * s : 0f;
        } else if (kind == GELU) {
            r = gelu(s);
        } else if (kind == SOFTPLUS) {
            r = softplus(s);
        } else if (kind == IDENTITY) {
            r = s;
        } else if (kind == RELU6) {
            r = s <= 0f ? 0f : TornadoMath.min(s, 6f);
        } else {
            r = sigmoid(s);
        }
        return r;
    }

    /**
     * scale·h'(s) from the weight a = scale·h(s) alone, for the h whose derivative it determines (relu, relu6, relu²,
     * identity: {@code AttentionWeighting.backwardNeedsScores}), as the CPU backend's
     * {@code VectorMath.pointwiseBackwardFromWeights}: relu s > 0 ⟺ a > 0; relu6 0 < s < 6 ⟺ 0 < a < scale·6 (the
     * forward's rounding of a saturated weight); relu² scale·2s = 2√(a·scale); identity scale.
     */
    public static float derivativeFromWeight(int kind, float a, float scale) {
        float r;
        if (kind == RELU) {
            r = a > 0f ? scale : 0f;
        } else if (kind == RELU6) {
            r = (a > 0f && a < scale * 6f) ? scale : 0f;
        } else if (kind == RELU2) {
            r = a > 0f ? TornadoMath.sqrt(a * scale) * 2f : 0f;
        } else {
            r = scale;
        }
        return r;
    }

    /** h'(s). */
    public static float activationDerivative(int kind, float s) {
        float r;
        if (kind == RELU) {
            r = s > 0f ? 1f : 0f;
        } else if (kind == RELU2) {
            r = s > 0f ? 2f * s : 0f;
        } else if (kind == GELU) {
            r = geluDerivative(s);
        } else if (kind == SOFTPLUS) {
            r = sigmoid(s);
        } else if (kind == IDENTITY) {
            r = 1f;
        } else if (kind == RELU6) {
            r = (s > 0f && s < 6f) ? 1f : 0f;
        } else {
            float g = sigmoid(s);
            r = g * (1f - g);
        }
        return r;
    }
}
