package dev.tornadovit.cli;

import dev.tornadovit.ImageClassifier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "predict", mixinStandardHelpOptions = true,
        description = "Classify image files (PNG/JPEG) with a checkpoint (written by train, or a timm / Hugging Face ViT): "
                + "the top classes, named as the checkpoint names them, with probabilities.")
final class PredictCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "CHECKPOINT")
    Path checkpoint;
    @Parameters(index = "1..*", arity = "1..*", paramLabel = "IMAGE")
    List<Path> images;
    @Option(names = "--top", defaultValue = "5", description = "How many classes to show per image (default ${DEFAULT-VALUE}).")
    int top;
    @Option(names = "--device", defaultValue = "cpu", description = "cpu or a TornadoVM device (see 'devices').")
    String device;
    @Mixin
    PrecisionOption precision;

    @Override
    public Integer call() {
        OptionChecks.atLeast("--top", top, 1);
        try (ImageClassifier classifier = ImageClassifier.load(checkpoint, device, precision.value())) {
            List<List<ImageClassifier.Prediction>> all = classifier.classify(images, top);
            for (int i = 0; i < images.size(); i++) {
                System.out.println(images.get(i));
                for (ImageClassifier.Prediction p : all.get(i)) System.out.println("  " + p);
            }
        }
        return 0;
    }
}
