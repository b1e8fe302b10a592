package dev.tornadovit;

import dev.tornadovit.backend.Backends;
import dev.tornadovit.checkpoint.CheckpointFormats;
import dev.tornadovit.checkpoint.Preprocessing;
import dev.tornadovit.checkpoint.PretrainedModel;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.ImageFolderDataset;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.PixelTable;
import dev.tornadovit.tensor.Precision;
import dev.tornadovit.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The shortest way to use a trained model from Java: load a checkpoint (written by {@code train}, or a timm or
 * Hugging Face ViT), classify image files. Resizing, cropping, normalisation and class names come from the
 * checkpoint.
 *
 * <pre>{@code
 * try (ImageClassifier c = ImageClassifier.load(Path.of("runs/demo/relu-l/best.safetensors"), "cpu")) {
 *     for (ImageClassifier.Prediction p : c.classify(List.of(Path.of("shoe.png")), 3).get(0)) System.out.println(p);
 * }
 * }</pre>
 */
public final class ImageClassifier implements AutoCloseable {

    /** A class and its probability. */
    public record Prediction(int classIndex, String className, double probability) {
        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT, "%6.2f%%  %s", 100 * probability, className);
        }
    }

    private final Backend backend;
    private final VisionTransformer model;
    private final Preprocessing preprocessing;
    /** The most images one forward pass takes. */
    static final int BATCH = 64;

    /** Reused across calls, so that a graph-recording backend replays its graphs instead of recording new ones. */
    private Tensor input;

    private ImageClassifier(Backend backend, VisionTransformer model, Preprocessing preprocessing) {
        this.backend = backend;
        this.model = model;
        this.preprocessing = preprocessing;
    }

    /** A checkpoint of any supported format on the CPU. */
    public static ImageClassifier load(Path checkpoint) {
        return load(checkpoint, "cpu");
    }

    /**
     * @param checkpoint a TornadoViT checkpoint, a timm or Hugging Face transformers ViT (.safetensors file or hub
     *                   folder); see {@link CheckpointFormats}
     * @param device     "cpu" or any {@code --device} string
     */
    public static ImageClassifier load(Path checkpoint, String device) {
        return load(checkpoint, device, Precision.FP32);
    }

    /**
     * @param precision the matrix products' operand format (see {@link Precision}); the checkpoint is fp32 whatever
     *                  it is, so any checkpoint runs in any precision the device can run
     */
    public static ImageClassifier load(Path checkpoint, String device, Precision precision) {
        PretrainedModel pretrained = CheckpointFormats.read(checkpoint);
        Backend be = Backends.create(device, 0, precision);
        try {
            return new ImageClassifier(be, pretrained.build(be), pretrained.preprocessing());
        } catch (RuntimeException e) {
            be.close();
            throw e;
        }
    }

    public Preprocessing preprocessing() {
        return preprocessing;
    }

    public VisionTransformer model() {
        return model;
    }

    /** The {@code top} most probable classes of each image, most probable first. */
    public List<List<Prediction>> classify(List<Path> images, int top) {
        ViTConfig config = model.config();
        ImageDataset data = ImageFolderDataset.loadFiles(images, config.imageHeight(), config.imageWidth(), config.channels(),
                preprocessing.cropFraction());
        int n = data.size(), k = config.numClasses(), size = data.imageSize();
        // In batches of up to BATCH images: the activations grow with the batch, and a long list of files must not
        // need memory in proportion to its length.
        float[] logits = new float[n * k];
        // The 8-bit pixels go to the backend, which scales and normalises them where the model runs.
        PixelTable table = Normalization.pixelTable(preprocessing.normalization(), config.channels());
        byte[] pixels = new byte[Math.min(n, BATCH) * size];
        for (int start = 0; start < n; start += BATCH) {
            int m = Math.min(BATCH, n - start);
            for (int i = 0; i < m; i++) data.copyImageBytes(start + i, pixels, i * size);
            if (input == null || input.size() < pixels.length) input = backend.allocate(pixels.length);
            backend.uploadPixels(input, pixels, m, config.imageHeight() * config.imageWidth(), table);
            float[] batchLogits = backend.downloadFloat(model.forward(input, m));
            System.arraycopy(batchLogits, 0, logits, start * k, m * k);
        }
        List<List<Prediction>> all = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            double[] p = softmax(logits, i * k, k);
            Integer[] order = new Integer[k];
            for (int c = 0; c < k; c++) order[c] = c;
            Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
            List<Prediction> best = new ArrayList<>();
            for (int r = 0; r < Math.min(top, k); r++) {
                int c = order[r];
                best.add(new Prediction(c, preprocessing.className(c), p[c]));
            }
            all.add(best);
        }
        return all;
    }

    static double[] softmax(float[] z, int offset, int k) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int c = 0; c < k; c++) max = Math.max(max, z[offset + c]);
        double[] p = new double[k];
        for (int c = 0; c < k; c++) sum += p[c] = Math.exp(z[offset + c] - max);
        for (int c = 0; c < k; c++) p[c] /= sum;
        return p;
    }

    @Override
    public void close() {
        backend.close();
    }
}
