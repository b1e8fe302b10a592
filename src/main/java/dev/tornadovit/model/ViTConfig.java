package dev.tornadovit.model;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.annotation.JsonNaming;

/**
 * A plain description of a Vision Transformer: everything needed to build it, and what is stored beside its
 * weights in a checkpoint. Named sizes come from {@link ModelVariants}.
 *
 * <p>Build one with {@link #builder()}; in JSON (config.json, a checkpoint's metadata) the fields are written in
 * snake case and enumerations by their config names ("cls", "learned", ...).
 *
 * @param pool     how the tokens become the head's input: the class token, or their average ({@link Pooling})
 * @param posEmbed learned, or fixed 2-D sin-cos (big_vision's posemb_sincos_2d)
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
@JsonInclude(JsonInclude.Include.ALWAYS)
public record ViTConfig(int imageHeight, int imageWidth, int channels, int patchSize, int numClasses,
                        int width, int depth, int heads, int mlpDim, Pooling pool, PositionEmbedding posEmbed,
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
        if (pool == null) throw new ConfigException("pool", "\"cls\", \"gap\" or \"gap_fc_norm\"", null);
        if (posEmbed == null) throw new ConfigException("pos_embed", "\"learned\" or \"sincos2d\"", null);
        if (posEmbed == PositionEmbedding.SINCOS2D && width % 4 != 0) {
            throw new ConfigException("width", "a multiple of 4 for sincos2d position embeddings", String.valueOf(width));
        }
        if (attention == null) throw new ConfigException("attention", "an attention object", null);
        attention.validated();
        if (attention.reattentionBlocks() instanceof ReattentionBlocks.Last last && last.count() > depth) {
            throw new ConfigException("attention.reattention_blocks", "\"all\" or \"last:K\" with K <= depth " + depth,
                    last.configName());
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
        long tokens = pixels / ((long) patchSize * patchSize) + (hasClsToken() ? 1 : 0);
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
        return pool == Pooling.CLS;
    }

    /** Whether the LayerNorm after the blocks normalises the pooled vector (fc_norm) rather than every token. */
    @JsonIgnore
    public boolean hasFcNorm() {
        return pool.normalisesPooled();
    }

    /** Sequence length: patches plus the cls token when there is one. */
    @JsonIgnore
    public int tokens() {
        return patchCount() + (hasClsToken() ? 1 : 0);
    }

    public ViTConfig withAttention(AttentionConfig a) {
        return new ViTConfig(imageHeight, imageWidth, channels, patchSize, numClasses, width, depth, heads, mlpDim,
                pool, posEmbed, a, labelSmoothing);
    }

    public ViTConfig withDepth(int d) {
        return new ViTConfig(imageHeight, imageWidth, channels, patchSize, numClasses, width, d, heads, mlpDim,
                pool, posEmbed, attention, labelSmoothing);
    }

    public ViTConfig withNumClasses(int k) {
        return new ViTConfig(imageHeight, imageWidth, channels, patchSize, k, width, depth, heads, mlpDim,
                pool, posEmbed, attention, labelSmoothing);
    }

    public ViTConfig withImageSize(int height, int width, int channels) {
        return new ViTConfig(height, width, channels, patchSize, numClasses, this.width, depth, heads, mlpDim,
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
            // A value our own types refuse (an unknown activation, say) carries its own one-line message.
            String why = e.getCause() instanceof IllegalArgumentException bad ? bad.getMessage() : e.getOriginalMessage();
            throw new ConfigException(source + ": not a valid model config: " + why);
        }
        try {
            return c.validated();
        } catch (ConfigException e) {
            throw new ConfigException(source + ": " + e.getMessage());
        }
    }

    /** A builder with the defaults of the command line: 1 channel, cls pooling, learned positions, softmax. */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds a {@link ViTConfig} by name rather than by position; {@link #build()} validates it. */
    public static final class Builder {
        private int imageHeight, imageWidth, channels = 1, patchSize, numClasses, width, depth, heads, mlpDim;
        private Pooling pool = Pooling.CLS;
        private PositionEmbedding posEmbed = PositionEmbedding.LEARNED;
        private AttentionConfig attention = AttentionConfig.softmax();
        private double labelSmoothing;

        private Builder() {
        }

        public Builder image(int height, int width, int channels) {
            this.imageHeight = height;
            this.imageWidth = width;
            this.channels = channels;
            return this;
        }

        public Builder patchSize(int patchSize) {
            this.patchSize = patchSize;
            return this;
        }

        public Builder numClasses(int numClasses) {
            this.numClasses = numClasses;
            return this;
        }

        /** Width (embedding dimension), depth (blocks), attention heads and the MLP's hidden dimension. */
        public Builder size(int width, int depth, int heads, int mlpDim) {
            this.width = width;
            this.depth = depth;
            this.heads = heads;
            this.mlpDim = mlpDim;
            return this;
        }

        public Builder pool(Pooling pool) {
            this.pool = pool;
            return this;
        }

        public Builder positionEmbedding(PositionEmbedding posEmbed) {
            this.posEmbed = posEmbed;
            return this;
        }

        public Builder attention(AttentionConfig attention) {
            this.attention = attention;
            return this;
        }

        public Builder labelSmoothing(double labelSmoothing) {
            this.labelSmoothing = labelSmoothing;
            return this;
        }

        /** @throws ConfigException naming the first field that is out of range */
        public ViTConfig build() {
            return new ViTConfig(imageHeight, imageWidth, channels, patchSize, numClasses, width, depth, heads, mlpDim,
                    pool, posEmbed, attention, labelSmoothing).validated();
        }
    }
}
