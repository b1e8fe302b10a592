package dev.tornadovit.bench;

import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.ModelVariants;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.train.AdamW;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Training and inference throughput of whole models on synthetic data (images per second of the median step), with
 * where a training step's and an inference pass's time goes and how many bytes a step allocates.
 */
public final class ModelBench {

    /** The small ViT of docs/performance.md: 32×32×3, patch 4, width 192, depth 6, 3 heads, 10 classes. */
    public static ViTConfig smallVit(AttentionConfig attention) {
        return ViTConfig.builder().image(32, 32, 3).patchSize(4).numClasses(10).size(192, 6, 3, 768)
                .attention(attention).build();
    }

    /** ViT-S/16 at 224×224, 1000 classes. */
    public static ViTConfig s16(AttentionConfig attention) {
        return ModelVariants.config("S/16", 224, 224, 3, 1000).withAttention(attention);
    }

    /**
     * @param allocatedBytesPerStep bytes allocated on the Java heap per training step, all threads
     * @param forwardFlopsPerImage  {@link ModelFlops#forwardPerImage}
     * @param trainingFlopsPerImage {@link ModelFlops#trainingPerImage}
     */
    public record Result(String model, String attention, int batch, double trainImagesPerSecond,
                         double inferImagesPerSecond, double allocatedBytesPerStep,
                         List<OperationProfiler.Row> trainingProfile, List<OperationProfiler.Row> inferenceProfile,
                         double forwardFlopsPerImage, double trainingFlopsPerImage) {
    }

    /** One model to time: a name for the table, its configuration and batch size. */
    public record Case(String model, ViTConfig config, int batch) {
    }

    /**
     * Times {@code steps} training steps and inference passes of each case after {@code warmup} of each. The cases
     * run in rounds, one step of each per round, and each reports its median step: a load spike from another
     * process then hits every case alike, so their ratio holds even on a busy machine. All cases are in memory at
     * once, so pass the variants of one model together.
     *
     * @param profile also run profiled training steps and inference passes per case (separately, so the profiler's
     *                overhead does not touch the timings)
     */
    public static List<Result> run(List<Case> cases, Supplier<Backend> backends, int warmup, int steps,
                                   boolean profile) {
        List<Backend> opened = new ArrayList<>();
        double[][] train = new double[cases.size()][steps], infer = new double[cases.size()][steps];
        long[] allocated = new long[cases.size()];
        try {
            List<Step> models = new ArrayList<>();
            for (Case c : cases) {
                Backend be = backends.get();
                opened.add(be);
                models.add(new Step(c.config(), be, c.batch()));
            }
            for (int i = 0; i < warmup; i++) for (Step m : models) m.train();
            long bookkeeping = measurementOverhead();
            for (int i = 0; i < steps; i++) {
                for (int c = 0; c < models.size(); c++) {
                    Map<Long, Long> before = allocatedBytes();
                    long t0 = System.nanoTime();
                    models.get(c).train();
                    train[c][i] = (System.nanoTime() - t0) / 1e9;
                    allocated[c] += Math.max(0, allocatedSince(before) - bookkeeping);
                }
            }
            for (int i = 0; i < warmup; i++) for (Step m : models) m.infer();
            for (int i = 0; i < steps; i++) {
                for (int c = 0; c < models.size(); c++) {
                    long t0 = System.nanoTime();
                    models.get(c).infer();
                    infer[c][i] = (System.nanoTime() - t0) / 1e9;
                }
            }
        } finally {
            for (Backend be : opened) be.close();
        }
        List<Result> results = new ArrayList<>();
        for (int c = 0; c < cases.size(); c++) {
            Case k = cases.get(c);
            List<List<OperationProfiler.Row>> rows = profile
                    ? profile(k, backends, steps) : List.of(List.of(), List.of());
            results.add(new Result(k.model(), k.config().attention().label(), k.batch(), k.batch() / median(train[c]),
                    k.batch() / median(infer[c]), (double) allocated[c] / steps, rows.get(0), rows.get(1),
                    ModelFlops.forwardPerImage(k.config()), ModelFlops.trainingPerImage(k.config())));
        }
        return results;
    }

    /**
     * Where a training step's and an inference pass's time goes, in that order, on one model (S/16's takes gigabytes
     * to build), each over half as many as were timed.
     */
    private static List<List<OperationProfiler.Row>> profile(Case c, Supplier<Backend> backends, int steps) {
        try (Backend inner = backends.get()) {
            Backend be = OperationProfiler.wrap(inner);
            Step step = new Step(c.config(), be, c.batch());
            return List.of(profile(be, step, steps, Step::train), profile(be, step, steps, Step::infer));
        }
    }

    private static List<OperationProfiler.Row> profile(Backend profiled, Step step, int steps, Consumer<Step> pass) {
        pass.accept(step);
        OperationProfiler.of(profiled).reset();
        for (int i = 0; i < Math.max(1, steps / 2); i++) pass.accept(step);
        return OperationProfiler.of(profiled).rows();
    }

    /** The median of {@code x} (the mean of the middle two for an even count). */
    static double median(double[] x) {
        double[] sorted = x.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    /**
     * What {@link #allocatedBytes} and {@link #allocatedSince} themselves allocate inside the window they measure (the
     * map, the boxed counts): the least of a few empty windows, subtracted from each step's reading.
     */
    private static long measurementOverhead() {
        long least = Long.MAX_VALUE;
        for (int i = 0; i < 5; i++) least = Math.min(least, allocatedSince(allocatedBytes()));
        return least;
    }

    /** Bytes each live thread has allocated so far, by thread id. */
    private static Map<Long, Long> allocatedBytes() {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long[] ids = threads.getAllThreadIds();
        long[] bytes = threads.getThreadAllocatedBytes(ids);
        Map<Long, Long> byThread = new HashMap<>();
        for (int i = 0; i < ids.length; i++) if (bytes[i] >= 0) byThread.put(ids[i], bytes[i]);
        return byThread;
    }

    /**
     * Bytes allocated since {@code before}, summed per thread: a total over all threads jumps whenever a thread
     * starts or ends between the two readings, by all it allocated in its life (one run reported 500 MB per step for
     * both models, the next 60 KB).
     */
    private static long allocatedSince(Map<Long, Long> before) {
        long sum = 0;
        for (Map.Entry<Long, Long> e : allocatedBytes().entrySet()) sum += e.getValue() - before.getOrDefault(e.getKey(), 0L);
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
            be.readDouble(model.lossAndGradient(labels, batch), 0);
            model.backward(batch);
            optimizer.step(1e-4);
            be.synchronize(); // timed to the device's finish, not to the end of queueing
        }

        void infer() {
            model.setTraining(false);
            be.downloadFloat(model.forward(images, batch));
        }
    }
}
