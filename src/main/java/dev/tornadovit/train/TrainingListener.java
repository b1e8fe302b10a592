package dev.tornadovit.train;

/** Hooks for progress display; all methods are optional. */
public interface TrainingListener {
    /** Before the first step of an epoch; {@code startBatch} > 0 when resuming mid-epoch. */
    default void epochStarted(int epoch, int epochs, int startBatch, int batchesPerEpoch) {
    }

    /** After each optimiser step. */
    default void stepDone(int epoch, int batch, long globalStep, double loss, double lr, double imagesPerSecond) {
    }

    default void epochDone(EpochRecord record, boolean best) {
    }

    TrainingListener NONE = new TrainingListener() {
    };
}
