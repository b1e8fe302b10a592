import dev.tornadovit.backend.Backends;
import dev.tornadovit.checkpoint.CheckpointFormats;
import dev.tornadovit.checkpoint.FineTuning;
import dev.tornadovit.checkpoint.PretrainedModel;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.ImageFolderDataset;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.train.EpochRecord;
import dev.tornadovit.train.ParameterGroups;
import dev.tornadovit.train.Trainer;
import dev.tornadovit.train.TrainingOptions;

import java.nio.file.Path;
import java.util.List;

/**
 * Fine-tunes a pretrained ViT — a timm or Hugging Face checkpoint (a .safetensors file or a hub folder), or one of
 * ours — on an image folder with train/ and test/ subfolders holding one folder per class. The head is replaced for
 * the folder's classes, the position embeddings are resampled to its image size, and the blocks train with
 * layer-wise learning-rate decay 0.75.
 *
 * <pre>
 * ./tornadovit --version        # builds target/tornadovit.jar once
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp target/tornadovit.jar \
 *     examples/FineTunePretrained.java CHECKPOINT IMAGE_FOLDER [RUN_DIR] [IMAGE_SIZE] [EPOCHS]
 * </pre>
 */
public class FineTunePretrained {
    public static void main(String[] args) {
        if (args.length < 2) {
            System.err.println("usage: FineTunePretrained CHECKPOINT IMAGE_FOLDER [RUN_DIR] [IMAGE_SIZE] [EPOCHS]");
            System.exit(2);
        }
        PretrainedModel pretrained = CheckpointFormats.read(Path.of(args[0]));
        Path folder = Path.of(args[1]);
        Path runDir = Path.of(args.length > 2 ? args[2] : "runs/example-fine-tune");
        int size = args.length > 3 ? Integer.parseInt(args[3]) : pretrained.config().imageHeight();
        int epochs = args.length > 4 ? Integer.parseInt(args[4]) : 3;

        int channels = pretrained.config().channels();
        ImageDataset train = ImageFolderDataset.load(folder.resolve("train"), size, size, channels);
        // The test folder is numbered with the training folder's classes (and must hold the same ones).
        ImageDataset test = ImageFolderDataset.load(folder.resolve("test"), size, size, channels, 0, train.classNames(),
                folder.resolve("train").toString());
        ViTConfig config = FineTuning.config(pretrained, size, size, channels, train.numClasses());
        // The checkpoint's own normalisation, where it has one: the features were learnt on images scaled so.
        Normalization norm = pretrained.preprocessing().normalization() != null
                ? pretrained.preprocessing().normalization() : Normalization.compute(train);

        try (Backend backend = Backends.create("cpu", 0)) {
            VisionTransformer model = new VisionTransformer(config, backend, 42);
            FineTuning.Report report = FineTuning.initialise(model, pretrained);
            System.out.printf("%s checkpoint %s: %,d parameters; new: %s%s%n", pretrained.format(), args[0],
                    model.parameterCount(), report.freshlyInitialised(),
                    report.positionsResampled() ? "; position embeddings resampled" : "");
            TrainingOptions options = TrainingOptions.defaults().withEpochs(epochs).withLr(5e-4).withSeed(42)
                    .withBatchSize(Math.min(64, train.size()));
            List<EpochRecord> history = new Trainer(model, train, test, norm, options, runDir, null,
                    new ParameterGroups(0.75, false)).run();
            EpochRecord last = history.get(history.size() - 1);
            System.out.printf("test accuracy after %d epochs: %.2f%%; checkpoint %s%n", epochs, 100 * last.evalAccuracy(),
                    runDir.resolve(Trainer.BEST));
        }
    }
}
