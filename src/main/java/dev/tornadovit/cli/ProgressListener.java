package dev.tornadovit.cli;

import dev.tornadovit.train.EpochRecord;
import dev.tornadovit.train.TrainingListener;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Locale;

/**
 * A progress bar per epoch with loss, images/s and ETA at a terminal; without one (CI, pipes), a log line every
 * few seconds instead, so logs stay readable.
 */
final class ProgressListener implements TrainingListener {
    private static final Logger log = LoggerFactory.getLogger("dev.tornadovit.train");
    private final boolean terminal;
    private final int batchSize;
    private final String label;
    private ProgressBar bar;
    private long lastLog;

    ProgressListener(int batchSize, String label) {
        this(batchSize, label, true);
    }

    /** @param bars progress bars when at a terminal; false for runs side by side, whose bars would collide */
    ProgressListener(int batchSize, String label, boolean bars) {
        this.batchSize = batchSize;
        this.label = label;
        this.terminal = bars && System.console() != null && System.console().isTerminal();
    }

    @Override
    public void epochStarted(int epoch, int epochs, int startBatch, int batchesPerEpoch) {
        if (terminal) {
            bar = new ProgressBarBuilder().setTaskName(String.format(Locale.ROOT, "%sepoch %d/%d", label, epoch + 1, epochs))
                    .setInitialMax((long) batchesPerEpoch * batchSize).setUnit(" img", 1).showSpeed()
                    .setStyle(ProgressBarStyle.COLORFUL_UNICODE_BLOCK).setUpdateIntervalMillis(250)
                    .startsFrom((long) startBatch * batchSize, Duration.ZERO).build();
        } else {
            log.info("{}epoch {}/{}: {} batches of {}", label, epoch + 1, epochs, batchesPerEpoch, batchSize);
        }
        lastLog = System.nanoTime();
    }

    @Override
    public void stepDone(int epoch, int batch, long globalStep, double loss, double lr, double imagesPerSecond) {
        if (bar != null) {
            bar.stepBy(batchSize);
            bar.setExtraMessage(String.format(Locale.ROOT, " loss %.4f lr %.2e", loss, lr));
        } else if (System.nanoTime() - lastLog > 10_000_000_000L) {
            log.info(String.format(Locale.ROOT, "%s  step %d  loss %.4f  lr %.2e  %.0f img/s", label, globalStep, loss, lr, imagesPerSecond));
            lastLog = System.nanoTime();
        }
    }

    @Override
    public void epochDone(EpochRecord r, boolean best) {
        if (bar != null) {
            bar.close();
            bar = null;
        }
        log.info(String.format(Locale.ROOT, "%sepoch %d: train loss %.4f acc %.2f%% | eval loss %.4f acc %.2f%%%s | %.0f img/s",
                label, r.epoch(), r.trainLoss(), 100 * r.trainAccuracy(), r.evalLoss(), 100 * r.evalAccuracy(),
                best ? " (best)" : "", r.imagesPerSecond()));
    }
}
