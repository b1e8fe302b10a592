package dev.tornadovit.cli;

import dev.tornadovit.data.Augmentation;
import dev.tornadovit.train.AdamW;
import dev.tornadovit.train.TrainingOptions;
import picocli.CommandLine.Option;

/** The optimisation options shared by train and demo. */
public final class TrainingSettings {
    @Option(names = "--epochs", defaultValue = "3", description = "Passes over the training set (default ${DEFAULT-VALUE}).")
    int epochs;
    @Option(names = "--steps", defaultValue = "0", description = "Stop after this many optimiser steps (0: no limit).")
    long steps;
    @Option(names = "--batch-size", defaultValue = "128", description = "Images per step (default ${DEFAULT-VALUE}).")
    int batchSize;
    @Option(names = "--lr", defaultValue = "2e-3", description = "Peak learning rate (default ${DEFAULT-VALUE}).")
    double lr;
    @Option(names = "--min-lr", defaultValue = "1e-5", description = "Final learning rate of the cosine decay.")
    double minLr;
    @Option(names = "--warmup", defaultValue = "0.05", description = "Share of the steps used for linear warm-up.")
    double warmup;
    @Option(names = "--weight-decay", defaultValue = "0.05", description = "AdamW decoupled weight decay (weight matrices only).")
    double weightDecay;
    @Option(names = "--clip", defaultValue = "1.0", description = "Global gradient-norm clipping (0: off).")
    double clip;
    @Option(names = "--crop-padding", defaultValue = "0", description = "Random-crop augmentation: pad by N pixels, crop back.")
    int cropPadding;
    @Option(names = "--flip", description = "Random horizontal flips.")
    boolean flip;
    @Option(names = "--seed", defaultValue = "0", description = "Seed for initialisation, data order and augmentation.")
    long seed;
    @Option(names = "--checkpoint-every", defaultValue = "200", description = "Also save the resumable checkpoint every N steps.")
    int checkpointEvery;
    @Option(names = "--overlap-allreduce", arity = "1", paramLabel = "true|false", defaultValue = "true",
            description = "Under mpirun: sum the gradients in buckets while the backward pass runs (true, the default), "
                    + "or in one all-reduce after it (false); the same result either way.")
    boolean overlapAllReduce;

    /**
     * Evaluation runs in batches of up to 256, but never larger than the training batch: the trainer's workspace holds
     * the larger of the two, and a smaller --batch-size must lower the memory a run needs.
     */
    int evaluationBatch() {
        return Math.min(256, batchSize);
    }

    TrainingOptions options() {
        OptionChecks.check(this);
        return new TrainingOptions(epochs, steps, batchSize, lr, minLr, warmup,
                new AdamW.Settings(0.9, 0.999, 1e-8, weightDecay, clip), new Augmentation(cropPadding, flip), seed,
                checkpointEvery, evaluationBatch(), overlapAllReduce);
    }
}
