package dev.tornadovit.bench;

import dev.tornadovit.distributed.Distributed;
import dev.tornadovit.distributed.GradientAllReduce;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.train.AdamW;

import java.util.Random;

/**
 * Data-parallel training throughput of one rank count: every rank trains on its own synthetic batch of
 * {@code perRankBatch} images (the global batch grows with the ranks), the gradients are all-reduced each step as in
 * training, and the ranks' timings are combined. Run it under {@code mpirun -np N} for each N to compare (see
 * scripts/bench-data-parallel.sh).
 *
 * @see Result
 */
public final class DataParallelBench {

    /**
     * @param imagesPerSecond all ranks' images per second of wall time
     * @param allReduceShare  the share of a step spent in MPI's calls, averaged over the ranks: with
     *                        {@code overlapped} sums, the part of the all-reduce the backward pass did not hide; it
     *                        includes waiting for the slowest rank
     * @param allReduceBytes  bytes each rank contributes to one step's all-reduce
     * @param overlapped      whether the gradient sums ran during the backward pass (on several ranks)
     */
    public record Result(int ranks, int threadsPerRank, int perRankBatch, double secondsPerStep,
                         double imagesPerSecond, double allReduceShare, long allReduceBytes, boolean overlapped) {
    }

    private DataParallelBench() {
    }

    public static Result run(Distributed distributed, ViTConfig config, Backend be, int threadsPerRank,
                             int perRankBatch, int warmup, int steps, boolean overlapAllReduce) {
        VisionTransformer model = new VisionTransformer(config, be, 1);
        AdamW optimizer = new AdamW(be, model.parameters(), AdamW.Settings.defaults());
        GradientAllReduce gradients = overlapAllReduce
                ? GradientAllReduce.overlapping(distributed, be, model.gradientGroups())
                : new GradientAllReduce(distributed, be, model.parameters());
        model.synchronizeBatchStatistics(distributed.statisticsSum());
        Random r = new Random(1 + distributed.rank());
        float[] x = new float[perRankBatch * config.channels() * config.imageHeight() * config.imageWidth()];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        float[] y = new float[perRankBatch];
        for (int i = 0; i < perRankBatch; i++) y[i] = r.nextInt(config.numClasses());
        Tensor images = be.allocate(x.length), labels = be.allocate(perRankBatch);
        be.upload(images, x);
        be.upload(labels, y);
        model.setTraining(true);
        for (int i = 0; i < warmup; i++) step(model, optimizer, gradients, be, images, labels, perRankBatch);
        distributed.barrier();
        double collectiveBefore = distributed.collectiveSeconds();
        long start = System.nanoTime();
        for (int i = 0; i < steps; i++) step(model, optimizer, gradients, be, images, labels, perRankBatch);
        double seconds = (System.nanoTime() - start) / 1e9;
        double[] totals = {seconds, distributed.collectiveSeconds() - collectiveBefore};
        distributed.sum(totals, 2);
        int n = distributed.size();
        double meanSeconds = totals[0] / n;
        return new Result(n, threadsPerRank, perRankBatch, meanSeconds / steps,
                (double) n * perRankBatch * steps / meanSeconds, totals[1] / totals[0],
                model.parameterCount() * Float.BYTES, gradients.overlapsBackward());
    }

    private static void step(VisionTransformer model, AdamW optimizer, GradientAllReduce gradients, Backend be,
                             Tensor images, Tensor labels, int batch) {
        model.zeroGradients();
        model.forward(images, batch);
        double loss = be.readDouble(model.lossAndGradient(labels, batch), 0);
        model.backward(batch, gradients.listener());
        gradients.average(loss, 0, batch);
        optimizer.step(1e-4);
    }
}
