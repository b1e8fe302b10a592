package dev.tornadovit.report;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Draws a chart, but one that cannot be drawn only logs a warning: charts come after the numbers they show, which are
 * written already, and a server without fonts or AWT (a minimal JDK on a GPU machine) must not turn a finished run,
 * sweep or analysis into a failed one. Free of AWT types, so that even loading the drawing classes may fail inside the
 * try.
 */
public final class Charts {
    private static final Logger LOG = LoggerFactory.getLogger(Charts.class);

    private Charts() {
    }

    /**
     * Runs {@code draw}; if it fails, warns that {@code what} could not be drawn and that the same numbers are in
     * {@code sameNumbersIn}.
     *
     * @return whether the chart was drawn
     */
    public static boolean drawOrWarn(String what, String sameNumbersIn, Runnable draw) {
        try {
            draw.run();
            return true;
        } catch (RuntimeException | LinkageError | InternalError e) {
            // LinkageError: AWT classes or native libraries missing; InternalError: AWT finding no fonts
            LOG.warn("could not draw {} ({}); the same numbers are in {}", what, e, sameNumbersIn);
            return false;
        }
    }
}
