package dev.tornadovit.model;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import dev.tornadovit.tensor.PoolMode;

/**
 * A plain description of a Vision Transformer: everything needed to build it, and what is stored beside its
 * weights in a checkpoint. Named sizes come from {@link ModelVariants}.
 *
 * @param pool     "cls" (class token) or "gap" (global average of the tokens)
 * @param posEmbed "learned" or "sincos2d" (fixed, big_vision's posemb_sincos_2d)
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
@JsonInclude(JsonInclude.Include.ALWAYS)
public record ViTConfig(int imageHeight, int imageWidth, int channels, int patchSize, int numClasses,
                        int width, int depth, int heads, int mlpDim, String pool, String posEmbed,
                        AttentionConfig attention, double labelSmoothing) {

    /** LayerNorm epsilon of the ViT's own norms (timm's ViT uses 1e-6). */
    public static final double LAYER_NORM_EPS = 1e-6;
    /** Epsilon of re-attention's norm (PyTorch's BatchNorm2d / LayerNorm default, as DeepViT's code). */
    public static final double REATTENTION_NORM_EPS = 1e-5;
    public static final double BATCH_NORM_MOMENTUM = 0.1;

    static final ObjectMapper JSON = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);

    public ViTConfig validated() {
        positive("image_height", imageHeight);
        positive("image_width", imageWidth);
        positive("channels", channels);
        positive("patch_size", patchSize);
        if (numClasses < 2) throw new ConfigException("num_classes", "at least 2", String.valueOf(numClasses));
        positive("width", width);
        positive("depth", depth);
        positive("heads", heads);
        positive("mlp_dim", mlpDim);
        if (imageHeight % patchSize != 0 || imageWidth % patchSize != 0) {
            throw new ConfigException("patch_size", "a divisor of the image size " + imageHeight + "x" + imageWidth,
                    String.valueOf(patchSize));
        }
        if (width % heads != 0) {
            throw new ConfigException("heads", "a divisor of width " + width, String.valueOf(heads));
        }
        if (!"cls".equals(pool) && !"gap".equals(pool)) throw new ConfigException("pool", "\"cls\" or \"gap\"", pool);
        if (!"learned".equals(posEmbed) && !"sincos2d".equals(posEmbed)) {
            throw new ConfigException("pos_embed", "\"learned\" or \"sincos2d\"", posEmbed);
        }
        if ("sincos2d".equals(posEmbed) && width % 4 != 0) {
            throw new ConfigException("width", "a multiple of 4 for sincos2d position embeddings", String.valueOf(width));
        }
        if (attention == null) throw new ConfigException("attention", "an attention object", null);
        attention.validated();
        if (attention.lastBlocks() > depth) {
            throw new ConfigException("attention.reattention_blocks", "\"all\" or \"last:K\" with K <= depth " + depth,
                    attention.reattentionBlocks());
        }
        checkSizes();
        if (!(labelSmoothing >= 0 && labelSmoothing < 1)) {
            throw new ConfigException("label_smoothing", "a number in [0, 1)", String.valueOf(labelSmoothing));
        }
        return this;
    }

    /**
     * Every tensor of one image must fit a Java array (the batch multiplies the activations later, and
     * {@link MemoryEstimate} checks those): otherwise int sizes would wrap, and the model would fail deep inside with
     * a negative array size. Sizes are computed in long arithmetic.
     */
    private void checkSizes() {
        long d = width, pixels = product(imageHeight, imageWidth), patchLength = product(channels, patchSize, patchSize);
        fits("image_height", "an image (channels×height×width)", product(channels, pixels));
        long tokens = pixels / ((long) patchSize * patchSize) + ("cls".equals(pool) ? 1 : 0);
        fits(d >= patchLength ? "width" : "patch_size", "the patch embedding's weight (width×channels×patch_size²)",
                product(d, patchLength));
        fits("width", "the attention's qkv weight (3×width×width)", product(3, d, d));
        fits("mlp_dim", "the MLP's weight (mlp_dim×width)", product(d, mlpDim));
        fits("num_classes", "the head's weight (num_classes×width)", product(d, numClasses));
        fits("width", "one image's qkv activations (tokens×3×width)", product(tokens, 3, d));
        fits("mlp_dim", "one image's MLP activations (tokens×mlp_dim)", product(tokens, mlpDim));
        fits("patch_size", "one image's attention maps (heads×tokens×tokens)", product(heads, tokens, tokens));
    }

    /** The product of positive factors, or Long.MAX_VALUE where it would overflow. */
    private static long product(long... factors) {
        long p = 1;
        for (long f : factors) {
            if (f != 0 && p > Long.MAX_VALUE / f) return Long.MAX_VALUE;
            p *= f;
        }
        return p;
    }

    private static void fits(String field, String tensor, long elements) {
        if (elements > MemoryEstimate.MAX_TENSOR_ELEMENTS) {
            String count = elements == Long.MAX_VALUE ? "more than 2^63" : String.format(java.util.Locale.ROOT, "%,d", elements);
            throw new ConfigException(String.format(java.util.Locale.ROOT, "config field '%s': %s would hold %s "
                    + "values, more than one tensor holds (at most %,d)", field, tensor, count,
                    MemoryEstimate.MAX_TENSOR_ELEMENTS));
        }
    }

    private static void positive(String field, int value) {
        if (value <= 0) throw new ConfigException(field, "a positive integer", String.valueOf(value));
    }

    @JsonIgnore
    public int headDim() {
        return width / heads;
    }

    @JsonIgnore
    public int gridHeight() {
        return imageHeight / patchSize;
    }

    @JsonIgnore
    public int gridWidth() {
        return imageWidth / patchSize;
    }

    @JsonIgnore
    public int patchCount() {
        return gridHeight() * gridWidth();
    }

    @JsonIgnore
    public boolean hasClsToken() {
        return "cls".equals(pool);
    }

    /** Sequence length: patches plus the cls token when there is one. */
    @JsonIgnore
    public int tokens() {
        return patchCount() + (hasClsToken() ? 1 : 0);
    }

    @JsonIgnore
    public PoolMode poolMode() {
        return hasClsToken() ? PoolMode.CLS : PoolMode.MEAN;
    }

    public ViTConfig withAttention(AttentionConfig a) {
        return new ViTConfig(imageHeight, imageWidth, channels, patchSize, numClasses, width, depth, heads, mlpDim,
                pool, posEmbed, a, labelSmoothing);
    }

    public ViTConfig withDepth(int d) {
        return new ViTConfig(imageHeight, imageWidth, channels, patchSize, numClasses, width, d, heads, mlpDim,
                pool, posEmbed, attention, labelSmoothing);
    }

    public ViTConfig withLabelSmoothing(double s) {
        return new ViTConfig(imageHeight, imageWidth, channels, patchSize, numClasses, width, depth, heads, mlpDim,
                pool, posEmbed, attention, s);
    }

    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Parses and validates; {@code source} names the file (or other origin) in error messages. */
    public static ViTConfig fromJson(String json, String source) {
        ViTConfig c;
        try {
            c = JSON.readValue(json, ViTConfig.class);
        } catch (JsonProcessingException e) {
            throw new ConfigException(source + ": not a valid model config: " + e.getOriginalMessage());
        }
        try {
            return c.validated();
        } catch (ConfigException e) {
            throw new ConfigException(source + ": " + e.getMessage());
        }
    }
}
