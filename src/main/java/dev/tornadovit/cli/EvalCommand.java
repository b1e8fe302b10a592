package dev.tornadovit.cli;

import dev.tornadovit.checkpoint.CheckpointFormats;
import dev.tornadovit.checkpoint.Preprocessing;
import dev.tornadovit.checkpoint.PretrainedModel;
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
    @Option(names = "--batch-size", defaultValue = "256")
    int batchSize;

    @Override
    public Integer call() {
        PretrainedModel pretrained = CheckpointFormats.read(checkpoint);
        Preprocessing pre = pretrained.preprocessing();
        ViTConfig config = pretrained.config();
        // Image folders are read at the model's input size, resized and cropped as the checkpoint says.
        data.imageSize = config.imageHeight() + "x" + config.imageWidth();
        data.channels = config.channels();
        data.cropFraction = pre.cropFraction();
        var test = data.load(false);
        if (data.evalLimit > 0 && data.evalLimit < test.size()) test = test.subset(java.util.stream.IntStream.range(0, data.evalLimit).toArray());
        try (Backend be = device.create()) {
            VisionTransformer model = pretrained.build(be);
            Evaluation ev = Evaluation.run(model, test, pre.normalization(), batchSize);
            System.out.printf(Locale.ROOT, "%s on %s: top-1 %.2f%%, loss %.4f (%d images)%n", checkpoint, data.describe(),
                    100 * ev.accuracy(), ev.loss(), ev.samples());
        }
        return 0;
    }
}
