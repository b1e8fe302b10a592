package dev.tornadovit.research;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.cli.Main;
import dev.tornadovit.data.DefaultData;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.tensor.PoolMode;
import dev.tornadovit.train.AdamW;
import dev.tornadovit.train.Trainer;
import dev.tornadovit.train.TrainingListener;
import dev.tornadovit.train.TrainingOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The sweep, analyze collapse and probe commands end to end through {@link Main#execute}, on tiny budgets. */
class ResearchCommandsTest {
    @TempDir
    static Path dir;
    static Path sweepDir;
    static String firstOutput;

    record Run(int code, String out, String err) {
    }

    static Run cli(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true));
        System.setErr(new PrintStream(err, true));
        try {
            int code = Main.execute(args);
            return new Run(code, out.toString(), err.toString());
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    static String[] sweepArgs(String... extra) {
        List<String> args = new ArrayList<>(List.of("sweep", "--attention", "relu", "--alpha", "0.5,1", "--train-limit", "300",
                "--eval-limit", "100", "--epochs", "1", "--batch-size", "50", "--width", "16", "--depth", "2", "--heads", "2",
                "--threads", "1", "--sweep-dir", sweepDir.toString()));
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    @BeforeAll
    static void tinySweep() {
        sweepDir = dir.resolve("sweep");
        Run run = cli(sweepArgs());
        assertEquals(0, run.code(), run.out() + run.err());
        firstOutput = run.out();
    }

    static BufferedImage png(Path file) throws IOException {
        assertTrue(Files.exists(file), file + " was not written");
        BufferedImage image = ImageIO.read(file.toFile());
        assertNotNull(image, file + " is not a PNG");
        assertTrue(image.getWidth() >= 400 && image.getHeight() >= 300, file + " is " + image.getWidth() + "x" + image.getHeight());
        return image;
    }

    @Test
    void sweepWritesOneRowPerRunAndPlots() throws IOException {
        assertTrue(firstOutput.contains("2 runs: 2 trained, 0 resumed, 0 already finished"), firstOutput);
        List<String> rows = Files.readAllLines(sweepDir.resolve(Sweep.RESULTS));
        assertEquals(Sweep.RESULTS_HEADER, rows.getFirst());
        assertEquals(3, rows.size(), rows.toString());
        assertTrue(rows.get(1).startsWith("relu-a0.5-w16-d2-h2-s0,finished,relu,0.5,false,false,none,16,2,2,0,"), rows.get(1));
        assertTrue(rows.get(2).startsWith("relu-a1-w16-d2-h2-s0,finished,relu,1,"), rows.get(2));
        for (String row : rows.subList(1, 3)) {
            double accuracy = Double.parseDouble(row.split(",")[14]);
            assertTrue(accuracy > 0 && accuracy <= 1, row);
        }
        assertEquals(3, Files.readAllLines(sweepDir.resolve(Sweep.SUMMARY)).size());
        png(sweepDir.resolve(SweepPlots.OVERVIEW));
        png(sweepDir.resolve(SweepPlots.ALPHA));
    }

    @Test
    void aSecondCallSkipsFinishedRuns() throws IOException {
        Path metrics = sweepDir.resolve("relu-a1-w16-d2-h2-s0").resolve(Trainer.METRICS);
        Path checkpoint = sweepDir.resolve("relu-a1-w16-d2-h2-s0").resolve(Trainer.LAST);
        FileTime metricsTime = Files.getLastModifiedTime(metrics), checkpointTime = Files.getLastModifiedTime(checkpoint);
        Run again = cli(sweepArgs());
        assertEquals(0, again.code(), again.out() + again.err());
        assertTrue(again.out().contains("2 runs: 0 trained, 0 resumed, 2 already finished (skipped)"), again.out());
        assertEquals(metricsTime, Files.getLastModifiedTime(metrics));
        assertEquals(checkpointTime, Files.getLastModifiedTime(checkpoint));
        assertEquals(3, Files.readAllLines(sweepDir.resolve(Sweep.RESULTS)).size());
    }

    @Test
    void differentSharedSettingsAreRefused() {
        Run run = cli(sweepArgs("--lr", "0.01"));
        assertEquals(2, run.code());
        assertTrue(run.err().contains("sweep.json") && run.err().contains("lr = 0.002, now 0.01"), run.err());
    }

    @Test
    void badGridValuesNameTheOption() {
        Run run = cli("sweep", "--alpha", "0,x", "--dry-run");
        assertEquals(2, run.code());
        assertTrue(run.err().contains("--alpha: 'x' is not a number"), run.err());
    }

    @Test
    void aReportTabulatesTheFinishedRunsAndTrainsNothing(@TempDir Path folder) throws IOException {
        // the tiny sweep's folder gathered elsewhere: α = 0.5 finished, α = 1 stopped before its first epoch ended,
        // α = 1.5 never started
        Path copy = folder.resolve("gathered");
        try (var paths = Files.walk(sweepDir)) {
            for (Path p : paths.filter(Files::isRegularFile).toList()) {
                Path target = copy.resolve(sweepDir.relativize(p).toString());
                Files.createDirectories(target.getParent());
                Files.copy(p, target);
            }
        }
        Path stopped = copy.resolve("relu-a1-w16-d2-h2-s0").resolve(Trainer.METRICS);
        Files.write(stopped, Files.readAllLines(stopped).subList(0, 1));
        List<String> args = new ArrayList<>(List.of(sweepArgs("--alpha", "0.5,1,1.5", "--report")));
        args.set(args.indexOf(sweepDir.toString()), copy.toString());
        args.subList(3, 5).clear(); // the tiny sweep's own --alpha 0.5,1

        Run run = cli(args.toArray(String[]::new));
        assertEquals(0, run.code(), run.out() + run.err());
        assertTrue(run.out().contains("3 runs: 0 trained, 0 resumed, 1 already finished (skipped), 0 failed, 2 pending"),
                run.out());
        List<String> rows = Files.readAllLines(copy.resolve(Sweep.RESULTS));
        assertEquals(4, rows.size(), rows.toString());
        assertTrue(rows.get(1).startsWith("relu-a0.5-w16-d2-h2-s0,finished,"), rows.get(1));
        assertTrue(rows.get(2).startsWith("relu-a1-w16-d2-h2-s0,pending,"), rows.get(2));
        assertTrue(rows.get(3).startsWith("relu-a1.5-w16-d2-h2-s0,pending,"), rows.get(3));
        assertEquals(2, Files.readAllLines(copy.resolve(Sweep.SUMMARY)).size(), "only the finished run's group");
        assertTrue(Files.notExists(copy.resolve("relu-a1.5-w16-d2-h2-s0")), "nothing trained");
        assertEquals(1, Files.readAllLines(stopped).size(), "the stopped run is left as it was");

        List<SweepFolder.Run> read = SweepFolder.read(copy, SweepFolder.Metric.TEST_ACCURACY);
        assertEquals(1, read.size(), "pending rows are skipped by the analyses");
        assertEquals("relu-a0.5-w16-d2-h2-s0", read.getFirst().id());

        Run noFolder = cli("sweep", "--report");
        assertEquals(2, noFolder.code());
        assertTrue(noFolder.err().contains("--report needs the --sweep-dir"), noFolder.err());
    }

    @Test
    void anInterruptedRunResumesAndFinishedOnesAreSkipped(@TempDir Path folder) {
        ImageDataset train = DefaultData.fashionMnist(true).subset(IntStream.range(0, 200).toArray());
        ImageDataset eval = DefaultData.fashionMnist(false).subset(IntStream.range(0, 50).toArray());
        ViTConfig config = new ViTConfig(28, 28, 1, 7, 10, 8, 1, 2, 16, Pooling.CLS, PositionEmbedding.LEARNED, AttentionConfig.softmax(), 0);
        TrainingOptions options = new TrainingOptions(1, 0, 20, 1e-3, 1e-5, 0, AdamW.Settings.defaults(),
                dev.tornadovit.data.Augmentation.NONE, 0, 1, 50);
        List<SweepRun> runs = List.of(SweepRun.of(config, options), SweepRun.of(config, options.withSeed(1)));
        Normalization norm = Normalization.compute(train);
        // First call: the second run is stopped after 4 of its 10 steps (a checkpoint is written every step).
        Sweep interrupted = new Sweep(folder, runs, train, eval, norm, CpuBackend::new, run -> run.axes().seed() == 0 ? null
                : new TrainingListener() {
            @Override
            public void stepDone(int epoch, int batch, long step, double loss, double lr, double imagesPerSecond) {
                if (step == 5) throw new IllegalStateException("stopped for the test");
            }
        });
        assertThrows(IllegalStateException.class, () -> interrupted.run(1, 1));
        assertTrue(Files.exists(folder.resolve(runs.get(1).id()).resolve(Trainer.LAST)));

        Sweep again = new Sweep(folder, runs, train, eval, norm, CpuBackend::new, run -> null);
        List<Sweep.Result> results = again.run(1, 1);
        assertEquals(Sweep.Status.SKIPPED, results.get(0).status());
        assertEquals(Sweep.Status.RESUMED, results.get(1).status());
        assertEquals(1, results.get(1).history().size());
        assertEquals(10, results.get(1).last().step());
    }

    @Test
    void collapseAnalysisOfASweepCheckpoint() throws IOException {
        Path a = sweepDir.resolve("relu-a0.5-w16-d2-h2-s0").resolve(Trainer.BEST);
        Path b = sweepDir.resolve("relu-a1-w16-d2-h2-s0").resolve(Trainer.BEST);
        Path out = dir.resolve("collapse");
        Run run = cli("analyze", "collapse", a.toString(), b.toString(), "--samples", "40", "--out", out.toString(), "--threads", "1");
        assertEquals(0, run.code(), run.out() + run.err());
        assertTrue(run.out().contains("similar blocks (> 0.90 to the preceding block)"), run.out());
        List<String> summary = Files.readAllLines(out.resolve("summary.csv"));
        assertEquals(3, summary.size());
        assertTrue(summary.get(1).startsWith("relu-a0.5-w16-d2-h2-s0,"), summary.get(1));
        List<String> matrix = Files.readAllLines(out.resolve("relu-a0.5-w16-d2-h2-s0").resolve("similarity.csv"));
        assertEquals("block,block_1,block_2", matrix.getFirst());
        assertEquals(1, Double.parseDouble(matrix.get(1).split(",")[1]), 1e-5);
        png(out.resolve("relu-a0.5-w16-d2-h2-s0").resolve("heatmap.png"));
        png(out.resolve("relu-a1-w16-d2-h2-s0").resolve("blocks.png"));
        png(out.resolve("adjacent.png"));
    }

    @Test
    void probeOfASweepCheckpoint() throws IOException {
        Path checkpoint = sweepDir.resolve("relu-a1-w16-d2-h2-s0").resolve(Trainer.BEST);
        Path csv = dir.resolve("probe.csv");
        Run run = cli("probe", checkpoint.toString(), "--shots", "3", "--validation-per-class", "2", "--train-limit", "500",
                "--eval-limit", "200", "--l2-exponents", "-4..4", "--csv", csv.toString(), "--threads", "1");
        assertEquals(0, run.code(), run.out() + run.err());
        assertTrue(run.out().contains("3-shot test accuracy:") && run.out().contains("over 3 seeds"), run.out());
        List<String> rows = Files.readAllLines(csv);
        assertEquals(4, rows.size());
        for (String row : rows.subList(1, 4)) {
            double accuracy = Double.parseDouble(row.split(",")[5]);
            assertTrue(accuracy >= 0 && accuracy <= 1, row);
        }
    }
}
