package dev.tornadovit.cli;

import dev.tornadovit.io.Safetensors;
import dev.tornadovit.model.MemoryEstimate;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.train.Preprocessing;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.train.Checkpoint;
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
    @Parameters(index = "0", paramLabel = "CHECKPOINT", description = "A .safetensors checkpoint written by train.")
    Path checkpoint;
    @Mixin
    DataOptions data;
    @Mixin
    DeviceOptions device;
    @Option(names = "--batch-size", defaultValue = "256", description = "Images per forward pass (default ${DEFAULT-VALUE}).")
    int batchSize;
    @Option(names = "--seed", defaultValue = "0",
            description = "With --validation-fraction: the seed the run was trained with, which chose its held-out images.")
    long seed;

    @Override
    public Integer call() {
        OptionChecks.atLeast("--batch-size", batchSize, 1);
        OptionChecks.checkForEvaluation(data);
        Safetensors.Contents contents = Safetensors.read(checkpoint);
        Preprocessing pre = Preprocessing.from(contents, checkpoint);
        ViTConfig config = Checkpoint.readConfig(contents, checkpoint);
        var test = data.evaluationSet(seed, config, pre.classNames(), checkpoint.toString());
        try (Backend be = device.create()) {
            MemoryEstimate.inference(config, batchSize, be).requireFits("--batch-size", be,
                    (long) test.size() * test.imageSize(), b -> MemoryEstimate.inference(config, b, be));
            VisionTransformer model = new VisionTransformer(config, be, 0);
            Checkpoint.loadWeights(model, contents, checkpoint);
            Evaluation ev = Evaluation.run(model, test, pre.normalization(), batchSize);
            String split = data.validationFraction > 0 ? " validation split" : "";
            System.out.printf(Locale.ROOT, "%s on %s%s: top-1 %.2f%%, loss %.4f (%d images)%n", checkpoint, data.describe(), split,
                    100 * ev.accuracy(), ev.loss(), ev.samples());
        }
        return 0;
    }
}
