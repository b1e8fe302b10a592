package dev.tornadovit.train;

import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;

/** One row of a run's metrics: the state after an epoch. */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
public record EpochRecord(int epoch, long step, double trainLoss, double trainAccuracy, double evalLoss,
                          double evalAccuracy, double lr, double imagesPerSecond, double elapsedSeconds) {

    static final String CSV_HEADER = "epoch,step,train_loss,train_accuracy,eval_loss,eval_accuracy,lr,images_per_second,elapsed_seconds";

    String csv() {
        return String.format(java.util.Locale.ROOT, "%d,%d,%.6f,%.6f,%.6f,%.6f,%.8g,%.2f,%.2f", epoch, step, trainLoss,
                trainAccuracy, evalLoss, evalAccuracy, lr, imagesPerSecond, elapsedSeconds);
    }
}
