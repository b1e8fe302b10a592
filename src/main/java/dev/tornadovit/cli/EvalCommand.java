package dev.tornadovit.cli;

import dev.tornadovit.checkpoint.CheckpointFormats;
import dev.tornadovit.checkpoint.Preprocessing;
import dev.tornadovit.checkpoint.PretrainedModel;
import dev.tornadovit.model.MemoryEstimate;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.train.Evaluation;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "eval", mixinStandardHelpOptions = true, description = "Top-1 accuracy and loss of a checkpoint on a test set.")
final class EvalCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "CHECKPOINT", description = "A checkpoint written by train, or a timm / Hugging Face ViT (.safetensors file or hub folder).")
    Path checkpoint;
    @Mixin
    DataOptions data;
    @Mixin
    DeviceOptions device;
    @Mixin
    PrecisionOption precision;
    @Option(names = "--batch-size", defaultValue = "256", description = "Images per forward pass (default ${DEFAULT-VALUE}).")
    int batchSize;
    @Option(names = "--seed", defaultValue = "0",
            description = "With --validation-fraction: the seed the run was trained with, which chose its held-out images.")
    long seed;

    @Override
    public Integer call() {
        OptionChecks.atLeast("--batch-size", batchSize, 1);
        OptionChecks.checkForEvaluation(data);
        PretrainedModel pretrained = CheckpointFormats.read(checkpoint);
        Preprocessing pre = pretrained.preprocessing();
        ViTConfig config = pretrained.config();
        // Image folders are read at the model's input size (unless --image-size says otherwise), resized and
        // cropped as the checkpoint says, with the checkpoint's classes.
        data.cropFraction = pre.cropFraction();
        var test = data.evaluationSet(seed, config, pre.classNames(), checkpoint.toString());
        try (Backend be = device.create(precision.value())) {
            MemoryEstimate.inference(config, batchSize, be).requireFits("--batch-size", be,
                    (long) test.size() * test.imageSize(), b -> MemoryEstimate.inference(config, b, be));
            VisionTransformer model = pretrained.build(be);
            Evaluation ev = Evaluation.run(model, test, pre.normalization(), batchSize);
            String split = data.validationFraction > 0 ? " validation split" : "";
            System.out.printf(Locale.ROOT, "%s on %s%s: top-1 %.2f%%, loss %.4f (%d images)%n", checkpoint, data.describe(), split,
                    100 * ev.accuracy(), ev.loss(), ev.samples());
        }
        return 0;
    }
}
