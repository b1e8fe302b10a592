import dev.tornadovit.backend.Backends;
import dev.tornadovit.data.DefaultData;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.ReattentionBlocks;
import dev.tornadovit.model.ReattentionNorm;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.train.EpochRecord;
import dev.tornadovit.train.Trainer;
import dev.tornadovit.train.TrainingOptions;

import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Trains a small ViT whose attention no public code has: ReLU/L weights, qk-layernorm, and Re-attention with a
 * LayerNorm over the heads in the last two blocks — on part of the bundled Fashion-MNIST.
 *
 * <pre>
 * ./tornadovit --version        # builds target/tornadovit.jar once
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp target/tornadovit.jar \
 *     examples/TrainCustomAttention.java [RUN_DIR] [IMAGES]
 * </pre>
 */
public class TrainCustomAttention {
    public static void main(String[] args) {
        Path runDir = Path.of(args.length > 0 ? args[0] : "runs/example-custom-attention");
        int images = args.length > 1 ? Integer.parseInt(args[1]) : 12_800;

        ImageDataset train = DefaultData.fashionMnist(true).subset(IntStream.range(0, images).toArray());
        ImageDataset test = DefaultData.fashionMnist(false).subset(IntStream.range(0, 2_000).toArray());

        AttentionConfig attention = AttentionConfig.pointwise(PointwiseActivation.RELU, 1.0)   // φ = relu(s) / L
                .withQkNorm(true)
                .withReattention(ReattentionNorm.LAYERNORM, new ReattentionBlocks.Last(2));
        ViTConfig config = ViTConfig.builder()
                .image(28, 28, 1).patchSize(7).numClasses(10)   // 28×28 grey images, 7×7 patches, 10 classes
                .size(64, 4, 4, 128)                             // width, depth, heads, MLP hidden width
                .attention(attention)                            // cls-token pooling, learned positions: the defaults
                .build();

        try (Backend backend = Backends.create("cpu", 0)) {
            VisionTransformer model = new VisionTransformer(config, backend, 42);
            System.out.printf("%s: %,d parameters on %s%n", config.attention().label(), model.parameterCount(), backend.name());
            TrainingOptions options = TrainingOptions.defaults().withEpochs(1).withLr(2e-3).withSeed(42);
            List<EpochRecord> history = new Trainer(model, train, test, Normalization.compute(train), options, runDir, null).run();
            EpochRecord last = history.get(history.size() - 1);
            System.out.printf("test accuracy after %d images: %.2f%%; checkpoint %s%n", images, 100 * last.evalAccuracy(),
                    runDir.resolve(Trainer.BEST));
        }
    }
}
