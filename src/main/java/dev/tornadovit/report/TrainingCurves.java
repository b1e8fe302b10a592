package dev.tornadovit.report;

import dev.tornadovit.train.EpochRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.List;

/**
 * Draws a finished run's curves ({@link Plots#trainingCurves}), but a chart that cannot be drawn only logs a warning:
 * the curves come after the run, whose checkpoints and metrics.csv are written already, and a server without fonts
 * or AWT (a minimal JDK on a GPU machine) must not turn a finished run into a failed one. A class of its own, free of
 * AWT types, so that even loading {@link Plots} may fail inside the try.
 */
public final class TrainingCurves {
    private static final Logger LOG = LoggerFactory.getLogger(TrainingCurves.class);

    private TrainingCurves() {
    }

    public static void drawOrWarn(List<EpochRecord> history, String title, Path png) {
        try {
            Plots.trainingCurves(history, title, png);
        } catch (RuntimeException | LinkageError | InternalError e) {
            // LinkageError: AWT classes or native libraries missing; InternalError: AWT finding no fonts
            LOG.warn("could not draw {} ({}); the same numbers are in metrics.csv", png, e.toString());
        }
    }
}
