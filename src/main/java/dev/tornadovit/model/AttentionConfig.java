package dev.tornadovit.model;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.PointwiseActivation;

/**
 * The swappable part of a block: how scores become weights, and the options around it.
 *
 * @param weights           "softmax" or "pointwise" (φ = L^-α · h)
 * @param activation        h for pointwise weights: relu, relu2, gelu, softplus, identity, relu6, sigmoid
 * @param alpha             α in L^-α (1 for ReLU/L)
 * @param qkNorm            LayerNorm over head_dim on q and k (learned scale and bias, shared by heads)
 * @param gate              o ⊙ sigmoid(x·W_g + b_g) before the output projection
 * @param reattention       "none", "batchnorm" (DeepViT's official) or "layernorm" (over the head axis)
 * @param reattentionBlocks "all" or "last:K"
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
@JsonInclude(JsonInclude.Include.ALWAYS)
public record AttentionConfig(String weights, String activation, double alpha, boolean qkNorm, boolean gate,
                              String reattention, String reattentionBlocks) {

    public static AttentionConfig softmax() {
        return new AttentionConfig("softmax", "relu", 1.0, false, false, "none", "all");
    }

    /** ReLU/L: the paper's headline replacement for softmax. */
    public static AttentionConfig reluOverL() {
        return pointwise("relu", 1.0);
    }

    public static AttentionConfig pointwise(String activation, double alpha) {
        return new AttentionConfig("pointwise", activation, alpha, false, false, "none", "all");
    }

    public AttentionConfig withQkNorm(boolean on) {
        return new AttentionConfig(weights, activation, alpha, on, gate, reattention, reattentionBlocks);
    }

    public AttentionConfig withGate(boolean on) {
        return new AttentionConfig(weights, activation, alpha, qkNorm, on, reattention, reattentionBlocks);
    }

    public AttentionConfig withReattention(String norm, String blocks) {
        return new AttentionConfig(weights, activation, alpha, qkNorm, gate, norm, blocks);
    }

    /** Throws with the field's name and the expected values when something is off. */
    public AttentionConfig validated() {
        if (!"softmax".equals(weights) && !"pointwise".equals(weights)) {
            throw new ConfigException("attention.weights", "\"softmax\" or \"pointwise\"", weights);
        }
        if ("pointwise".equals(weights)) {
            try {
                PointwiseActivation.fromConfigName(activation);
            } catch (IllegalArgumentException e) {
                throw new ConfigException("attention.activation",
                        "one of relu, relu2, gelu, softplus, identity, relu6, sigmoid", activation);
            }
            if (!Double.isFinite(alpha) || alpha < 0) {
                throw new ConfigException("attention.alpha", "a finite number >= 0", String.valueOf(alpha));
            }
        }
        if (!"none".equals(reattention) && !"batchnorm".equals(reattention) && !"layernorm".equals(reattention)) {
            throw new ConfigException("attention.reattention", "\"none\", \"batchnorm\" or \"layernorm\"", reattention);
        }
        parseBlocks();
        return this;
    }

    @JsonIgnore
    public AttentionWeighting weighting() {
        return "softmax".equals(weights) ? AttentionWeighting.softmaxWeights()
                : AttentionWeighting.pointwise(PointwiseActivation.fromConfigName(activation), alpha);
    }

    @JsonIgnore
    public boolean hasReattention() {
        return !"none".equals(reattention);
    }

    /** K of "last:K", or 0 for "all". */
    @JsonIgnore
    public int lastBlocks() {
        return Math.max(0, parseBlocks());
    }

    /** Number of final blocks with re-attention, or -1 for all. */
    private int parseBlocks() {
        if (reattentionBlocks == null || "all".equals(reattentionBlocks)) return -1;
        if (reattentionBlocks.startsWith("last:")) {
            try {
                int k = Integer.parseInt(reattentionBlocks.substring(5));
                if (k >= 0) return k;
            } catch (NumberFormatException ignored) {
                // reported below
            }
        }
        throw new ConfigException("attention.reattention_blocks", "\"all\" or \"last:K\" with K >= 0", reattentionBlocks);
    }

    /** Whether block {@code index} of {@code depth} uses re-attention. */
    public boolean reattentionIn(int index, int depth) {
        if (!hasReattention()) return false;
        int last = parseBlocks();
        return last < 0 || index >= depth - last;
    }

    /** A short label for tables and file names, e.g. "relu/L^1 +qknorm +reattn(batchnorm,last:5)". */
    public String label() {
        StringBuilder sb = new StringBuilder(weighting().toString());
        if (qkNorm) sb.append(" +qknorm");
        if (gate) sb.append(" +gate");
        if (hasReattention()) sb.append(" +reattn(").append(reattention).append(',').append(reattentionBlocks).append(')');
        return sb.toString();
    }
}
