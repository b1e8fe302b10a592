package dev.tornadovit.train;

import dev.tornadovit.data.Batch;
import dev.tornadovit.data.BatchLoader;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.data.PrefetchIterator;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;

/** Top-1 accuracy and mean loss of a model on a dataset, in eval mode. */
public record Evaluation(double loss, double accuracy, int samples) {

    public static Evaluation run(VisionTransformer model, ImageDataset data, Normalization normalization, int batchSize) {
        return run(model, data, normalization, new BatchInput(model.backend(), model.config(), batchSize));
    }

    /**
     * Evaluates in batches of the input's capacity. A caller that evaluates repeatedly (every epoch) passes the same
     * input: a backend that records graphs then replays them instead of recording new ones for new input tensors.
     */
    public static Evaluation run(VisionTransformer model, ImageDataset data, Normalization normalization, BatchInput input) {
        Backend be = model.backend();
        int batchSize = input.capacity();
        boolean wasTraining = model.isTraining();
        model.setTraining(false);
        int classes = model.config().numClasses();
        double lossSum = 0;
        long correct = 0;
        try (BatchLoader loader = BatchLoader.builder(data).batchSize(batchSize).shuffle(false)
                .normalization(normalization).bytePixels(true).build();
             PrefetchIterator<Batch> it = loader.iterator(0)) {
            while (it.hasNext()) {
                Batch b = it.next();
                input.upload(b);
                model.forward(input.images(), b.size());
                Tensor loss = model.lossAndGradient(input.labels(), b.size());
                lossSum += be.readDouble(loss, 0) * b.size();
                float[] logits = be.downloadFloat(model.logits());
                correct += BatchInput.countCorrect(logits, b.labels(), b.size(), classes);
            }
        } finally {
            model.setTraining(wasTraining);
        }
        return new Evaluation(lossSum / data.size(), (double) correct / data.size(), data.size());
    }
}
