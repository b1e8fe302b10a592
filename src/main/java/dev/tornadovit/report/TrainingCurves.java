package dev.tornadovit.report;

import dev.tornadovit.train.EpochRecord;

import java.nio.file.Path;
import java.util.List;

/**
 * Draws a finished run's curves ({@link Plots#trainingCurves}) or warns ({@link Charts#drawOrWarn}): the run's
 * checkpoints and metrics.csv are written already.
 */
public final class TrainingCurves {
    private TrainingCurves() {
    }

    public static void drawOrWarn(List<EpochRecord> history, String title, Path png) {
        Charts.drawOrWarn(png.toString(), "metrics.csv", () -> Plots.trainingCurves(history, title, png));
    }
}
