package dev.tornadovit.cli;

import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.ImageFolderDataset;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.train.Checkpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "predict", mixinStandardHelpOptions = true,
        description = "Classify image files (PNG/JPEG) with a checkpoint: the top classes with probabilities.")
final class PredictCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "CHECKPOINT")
    Path checkpoint;
    @Parameters(index = "1..*", arity = "1..*", paramLabel = "IMAGE")
    List<Path> images;
    @Option(names = "--top", defaultValue = "5", description = "How many classes to show per image (default ${DEFAULT-VALUE}).")
    int top;
    @Mixin
    DeviceOptions device;

    @Override
    public Integer call() {
        Safetensors.Contents contents = Safetensors.read(checkpoint);
        ViTConfig config = Checkpoint.readConfig(contents, checkpoint);
        Preprocessing pre = Preprocessing.from(contents, checkpoint);
        ImageDataset data = ImageFolderDataset.loadFiles(images, config.imageHeight(), config.imageWidth(), config.channels());
        try (Backend be = device.create()) {
            VisionTransformer model = new VisionTransformer(config, be, 0);
            Checkpoint.loadWeights(model, contents, checkpoint);
            model.setTraining(false);
            int n = data.size(), k = config.numClasses(), size = data.imageSize();
            float[] pixels = new float[n * size];
            for (int i = 0; i < n; i++) {
                data.copyImage(i, pixels, i * size);
                if (pre.normalization() != null) pre.normalization().apply(pixels, i * size, config.imageHeight() * config.imageWidth());
            }
            Tensor input = be.allocate(pixels.length);
            be.upload(input, pixels);
            float[] logits = be.downloadFloat(model.forward(input, n));
            for (int i = 0; i < n; i++) {
                double[] p = softmax(logits, i * k, k);
                Integer[] order = new Integer[k];
                for (int c = 0; c < k; c++) order[c] = c;
                java.util.Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
                System.out.println(images.get(i));
                for (int r = 0; r < Math.min(top, k); r++) {
                    int c = order[r];
                    String name = c < pre.classNames().size() ? pre.classNames().get(c) : "class " + c;
                    System.out.printf(Locale.ROOT, "  %6.2f%%  %s%n", 100 * p[c], name);
                }
            }
        }
        return 0;
    }

    static double[] softmax(float[] z, int offset, int k) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int c = 0; c < k; c++) max = Math.max(max, z[offset + c]);
        double[] p = new double[k];
        for (int c = 0; c < k; c++) sum += p[c] = Math.exp(z[offset + c] - max);
        for (int c = 0; c < k; c++) p[c] /= sum;
        return p;
    }
}
