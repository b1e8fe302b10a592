package dev.tornadovit.research;

import dev.tornadovit.data.Batch;
import dev.tornadovit.data.BatchLoader;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.data.PrefetchIterator;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.train.BatchInput;

/**
 * Reads a trained model without changing it: inference-mode passes over a data set, handing each batch's
 * intermediate results (features, attention maps, block outputs) to the caller.
 */
public final class FrozenModel {
    private FrozenModel() {
    }

    /** Called after each batch's forward pass; the model's tensors then hold that batch's values. */
    @FunctionalInterface
    public interface BatchVisitor {
        void visit(VisionTransformer model, Batch batch);
    }

    /** Runs every image of {@code data} through the model in order, in inference mode (restored afterwards). */
    public static void forEachBatch(VisionTransformer model, ImageDataset data, Normalization normalization, int batchSize,
                                    BatchVisitor visitor) {
        if (batchSize < 1) throw new IllegalArgumentException("--batch-size must be >= 1, got " + batchSize);
        boolean wasTraining = model.isTraining();
        model.setTraining(false);
        try (BatchLoader loader = BatchLoader.builder(data).batchSize(batchSize).shuffle(false).normalization(normalization)
                .bytePixels(true).build();
             PrefetchIterator<Batch> it = loader.iterator(0)) {
            BatchInput input = new BatchInput(model.backend(), model.config(), batchSize);
            while (it.hasNext()) {
                Batch b = it.next();
                input.upload(b);
                model.forward(input.images(), b.size());
                visitor.visit(model, b);
            }
        } finally {
            model.setTraining(wasTraining);
        }
    }

    /** Pre-logits features ({@link VisionTransformer#features()}) of every image: n×D, row-major, in data order. */
    public static double[] features(VisionTransformer model, ImageDataset data, Normalization normalization, int batchSize) {
        int dim = model.config().width();
        double[] out = new double[data.size() * dim];
        int[] row = {0};
        forEachBatch(model, data, normalization, batchSize, (m, b) -> {
            float[] f = m.backend().downloadFloat(m.features());
            for (int i = 0; i < b.size() * dim; i++) out[row[0] * dim + i] = f[i];
            row[0] += b.size();
        });
        return out;
    }

    /** The collapse measurements of {@link AttentionSimilarity} over every image of {@code data}, and top-1 accuracy. */
    public record Collapse(AttentionSimilarity.Result similarity, double accuracy) {
    }

    /** @param centred Pearson correlation instead of DeepViT's cosine (see {@link AttentionSimilarity}) */
    public static Collapse collapse(VisionTransformer model, ImageDataset data, Normalization normalization, int batchSize,
                                    boolean centred) {
        var c = model.config();
        int depth = model.depth();
        AttentionSimilarity similarity = new AttentionSimilarity(depth, c.heads(), c.tokens(), c.width(), centred);
        long[] correct = {0};
        forEachBatch(model, data, normalization, batchSize, (m, b) -> {
            Backend be = m.backend();
            float[][] maps = new float[depth][], outputs = new float[depth][];
            for (int p = 0; p < depth; p++) {
                maps[p] = be.downloadFloat(m.attentionMap(p));
                outputs[p] = be.downloadFloat(m.blockOutput(p));
            }
            similarity.add(maps, outputs, b.size());
            correct[0] += BatchInput.countCorrect(be.downloadFloat(m.logits()), b.labels(), b.size(), c.numClasses());
        });
        return new Collapse(similarity.result(), data.size() == 0 ? Double.NaN : (double) correct[0] / data.size());
    }
}
