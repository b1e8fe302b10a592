package dev.tornadovit.train;

import dev.tornadovit.data.Batch;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;

/** The backend tensors a batch is uploaded into, allocated once per run. */
public final class BatchInput {
    private final Backend be;
    private final ViTConfig config;
    private final Tensor images, labels;
    private final float[] labelValues;
    private final int capacity;

    public BatchInput(Backend be, ViTConfig config, int capacity) {
        this.be = be;
        this.config = config;
        this.images = be.allocate(capacity * config.channels() * config.imageHeight() * config.imageWidth());
        this.labels = be.allocate(capacity);
        this.labelValues = new float[capacity];
        this.capacity = capacity;
    }

    /** The largest batch this input holds. */
    public int capacity() {
        return capacity;
    }

    /** Uploads the batch's images (8-bit pixels are converted by the backend) and labels. */
    public void upload(Batch b) {
        if (b.channels() != config.channels() || b.height() != config.imageHeight() || b.width() != config.imageWidth()) {
            throw new IllegalArgumentException("images are " + b.channels() + "x" + b.height() + "x" + b.width()
                    + " (channels x height x width) but the model expects " + config.channels() + "x"
                    + config.imageHeight() + "x" + config.imageWidth());
        }
        if (b.holdsPixels()) {
            be.uploadPixels(images, b.pixels(), b.size(), b.height() * b.width(), b.pixelTable());
        } else {
            be.upload(images, b.images());
        }
        for (int i = 0; i < b.size(); i++) labelValues[i] = b.labels()[i];
        be.upload(labels, labelValues);
    }

    public Tensor images() {
        return images;
    }

    public Tensor labels() {
        return labels;
    }

    /** How many of the first {@code n} rows of logits [n,K] have their maximum at the label. */
    public static int countCorrect(float[] logits, int[] labels, int n, int classes) {
        int correct = 0;
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
            if (best == labels[i]) correct++;
        }
        return correct;
    }
}
