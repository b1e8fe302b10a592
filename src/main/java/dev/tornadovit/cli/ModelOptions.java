package dev.tornadovit.cli;

import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.io.IoErrors;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.ModelVariants;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ReattentionBlocks;
import dev.tornadovit.model.ReattentionNorm;
import dev.tornadovit.model.ViTConfig;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Every model and attention setting. Without --model or --config, a small ViT sized for 28×28 images. */
public final class ModelOptions {
    /** The default small ViT: quick on two cores, ~89% on Fashion-MNIST. */
    public static final int DEFAULT_WIDTH = 64, DEFAULT_DEPTH = 4, DEFAULT_HEADS = 4, DEFAULT_MLP = 128;

    /** 7×7 patches for 28×28 images (16 tokens: fast on a laptop), else 4×4, else the largest divisor below 4. */
    public static int defaultPatch(int height, int width) {
        for (int p : new int[]{7, 4, 3, 2}) if (height % p == 0 && width % p == 0) return p;
        return 1;
    }

    @Option(names = "--model", paramLabel = "VARIANT", completionCandidates = SizeNames.class,
            description = "A named size with patch size, e.g. Ti/16, S/16, B/16, DeepViT-24/16. Sizes: ${COMPLETION-CANDIDATES}.")
    String variant;

    @Option(names = "--config", paramLabel = "FILE", description = "A model config JSON (as written next to checkpoints).")
    Path configFile;

    @Option(names = "--width", description = "Embedding width D.")
    Integer width;
    @Option(names = "--depth", description = "Number of blocks (overrides the variant's, e.g. for DeepViT 16/24/32).")
    Integer depth;
    @Option(names = "--heads", description = "Attention heads.")
    Integer heads;
    @Option(names = "--mlp-dim", description = "Hidden width of each MLP.")
    Integer mlpDim;
    @Option(names = "--patch-size", description = "Patch size p (p×p pixels per token).")
    Integer patchSize;
    @Option(names = "--pool", description = "cls, gap (final norm on every token, then their mean) or gap_fc_norm (mean of the tokens, then a norm: timm's fc_norm).")
    String pool;
    @Option(names = "--pos-embed", description = "learned or sincos2d.")
    String posEmbed;

    @Option(names = "--attention", defaultValue = "softmax", paramLabel = "FN",
            description = "softmax, or pointwise φ = L^-α·h(s) with h one of relu, relu2, gelu, softplus, identity, relu6, "
                    + "sigmoid.")
    String attention;
    @Option(names = "--alpha", defaultValue = "1.0", description = "α of pointwise attention (1 = ReLU/L with --attention relu).")
    double alpha;
    @Option(names = "--qk-norm", description = "LayerNorm on q and k per head.")
    boolean qkNorm;
    @Option(names = "--gate", description = "Gated attention unit: o ⊙ sigmoid(x·W_g + b_g).")
    boolean gate;
    @Option(names = "--reattention", defaultValue = "none", description = "Re-attention norm: none, batchnorm, layernorm.")
    String reattention;
    @Option(names = "--reattention-blocks", defaultValue = "all", description = "all or last:K.")
    String reattentionBlocks;
    @Option(names = "--label-smoothing", defaultValue = "0.0", description = "Label smoothing ε of the loss.")
    double labelSmoothing;

    /** The named sizes, for --model's help. */
    static final class SizeNames implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return ModelVariants.sizeNames().iterator();
        }
    }

    AttentionConfig attentionConfig() {
        return AttentionConfig.parse(attention, alpha).withQkNorm(qkNorm).withGate(gate)
                .withReattention(ReattentionNorm.parse("--reattention", reattention),
                        ReattentionBlocks.parse("--reattention-blocks", reattentionBlocks)).validated();
    }

    /**
     * Fine-tuning {@code pretrained}: its architecture ({@code base}, already at the data's size and classes) with
     * this command line's attention weighting, gate, Re-attention and label smoothing; qk-norm stays when the
     * checkpoint has it. Options that would change the architecture are refused.
     */
    ViTConfig fineTune(ViTConfig base, ViTConfig pretrained) {
        String[] names = {"--model", "--config", "--width", "--depth", "--heads", "--mlp-dim", "--patch-size", "--pool", "--pos-embed"};
        Object[] values = {variant, configFile, width, depth, heads, mlpDim, patchSize, pool, posEmbed};
        for (int i = 0; i < names.length; i++) {
            if (values[i] != null) {
                throw new IllegalArgumentException(names[i] + " cannot be combined with --init-from: the checkpoint fixes the architecture");
            }
        }
        AttentionConfig a = attentionConfig().withQkNorm(qkNorm || pretrained.attention().qkNorm());
        return base.withAttention(a).withLabelSmoothing(labelSmoothing).validated();
    }

    /** The config for images shaped like {@code data}. */
    ViTConfig build(ImageDataset data) {
        OptionChecks.check(this);
        ViTConfig base;
        if (configFile != null) {
            try {
                base = ViTConfig.fromJson(Files.readString(configFile), configFile.toString());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + configFile + ": " + IoErrors.reason(e), e);
            }
            return base;
        }
        if (variant != null) {
            base = ModelVariants.config(variant, data.height(), data.width(), data.channels(), data.numClasses());
        } else {
            base = ViTConfig.builder().image(data.height(), data.width(), data.channels())
                    .patchSize(defaultPatch(data.height(), data.width())).numClasses(data.numClasses())
                    .size(DEFAULT_WIDTH, DEFAULT_DEPTH, DEFAULT_HEADS, DEFAULT_MLP).build();
        }
        AttentionConfig a = attentionConfig();
        // A variant that brings Re-attention keeps it unless --reattention says otherwise.
        if (!a.hasReattention() && base.attention().hasReattention()) {
            // ... and its blocks unless --reattention-blocks names others.
            ReattentionBlocks blocks = ReattentionBlocks.parse("--reattention-blocks", reattentionBlocks);
            if (blocks instanceof ReattentionBlocks.All) blocks = base.attention().reattentionBlocks();
            a = a.withReattention(base.attention().reattention(), blocks).validated();
        }
        return new ViTConfig(base.imageHeight(), base.imageWidth(), base.channels(),
                patchSize != null ? patchSize : base.patchSize(), base.numClasses(),
                width != null ? width : base.width(), depth != null ? depth : base.depth(),
                heads != null ? heads : base.heads(), mlpDim != null ? mlpDim : base.mlpDim(),
                pool != null ? Pooling.parse("--pool", pool) : base.pool(),
                posEmbed != null ? PositionEmbedding.parse("--pos-embed", posEmbed) : base.posEmbed(), a, labelSmoothing)
                .validated();
    }
}
