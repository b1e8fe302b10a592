package dev.tornadovit.train;

import dev.tornadovit.data.Augmentation;

/**
 * How to train: plain values, every one with a default that suits the bundled Fashion-MNIST demo.
 *
 * @param epochs            passes over the training set
 * @param maxSteps          stop after this many optimiser steps (0: no limit)
 * @param warmupFraction    share of all steps spent warming the learning rate up linearly
 * @param minLr             the learning rate the cosine decays to
 * @param checkpointEvery   also write the "last" checkpoint every this many steps (0: only at epoch ends)
 * @param overlapAllReduce  of several ranks: sum the gradients in buckets while the backward pass runs (true), or in
 *                          one all-reduce after it (false); the same result either way
 */
public record TrainingOptions(int epochs, long maxSteps, int batchSize, double lr, double minLr, double warmupFraction,
                              AdamW.Settings optimizer, Augmentation augmentation, long seed, int checkpointEvery,
                              int evalBatchSize, boolean overlapAllReduce) {

    /** The gradient all-reduce overlaps the backward pass. */
    public TrainingOptions(int epochs, long maxSteps, int batchSize, double lr, double minLr, double warmupFraction,
                           AdamW.Settings optimizer, Augmentation augmentation, long seed, int checkpointEvery,
                           int evalBatchSize) {
        this(epochs, maxSteps, batchSize, lr, minLr, warmupFraction, optimizer, augmentation, seed, checkpointEvery,
                evalBatchSize, true);
    }

    public static TrainingOptions defaults() {
        return new TrainingOptions(3, 0, 128, 1e-3, 1e-5, 0.05, AdamW.Settings.defaults(), Augmentation.NONE, 0,
                200, 256);
    }

    public TrainingOptions {
        if (epochs <= 0) throw new IllegalArgumentException("--epochs must be > 0, got " + epochs);
        if (batchSize <= 0) throw new IllegalArgumentException("--batch-size must be > 0, got " + batchSize);
        if (!(lr > 0)) throw new IllegalArgumentException("--lr must be > 0, got " + lr);
        if (!(warmupFraction >= 0 && warmupFraction < 1)) {
            throw new IllegalArgumentException("warm-up fraction must be in [0,1), got " + warmupFraction);
        }
    }

    public TrainingOptions withEpochs(int e) {
        return new TrainingOptions(e, maxSteps, batchSize, lr, minLr, warmupFraction, optimizer, augmentation, seed,
                checkpointEvery, evalBatchSize, overlapAllReduce);
    }

    public TrainingOptions withSeed(long s) {
        return new TrainingOptions(epochs, maxSteps, batchSize, lr, minLr, warmupFraction, optimizer, augmentation, s,
                checkpointEvery, evalBatchSize, overlapAllReduce);
    }

    public TrainingOptions withMaxSteps(long s) {
        return new TrainingOptions(epochs, s, batchSize, lr, minLr, warmupFraction, optimizer, augmentation, seed,
                checkpointEvery, evalBatchSize, overlapAllReduce);
    }

    public TrainingOptions withBatchSize(int b) {
        return new TrainingOptions(epochs, maxSteps, b, lr, minLr, warmupFraction, optimizer, augmentation, seed,
                checkpointEvery, evalBatchSize, overlapAllReduce);
    }

    public TrainingOptions withLr(double l) {
        return new TrainingOptions(epochs, maxSteps, batchSize, l, minLr, warmupFraction, optimizer, augmentation, seed,
                checkpointEvery, evalBatchSize, overlapAllReduce);
    }

    public TrainingOptions withCheckpointEvery(int n) {
        return new TrainingOptions(epochs, maxSteps, batchSize, lr, minLr, warmupFraction, optimizer, augmentation, seed,
                n, evalBatchSize, overlapAllReduce);
    }

    public TrainingOptions withOverlapAllReduce(boolean overlap) {
        return new TrainingOptions(epochs, maxSteps, batchSize, lr, minLr, warmupFraction, optimizer, augmentation, seed,
                checkpointEvery, evalBatchSize, overlap);
    }
}
