package dev.tornadovit.model;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The table of named model sizes, big_vision style: "S/16" is size S with 16×16 patches. DeepViT's models
 * (Zhou et al. 2021) are in the same table; they bring Re-attention with them.
 */
public final class ModelVariants {

    /** width, depth, MLP dimension, heads, and the Re-attention the model brings (norm NONE for none). */
    public record Size(int width, int depth, int mlpDim, int heads, ReattentionNorm reattention,
                       ReattentionBlocks reattentionBlocks) {
        Size(int width, int depth, int mlpDim, int heads) {
            this(width, depth, mlpDim, heads, ReattentionNorm.NONE, ReattentionBlocks.ALL);
        }
    }

    private static final Map<String, Size> SIZES = new LinkedHashMap<>();

    static {
        SIZES.put("Ti", new Size(192, 12, 768, 3));
        SIZES.put("S", new Size(384, 12, 1536, 6));
        SIZES.put("M", new Size(512, 12, 2048, 8));
        SIZES.put("B", new Size(768, 12, 3072, 12));
        SIZES.put("L", new Size(1024, 24, 4096, 16));
        SIZES.put("H", new Size(1280, 32, 5120, 16));
        // DeepViT-16/24/32: width 384, 12 heads, MLP ratio 3, Re-attention in every block (BatchNorm, official code).
        SIZES.put("DeepViT-16", new Size(384, 16, 1152, 12, ReattentionNorm.BATCHNORM, ReattentionBlocks.ALL));
        SIZES.put("DeepViT-24", new Size(384, 24, 1152, 12, ReattentionNorm.BATCHNORM, ReattentionBlocks.ALL));
        SIZES.put("DeepViT-32", new Size(384, 32, 1152, 12, ReattentionNorm.BATCHNORM, ReattentionBlocks.ALL));
        // DeepViT-S / -L: Re-attention in the last 5 / 12 blocks. Their head counts (12) give head_dim 33 / 35.
        SIZES.put("DeepViT-S", new Size(396, 16, 1188, 12, ReattentionNorm.BATCHNORM, new ReattentionBlocks.Last(5)));
        SIZES.put("DeepViT-L", new Size(420, 32, 1260, 12, ReattentionNorm.BATCHNORM, new ReattentionBlocks.Last(12)));
        // Plain ViTs of DeepViT's depths for the collapse comparison: same width/heads/MLP, no Re-attention.
        SIZES.put("ViT-16", new Size(384, 16, 1152, 12));
        SIZES.put("ViT-24", new Size(384, 24, 1152, 12));
        SIZES.put("ViT-32", new Size(384, 32, 1152, 12));
    }

    private ModelVariants() {
    }

    public static Map<String, Size> sizes() {
        return Map.copyOf(SIZES);
    }

    /** Size names in table order. */
    public static List<String> sizeNames() {
        return List.copyOf(SIZES.keySet());
    }

    /** Names in table order, for help texts. */
    public static String names() {
        return String.join(", ", SIZES.keySet());
    }

    /**
     * Builds a config from a variant name such as "S/16", "Ti/4", "DeepViT-24/16" (the part after '/' is the patch
     * size) for images of the given shape. Softmax attention unless the variant brings Re-attention.
     */
    public static ViTConfig config(String variant, int imageHeight, int imageWidth, int channels, int numClasses) {
        int slash = variant.indexOf('/');
        if (slash < 0) {
            throw new ConfigException("model", "a variant with a patch size such as \"S/16\" (sizes: " + names() + ")", variant);
        }
        String sizeName = variant.substring(0, slash);
        Size size = SIZES.get(sizeName);
        if (size == null) {
            for (var e : SIZES.entrySet()) {
                if (e.getKey().toLowerCase(Locale.ROOT).equals(sizeName.toLowerCase(Locale.ROOT))) size = e.getValue();
            }
        }
        if (size == null) throw new ConfigException("model", "one of the sizes " + names(), sizeName);
        int patch;
        try {
            patch = Integer.parseInt(variant.substring(slash + 1));
        } catch (NumberFormatException e) {
            throw new ConfigException("model", "a patch size after '/', e.g. \"S/16\"", variant);
        }
        AttentionConfig attention = AttentionConfig.softmax().withReattention(size.reattention(), size.reattentionBlocks());
        return ViTConfig.builder().image(imageHeight, imageWidth, channels).patchSize(patch).numClasses(numClasses)
                .size(size.width(), size.depth(), size.heads(), size.mlpDim()).attention(attention).build();
    }
}
