package dev.tornadovit.cli;

import dev.tornadovit.checkpoint.CheckpointFormats;
import dev.tornadovit.checkpoint.FineTuning;
import dev.tornadovit.checkpoint.PretrainedModel;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.train.ParameterGroups;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** Starting from pretrained weights, and which parameters train how fast. */
public final class FineTuneOptions {
    private static final Logger log = LoggerFactory.getLogger(FineTuneOptions.class);

    @Option(names = "--init-from", paramLabel = "PATH",
            description = "Start from a pretrained ViT: a TornadoViT checkpoint, or a timm / Hugging Face transformers one "
                    + "(.safetensors file or hub folder). The checkpoint fixes the architecture; the attention options "
                    + "may change its weighting.")
    Path initFrom;

    @Option(names = "--num-classes", paramLabel = "N",
            description = "Classes of the fine-tuned head (default: the data's). A head of another size is re-initialised.")
    Integer numClasses;

    @Option(names = "--layer-decay", paramLabel = "D", defaultValue = "1",
            description = "Layer-wise learning-rate decay: block i trains at D^(depth-i) of --lr, the embeddings at "
                    + "D^(depth+1), the head at 1 (default 1: off; timm users take 0.65-0.75).")
    double layerDecay;

    @Option(names = "--linear-probe", description = "Freeze everything but the classifier head.")
    boolean linearProbe;

    private PretrainedModel pretrained;

    boolean active() {
        return initFrom != null;
    }

    ParameterGroups parameterGroups() {
        return new ParameterGroups(layerDecay, linearProbe);
    }

    /** The model to train: from {@code model}'s options, or the checkpoint's architecture with its attention options. */
    ViTConfig config(ModelOptions model, ImageDataset data) {
        if (!active()) {
            if (numClasses != null) throw new IllegalArgumentException("--num-classes needs --init-from");
            return model.build(data);
        }
        pretrained = CheckpointFormats.read(initFrom);
        int classes = numClasses != null ? numClasses : data.numClasses();
        return model.fineTune(FineTuning.config(pretrained, data.height(), data.width(), data.channels(), classes),
                pretrained.config());
    }

    /** The checkpoint's normalisation where it fits the data's channels, else the data's own statistics. */
    Normalization normalization(ImageDataset data) {
        Normalization own = pretrained == null ? null : pretrained.preprocessing().normalization();
        return own != null && own.means().length == data.channels() ? own : Normalization.compute(data);
    }

    /** Loads the pretrained weights into a fresh model (not on resume: the run's own checkpoint has them). */
    void initialise(VisionTransformer model) {
        if (pretrained == null) return;
        FineTuning.Report r = FineTuning.initialise(model, pretrained);
        log.info("Initialised from {} ({}){}; freshly initialised: {}", initFrom, pretrained.format(),
                r.positionsResampled() ? ", position embeddings resampled to " + model.config().gridHeight() + "x"
                        + model.config().gridWidth() : "",
                r.freshlyInitialised().isEmpty() ? "none" : String.join(", ", r.freshlyInitialised()));
    }
}
