package dev.tornadovit.research;

import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ReattentionBlocks;
import dev.tornadovit.model.ReattentionNorm;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.train.AdamW;
import dev.tornadovit.train.EpochRecord;
import dev.tornadovit.train.TrainingOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The sweep's plots from results that do not cover the whole grid. */
class SweepPlotsTest {
    private static final TrainingOptions OPTIONS = new TrainingOptions(1, 0, 20, 1e-3, 1e-5, 0, AdamW.Settings.defaults(),
            dev.tornadovit.data.Augmentation.NONE, 0, 1, 50);

    private static Sweep.Result finished(AttentionConfig attention, double accuracy) {
        ViTConfig config = new ViTConfig(28, 28, 1, 7, 10, 8, 1, 2, 16, Pooling.CLS, PositionEmbedding.LEARNED, attention, 0);
        EpochRecord epoch = new EpochRecord(1, 10, 0.5, accuracy, 0.5, accuracy, 1e-5, 1000, 10);
        return new Sweep.Result(SweepRun.of(config, OPTIONS), Sweep.Status.SKIPPED, null, 1250, List.of(epoch));
    }

    @Test
    void aVariantMissingFromOneSeriesLeavesAnEmptyBar(@TempDir Path dir) throws IOException {
        AttentionConfig reattention = AttentionConfig.softmax().withReattention(ReattentionNorm.BATCHNORM, ReattentionBlocks.ALL);
        // ReLU/L with Re-attention is missing (pending or failed): the Re-attention chart still draws the other three
        List<Path> written = SweepPlots.writeAll(List.of(finished(AttentionConfig.softmax(), 0.85),
                finished(reattention, 0.82), finished(AttentionConfig.reluOverL(), 0.86)), dir);
        Path chart = dir.resolve(SweepPlots.REATTENTION);
        assertTrue(written.contains(chart), written.toString());
        assertNotNull(ImageIO.read(chart.toFile()), chart + " is not a PNG");
    }
}
