package dev.tornadovit.research;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.ViTConfig;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Small sweep folders in the format {@link Sweep} writes (results.csv, sweep.json, and per run config.json and
 * run.json), with chosen accuracies instead of trained ones, for the analysis commands' tests.
 */
public final class SweepFixtures {
    private static final ObjectMapper JSON = new ObjectMapper();

    private SweepFixtures() {
    }

    /**
     * One run of a fake sweep.
     *
     * @param attention "softmax" or a pointwise activation
     * @param accuracy  the final test accuracy; NaN for a run that diverged
     */
    public record FakeRun(String attention, double alpha, long seed, int imageSize, int patchSize, Pooling pool, int epochs,
                          long steps, int batchSize, double accuracy) {
        /** A 28×28 run with a class token, 1 epoch of 156 steps of 64: the CPU sweeps' budget. */
        public static FakeRun of(String attention, double alpha, long seed, int patchSize, double accuracy) {
            return new FakeRun(attention, alpha, seed, 28, patchSize, Pooling.CLS, 1, 156, 64, accuracy);
        }

        public FakeRun withBudget(int epochs, long steps, int batchSize) {
            return new FakeRun(attention, alpha, seed, imageSize, patchSize, pool, epochs, steps, batchSize, accuracy);
        }

        public FakeRun withImage(int imageSize, Pooling pool) {
            return new FakeRun(attention, alpha, seed, imageSize, patchSize, pool, epochs, steps, batchSize, accuracy);
        }

        ViTConfig config() {
            return ViTConfig.builder().image(imageSize, imageSize, 1).patchSize(patchSize).numClasses(10).size(32, 4, 4, 64)
                    .pool(pool).attention(AttentionConfig.parse(attention, alpha)).build();
        }

        boolean finished() {
            return !Double.isNaN(accuracy);
        }
    }

    /** Writes {@code runs} as a finished sweep in {@code dir} on the dataset {@code data}; returns {@code dir}. */
    public static Path write(Path dir, String data, List<FakeRun> runs) {
        StringBuilder results = new StringBuilder(Sweep.RESULTS_HEADER).append('\n');
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve(Sweep.SETTINGS), JSON.writeValueAsString(Map.of("data", data)));
            for (FakeRun r : runs) {
                ViTConfig config = r.config();
                String id = SweepRun.idOf(config, r.seed());
                Path runDir = Files.createDirectories(dir.resolve(id));
                Files.writeString(runDir.resolve("config.json"), config.toJson());
                Map<String, Object> training = new LinkedHashMap<>();
                training.put("epochs", r.epochs());
                training.put("maxSteps", 0);
                training.put("batchSize", r.batchSize());
                training.put("seed", r.seed());
                Files.writeString(runDir.resolve(Sweep.RUN_INFO), JSON.writeValueAsString(Map.of("id", id, "training", training)));
                String accuracy = r.finished() ? String.format(Locale.ROOT, "%.6f", r.accuracy()) : "";
                results.append(String.join(",", id, r.finished() ? "finished" : "failed", r.attention(),
                        SweepRun.formatNumber(config.attention().isSoftmax() ? Double.NaN : r.alpha()), "false", "false", "none",
                        "32", "4", "4", Long.toString(r.seed()), "36746", r.finished() ? Integer.toString(r.epochs()) : "0",
                        r.finished() ? Long.toString(r.steps()) : "", accuracy, accuracy, r.finished() ? "1" : "0",
                        "1.0", "1.0", "1000.0", "10.0")).append('\n');
            }
            Files.writeString(dir.resolve(Sweep.RESULTS), results.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return dir;
    }

    /** The folder name {@link Sweep} gives {@code run}. */
    public static String idOf(FakeRun run) {
        return SweepRun.idOf(run.config(), run.seed());
    }
}
