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

    @Override
    public String toString() {
        return softmax ? "softmax" : activation.configName() + "/L^" + alpha;
    }
}
