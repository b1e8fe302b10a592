package dev.tornadovit.cli;

import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.io.IoErrors;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.ModelVariants;
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
    @Option(names = "--pool", description = "cls or gap (mean of tokens).")
    String pool;
    @Option(names = "--pos-embed", description = "learned or sincos2d.")
    String posEmbed;

    @Option(names = "--attention", defaultValue = "softmax", paramLabel = "FN",
            description = "softmax, or pointwise φ = L^-α·h(s) with h one of relu, relu2, gelu, softplus, identity, relu6, sigmoid.")
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
        AttentionConfig a = "softmax".equals(attention) ? AttentionConfig.softmax() : AttentionConfig.pointwise(attention, alpha);
        return a.withQkNorm(qkNorm).withGate(gate).withReattention(reattention, reattentionBlocks).validated();
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
            base = new ViTConfig(data.height(), data.width(), data.channels(), defaultPatch(data.height(), data.width()), data.numClasses(),
                    DEFAULT_WIDTH, DEFAULT_DEPTH, DEFAULT_HEADS, DEFAULT_MLP, "cls", "learned", AttentionConfig.softmax(), 0);
        }
        AttentionConfig a = attentionConfig();
        // A variant that brings Re-attention keeps it unless --reattention says otherwise.
        if ("none".equals(reattention) && base.attention().hasReattention()) {
            // ... and its blocks unless --reattention-blocks names others.
            String blocks = "all".equals(reattentionBlocks) ? base.attention().reattentionBlocks() : reattentionBlocks;
            a = a.withReattention(base.attention().reattention(), blocks).validated();
        }
        return new ViTConfig(base.imageHeight(), base.imageWidth(), base.channels(),
                patchSize != null ? patchSize : base.patchSize(), base.numClasses(),
                width != null ? width : base.width(), depth != null ? depth : base.depth(),
                heads != null ? heads : base.heads(), mlpDim != null ? mlpDim : base.mlpDim(),
                pool != null ? pool : base.pool(), posEmbed != null ? posEmbed : base.posEmbed(), a, labelSmoothing).validated();
    }
}
