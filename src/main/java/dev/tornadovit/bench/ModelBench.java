package dev.tornadovit.bench;

import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.ModelVariants;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.train.AdamW;

import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

/**
 * Training and inference throughput of whole models on synthetic data, with where a training step's time goes
 * and how many bytes a step allocates.
 */
public final class ModelBench {

    /** The small ViT of REFERENCE.md §4, the peer numbers' model: 32×32×3, patch 4, width 192, depth 6, 3 heads. */
    public static ViTConfig smallVit(AttentionConfig attention) {
        return new ViTConfig(32, 32, 3, 4, 10, 192, 6, 3, 768, "cls", "learned", attention, 0);
    }

    /** ViT-S/16 at 224×224, 1000 classes. */
    public static ViTConfig s16(AttentionConfig attention) {
        return ModelVariants.config("S/16", 224, 224, 3, 1000).withAttention(attention);
    }

    /**
     * @param allocatedBytesPerStep bytes allocated on the Java heap per training step, all threads
     */
    public record Result(String model, String attention, int batch, double trainImagesPerSecond,
                         double inferImagesPerSecond, double allocatedBytesPerStep, List<OperationProfiler.Row> profile) {
    }

    /**
     * Times {@code steps} training steps and inference passes after {@code warmup} of each.
     *
     * @param profile also run a profiled pass (separately, so its overhead does not touch the timings)
     */
    public static Result run(String modelName, ViTConfig config, Supplier<Backend> backends, int batch, int warmup,
                             int steps, boolean profile) {
        double train, infer, allocated;
        try (Backend be = backends.get()) {
            Step step = new Step(config, be, batch);
            for (int i = 0; i < warmup; i++) step.train();
            long bytesBefore = allocatedBytes();
            long t0 = System.nanoTime();
            for (int i = 0; i < steps; i++) step.train();
            train = (double) steps * batch / ((System.nanoTime() - t0) / 1e9);
            allocated = (double) (allocatedBytes() - bytesBefore) / steps;
            for (int i = 0; i < warmup; i++) step.infer();
            t0 = System.nanoTime();
            for (int i = 0; i < steps; i++) step.infer();
            infer = (double) steps * batch / ((System.nanoTime() - t0) / 1e9);
        }
        List<OperationProfiler.Row> rows = List.of();
        if (profile) {
            try (Backend inner = backends.get()) {
                Backend be = OperationProfiler.wrap(inner);
                Step step = new Step(config, be, batch);
                step.train();
                OperationProfiler.of(be).reset();
                for (int i = 0; i < Math.max(1, steps / 2); i++) step.train();
                rows = OperationProfiler.of(be).rows();
            }
        }
        return new Result(modelName, config.attention().label(), batch, train, infer, allocated, rows);
    }

    private static long allocatedBytes() {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long sum = 0;
        for (long a : threads.getThreadAllocatedBytes(threads.getAllThreadIds())) if (a > 0) sum += a;
        return sum;
    }

    /** One model with a fixed synthetic batch on a backend. */
    private static final class Step {
        final VisionTransformer model;
        final AdamW optimizer;
        final Tensor images, labels;
        final Backend be;
        final int batch;

        Step(ViTConfig config, Backend be, int batch) {
            this.be = be;
            this.batch = batch;
            model = new VisionTransformer(config, be, 1);
            optimizer = new AdamW(be, model.parameters(), AdamW.Settings.defaults());
            Random r = new Random(1);
            float[] x = new float[batch * config.channels() * config.imageHeight() * config.imageWidth()];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            float[] y = new float[batch];
            for (int i = 0; i < batch; i++) y[i] = r.nextInt(config.numClasses());
            images = be.allocate(x.length);
            labels = be.allocate(batch);
            be.upload(images, x);
            be.upload(labels, y);
        }

        void train() {
            model.setTraining(true);
            model.zeroGradients();
            model.forward(images, batch);
            be.downloadDouble(model.lossAndGradient(labels, batch));
            model.backward(batch);
            optimizer.step(1e-4);
        }

        void infer() {
            model.setTraining(false);
            be.downloadFloat(model.forward(images, batch));
        }
    }
}
