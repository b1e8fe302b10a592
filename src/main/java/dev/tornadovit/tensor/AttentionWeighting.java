package dev.tornadovit.tensor;

/**
 * How attention scores become weights: softmax over each row, or pointwise φ(s) = L^-α · h(s) with L the number
 * of keys. Pointwise weights need no row max or row sum, so every score is independent of the others.
 */
public record AttentionWeighting(boolean softmax, PointwiseActivation activation, double alpha) {

    public static AttentionWeighting softmaxWeights() {
        return new AttentionWeighting(true, null, 0);
    }

    public static AttentionWeighting pointwise(PointwiseActivation activation, double alpha) {
        if (activation == null) throw new IllegalArgumentException("pointwise attention needs an activation");
        if (!Double.isFinite(alpha)) throw new IllegalArgumentException("alpha must be finite, got " + alpha);
        return new AttentionWeighting(false, activation, alpha);
    }

    /** The factor L^-α applied after h, for L keys. */
    public double scale(int keys) {
        return softmax ? 1 : Math.pow(keys, -alpha);
    }

    /**
     * Whether φ's backward needs the scores themselves, or can be derived from the weights alone. Softmax needs only
     * the weights; so do relu (s > 0 ⟺ a > 0, since L^-α > 0), relu6 (0 < a < 6·L^-α), relu² (s = √(a/L^-α) where
     * a > 0) and identity (a constant derivative). GELU is not invertible; softplus and sigmoid are, but through
     * an exp or a difference of near-equal numbers, so they keep the scores too.
     */
    public boolean backwardNeedsScores() {
        return !softmax && switch (activation) {
            case RELU, RELU2, RELU6, IDENTITY -> false;
            case GELU, SOFTPLUS, SIGMOID -> true;
        };
    }

    @Override
    public String toString() {
        return softmax ? "softmax" : activation.configName() + "/L^" + alpha;
    }
}
