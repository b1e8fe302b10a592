package dev.tornadovit.model;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonValue;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.PointwiseActivation;

import java.util.Locale;

/**
 * The swappable part of a block: how scores become weights, and the options around it. In JSON (a checkpoint's and
 * config.json's "attention" object) every value is written by its config name, e.g.
 * {@code {"weights": "pointwise", "activation": "relu", "alpha": 1.0, "qk_norm": false, "gate": false,
 * "reattention": "layernorm", "reattention_blocks": "last:2"}}.
 *
 * @param weights           softmax, or pointwise φ = L^-α · h
 * @param activation        h for pointwise weights (kept, unused, for softmax)
 * @param alpha             α in L^-α (1 for ReLU/L; kept, unused, for softmax)
 * @param qkNorm            LayerNorm over head_dim on q and k (learned scale and bias, shared by heads)
 * @param gate              o ⊙ sigmoid(x·W_g + b_g) before the output projection
 * @param reattention       the norm after Re-attention's head mixing, or none for no Re-attention
 * @param reattentionBlocks the blocks that have Re-attention
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
@JsonInclude(JsonInclude.Include.ALWAYS)
public record AttentionConfig(Weights weights, PointwiseActivation activation, double alpha, boolean qkNorm,
                              boolean gate, ReattentionNorm reattention, ReattentionBlocks reattentionBlocks) {

    /** Softmax over each row of scores, or a pointwise function of each score. */
    public enum Weights {
        SOFTMAX, POINTWISE;

        @JsonValue
        public String configName() {
            return name().toLowerCase(Locale.ROOT);
        }

        @JsonCreator
        static Weights fromJson(String name) {
            for (Weights w : values()) {
                if (w.configName().equalsIgnoreCase(name)) return w;
            }
            throw new ConfigException("attention.weights", "\"softmax\" or \"pointwise\"", name);
        }
    }

    public AttentionConfig {
        // Files written before these fields existed: no Re-attention, in all blocks.
        if (reattentionBlocks == null) reattentionBlocks = ReattentionBlocks.ALL;
    }

    public static AttentionConfig softmax() {
        return new AttentionConfig(Weights.SOFTMAX, PointwiseActivation.RELU, 1.0, false, false, ReattentionNorm.NONE,
                ReattentionBlocks.ALL);
    }

    /** ReLU/L: the paper's headline replacement for softmax. */
    public static AttentionConfig reluOverL() {
        return pointwise(PointwiseActivation.RELU, 1.0);
    }

    public static AttentionConfig pointwise(PointwiseActivation activation, double alpha) {
        return new AttentionConfig(Weights.POINTWISE, activation, alpha, false, false, ReattentionNorm.NONE,
                ReattentionBlocks.ALL);
    }

    /**
     * The command line's attention function: "softmax", or an activation name h for pointwise weights L^-α · h.
     *
     * @throws ConfigException naming the expected words
     */
    public static AttentionConfig parse(String function, double alpha) {
        if ("softmax".equalsIgnoreCase(function)) return softmax();
        for (PointwiseActivation h : PointwiseActivation.values()) {
            if (h.configName().equalsIgnoreCase(function)) return pointwise(h, alpha);
        }
        throw new ConfigException("attention.activation", "softmax or one of " + PointwiseActivation.names(), function);
    }

    public AttentionConfig withQkNorm(boolean on) {
        return new AttentionConfig(weights, activation, alpha, on, gate, reattention, reattentionBlocks);
    }

    public AttentionConfig withGate(boolean on) {
        return new AttentionConfig(weights, activation, alpha, qkNorm, on, reattention, reattentionBlocks);
    }

    public AttentionConfig withReattention(ReattentionNorm norm, ReattentionBlocks blocks) {
        return new AttentionConfig(weights, activation, alpha, qkNorm, gate, norm, blocks);
    }

    /** Throws with the field's name and the expected values when something is off. */
    public AttentionConfig validated() {
        if (weights == null) throw new ConfigException("attention.weights", "\"softmax\" or \"pointwise\"", null);
        if (weights == Weights.POINTWISE) {
            if (activation == null) {
                throw new ConfigException("attention.activation", "one of " + PointwiseActivation.names(), null);
            }
            if (!Double.isFinite(alpha) || alpha < 0) {
                throw new ConfigException("attention.alpha", "a finite number >= 0", String.valueOf(alpha));
            }
        }
        if (reattention == null) throw new ConfigException("attention.reattention", "one of " + ReattentionNorm.names(), null);
        return this;
    }

    @JsonIgnore
    public boolean isSoftmax() {
        return weights == Weights.SOFTMAX;
    }

    @JsonIgnore
    public AttentionWeighting weighting() {
        return isSoftmax() ? AttentionWeighting.softmaxWeights() : AttentionWeighting.pointwise(activation, alpha);
    }

    @JsonIgnore
    public boolean hasReattention() {
        return reattention != ReattentionNorm.NONE;
    }

    /** Whether block {@code index} of {@code depth} uses re-attention. */
    public boolean reattentionIn(int index, int depth) {
        return hasReattention() && reattentionBlocks.includes(index, depth);
    }

    /** A short label for tables and file names, e.g. "relu/L^1 +qknorm +reattn(batchnorm,last:5)". */
    public String label() {
        StringBuilder sb = new StringBuilder(weighting().toString());
        if (qkNorm) sb.append(" +qknorm");
        if (gate) sb.append(" +gate");
        if (hasReattention()) {
            sb.append(" +reattn(").append(reattention.configName()).append(',').append(reattentionBlocks.configName())
                    .append(')');
        }
        return sb.toString();
    }
}
