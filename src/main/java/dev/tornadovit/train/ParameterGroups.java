package dev.tornadovit.train;

import dev.tornadovit.model.Parameter;

/**
 * Which parameters train and how fast, as timm's fine-tuning does it.
 *
 * @param layerDecay     layer-wise learning-rate decay (timm's {@code layer_decay}): the head and final norm train at
 *                       the full rate, block i at decay^(depth - i), the embeddings (patch, position, cls token) at
 *                       decay^(depth + 1); 1 turns it off
 * @param frozenBackbone a linear probe: only the classifier head ({@code head.*}) trains
 */
public record ParameterGroups(double layerDecay, boolean frozenBackbone) {
    /** Every parameter at the full learning rate. */
    public static final ParameterGroups ALL = new ParameterGroups(1, false);

    public ParameterGroups {
        if (!(layerDecay > 0 && layerDecay <= 1)) {
            throw new IllegalArgumentException("--layer-decay must be in (0, 1], got " + layerDecay);
        }
    }

    /** The learning-rate multiplier of {@code p} in a model of {@code depth} blocks; 0 for a frozen parameter. */
    public double lrScale(Parameter p, int depth) {
        String name = p.name();
        if (frozenBackbone) return name.startsWith("head.") ? 1 : 0;
        if (layerDecay == 1) return 1;
        return Math.pow(layerDecay, depth + 1 - layerId(name, depth));
    }

    /** timm's layer id: 0 for the embeddings, i + 1 for block i, depth + 1 for what follows the blocks. */
    static int layerId(String name, int depth) {
        if (name.equals("cls_token") || name.equals("pos_embed") || name.startsWith("patch_embed.")) return 0;
        if (name.startsWith("blocks.")) {
            int end = name.indexOf('.', 7);
            return Integer.parseInt(name.substring(7, end)) + 1;
        }
        return depth + 1;
    }
}
