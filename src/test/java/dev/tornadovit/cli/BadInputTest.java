package dev.tornadovit.cli;

import dev.tornadovit.io.Safetensors;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.ReattentionBlocks;
import dev.tornadovit.model.ReattentionNorm;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.research.SweepFixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.tornadovit.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** What bad input gets at the command line: one line naming the option, field or file, before any work is done. */
class BadInputTest {

    /** Exit code 2, one line starting "error: " that contains {@code expected}, no stack trace. */
    static void refused(CliTest.Result r, String expected) {
        assertEquals(2, r.code(), "exit code; stderr: " + r.err() + " stdout: " + r.out());
        String err = r.err().strip();
        assertTrue(err.startsWith("error: ") && err.contains(expected), "expected '" + expected + "' in: " + err);
        assertEquals(1, err.lines().count(), "one line: " + err);
        assertFalse(err.contains("\tat ") || err.contains("Exception"), "no stack trace: " + err);
    }

    @Test
    void everyNumericOptionOutOfRangeIsRefusedBeforeAnythingIsWritten(@TempDir Path dir) {
        Path runDir = dir.resolve("run");
        String rd = runDir.toString();
        String cfg = dir.resolve("model.json").toString();
        // {arguments..., expected part of the message}
        String[][] cases = {
                {"train", "--train-limit", "-1", "--run-dir", rd, "--train-limit must be >= 0, got -1"},
                {"train", "--eval-limit", "-5", "--run-dir", rd, "--eval-limit must be >= 0, got -5"},
                {"train", "--min-lr", "0.5", "--lr", "0.1", "--run-dir", rd, "--min-lr must not be above --lr"},
                {"train", "--weight-decay", "-0.1", "--run-dir", rd, "--weight-decay must be >= 0, got -0.1"},
                {"train", "--clip", "-1", "--run-dir", rd, "--clip must be >= 0, got -1.0"},
                {"train", "--checkpoint-every", "-1", "--run-dir", rd, "--checkpoint-every must be >= 0, got -1"},
                {"train", "--lr", "Infinity", "--run-dir", rd, "--lr must be a finite number > 0, got Infinity"},
                {"train", "--lr", "NaN", "--run-dir", rd, "--lr must be a finite number > 0, got NaN"},
                {"train", "--lr", "0", "--run-dir", rd, "--lr must be > 0, got 0.0"},
                {"train", "--min-lr", "-1e-5", "--run-dir", rd, "--min-lr must be >= 0"},
                {"train", "--warmup", "1", "--run-dir", rd, "--warmup must be in [0, 1), got 1.0"},
                {"train", "--epochs", "0", "--run-dir", rd, "--epochs must be >= 1, got 0"},
                {"train", "--steps", "-1", "--run-dir", rd, "--steps must be >= 0, got -1"},
                {"train", "--batch-size", "0", "--run-dir", rd, "--batch-size must be >= 1, got 0"},
                {"train", "--crop-padding", "-2", "--run-dir", rd, "--crop-padding must be >= 0, got -2"},
                {"train", "--crop-padding", "2000000000", "--run-dir", rd, "--crop-padding must be at most 4096"},
                {"train", "--validation-fraction", "1", "--run-dir", rd, "--validation-fraction must be in [0, 1), got 1.0"},
                {"train", "--validation-fraction", "NaN", "--run-dir", rd, "--validation-fraction must be a finite number in [0, 1), got NaN"},
                {"train", "--channels", "2", "--run-dir", rd, "--channels must be 1 (grey) or 3 (RGB), got 2"},
                {"train", "--image-size", "0", "--run-dir", rd, "--image-size: expected N or HxW"},
                {"train", "--image-size", "100000", "--run-dir", rd, "--image-size: expected N or HxW with whole numbers from 1 to 16384"},
                {"train", "--image-size", "64", "--train-limit", "64", "--run-dir", rd,
                        "--image-size applies to image folders only; Fashion-MNIST (bundled) holds IDX images"},
                {"train", "--channels", "3", "--train-limit", "64", "--run-dir", rd, "--channels applies to image folders only"},
                {"train", "--config", cfg, "--width", "32", "--label-smoothing", "0.1", "--run-dir", rd,
                        "--config " + cfg + " sets the whole model; --width, --label-smoothing would be ignored"},
                {"train", "--alpha", "0.5", "--run-dir", rd, "--alpha applies to pointwise attention"},
                {"train", "--threads", "-1", "--train-limit", "64", "--run-dir", rd, "--threads must be >= 0"},
                {"train", "--reattention", "batchnorm", "--reattention-blocks", "last:9", "--train-limit", "64",
                        "--run-dir", rd, "'attention.reattention_blocks': expected \"all\" or \"last:K\" with K <= depth 4, found 'last:9'"},
                {"train", "--alpha", "NaN", "--attention", "relu", "--train-limit", "64", "--run-dir", rd, "'attention.alpha'"},
                {"train", "--label-smoothing", "1", "--train-limit", "64", "--run-dir", rd, "'label_smoothing'"},
                {"predict", dir.resolve("none.safetensors").toString(), "x.png", "--top", "0", "--top must be >= 1, got 0"},
                {"eval", dir.resolve("none.safetensors").toString(), "--batch-size", "0", "--batch-size must be >= 1, got 0"},
                {"eval", dir.resolve("none.safetensors").toString(), "--train-limit", "10", "--train-limit does not apply to eval"},
                {"bench", "--what", "model", "--batch", "0", "--batch must be >= 1, got 0"},
                {"bench", "--what", "model", "--steps", "0", "--steps must be >= 1, got 0"},
                {"bench", "--what", "model", "--batch", "100000000", "--batch 100000000: the MLP's hidden activations (B×T×mlp_dim) would hold"},
                {"bench", "--what", "model", "--threads", "-2", "--threads must be >= 0, got -2"},
                {"demo", "--threads", "-2", "--run-dir", rd, "--threads must be >= 0, got -2"},
                {"bench", "--what", "model", "--s16-batch", "-3", "--s16-batch must be >= 1, got -3"},
                {"bench", "--what", "model", "--gate", "maybe", "'maybe' is not a boolean"},
                {"bench", "--what", "matmul", "--seconds", "Infinity", "--seconds must be a finite number > 0, got Infinity"},
                {"sweep", "--mlp-ratio", "0", "--sweep-dir", rd, "--mlp-ratio must be > 0, got 0.0"},
                {"sweep", "--lr", "-1", "--sweep-dir", rd, "--lr must be > 0, got -1.0"},
                {"probe", dir.resolve("none.safetensors").toString(), "--shots", "0", "--shots must be >= 1, got 0"},
                {"probe", dir.resolve("none.safetensors").toString(), "--validation-per-class", "0", "--validation-per-class must be >= 1"},
                {"probe", dir.resolve("none.safetensors").toString(), "--batch-size", "-1", "--batch-size must be >= 1, got -1"},
                {"probe", dir.resolve("none.safetensors").toString(), "--l2-exponents", "-2147483648..2147483647",
                        "--l2-exponents: expected A..B with whole numbers -100 <= A <= B <= 100"},
                {"analyze", "collapse", dir.resolve("none.safetensors").toString(), "--threshold", "NaN", "--threshold must be in [-1, 1], got NaN"},
                {"analyze", "collapse", dir.resolve("none.safetensors").toString(), "--batch-size", "0", "--batch-size must be >= 1, got 0"},
                {"analyze", "best-alpha", dir.resolve("nothing").toString(), "--out", rd,
                        dir.resolve("nothing") + ": no such folder; expected a sweep folder (the --sweep-dir of tornadovit sweep)"},
                {"analyze", "best-alpha", dir.toString(), "--out", rd, dir + ": not a sweep folder: it has no results.csv"},
                {"analyze", "best-alpha", dir.toString(), "--metric", "f1", "--out", rd,
                        "Invalid value for option '--metric': expected test-accuracy, best-test-accuracy or probe, got 'f1'"},
                {"demo", "--epochs", "0", "--run-dir", rd, "--epochs must be >= 1, got 0"},
                {"demo", "--train-limit", "-1", "--run-dir", rd, "--train-limit must be >= 0, got -1"},
        };
        for (String[] c : cases) {
            String[] args = java.util.Arrays.copyOf(c, c.length - 1);
            refused(run(args), c[c.length - 1]);
            assertFalse(Files.exists(runDir), "nothing written for " + String.join(" ", args));
        }
    }

    /** The all-reduce switch takes true or false; picocli's refusal names the option and the value. */
    @Test
    void overlapAllReduceTakesTrueOrFalse(@TempDir Path dir) {
        String rd = dir.resolve("run").toString();
        for (String[] args : new String[][]{{"train", "--run-dir", rd, "--overlap-allreduce", "maybe"},
                {"bench", "--what", "data-parallel", "--overlap-allreduce", "1"}}) {
            refused(run(args), "Invalid value for option '--overlap-allreduce': '" + args[args.length - 1]
                    + "' is not a boolean");
        }
        assertFalse(Files.exists(dir.resolve("run")));
    }

    @Test
    void sizesPastAnArrayAreRefusedNamingTheFieldAndTheLimit(@TempDir Path dir) {
        refused(run("train", "--width", "46341", "--heads", "1", "--depth", "1", "--train-limit", "64", "--run-dir",
                dir.resolve("run").toString()), "config field 'width': the attention's qkv weight (3×width×width) "
                + "would hold 6,442,464,843 values, more than one tensor holds (at most 2,147,483,639)");
        refused(run("train", "--batch-size", "100000000", "--train-limit", "64", "--run-dir", dir.resolve("run").toString()),
                "--batch-size 100000000: the attention's qkv (B×T×3D) would hold");
        assertFalse(Files.exists(dir.resolve("run")));

        // A checkpoint whose config says width 2e9: refused when its config is read, before any model is built.
        String config = small().toJson().replaceFirst("\"width\" : 16", "\"width\" : 2e9");
        assertTrue(config.contains("2e9"), config);
        Path file = dir.resolve("huge.safetensors");
        Safetensors.write(file, List.of(), Map.of("format", "tornadovit-1", "config", config));
        refused(run("eval", file.toString()), file + " (metadata 'config'): config field 'width'");
        refused(run("predict", file.toString(), "x.png"), "config field 'width'");

        // Commands that run a checkpoint refuse a batch size whose activations overflow, before loading any images.
        Path checkpoint = dir.resolve("small.safetensors");
        try (var be = new dev.tornadovit.backend.cpu.CpuBackend()) {
            dev.tornadovit.checkpoint.Checkpoint.save(checkpoint, new dev.tornadovit.model.VisionTransformer(small(), be, 0), null, null);
        }
        String tooMany = "--batch-size 100000000: the attention's qkv (B×T×3D) would hold 81,600,000,000 values";
        refused(run("eval", checkpoint.toString(), "--batch-size", "100000000", "--eval-limit", "10"), tooMany);
        refused(run("probe", checkpoint.toString(), "--batch-size", "100000000", "--eval-limit", "100"), tooMany);
        refused(run("analyze", "collapse", checkpoint.toString(), "--batch-size", "100000000", "--samples", "10",
                "--out", dir.resolve("collapse").toString()), tooMany);
        assertFalse(Files.exists(dir.resolve("collapse")));
    }

    @Test
    void aVariantsReattentionKeepsTheBlocksGivenByOption() {
        ModelOptions m = new ModelOptions();
        m.variant = "DeepViT-16/7";
        m.depth = 4;
        m.attention = "softmax";
        m.alpha = 1.0;
        m.reattention = "none";
        m.reattentionBlocks = "last:2";
        var data = new dev.tornadovit.data.ImageDataset(1, 28, 28, List.of("a", "b"), new byte[28 * 28], new int[1]);
        ViTConfig config = m.build(data);
        assertEquals(ReattentionNorm.BATCHNORM, config.attention().reattention());
        assertEquals(new ReattentionBlocks.Last(2), config.attention().reattentionBlocks());
        m.reattentionBlocks = "all";
        assertEquals(ReattentionBlocks.ALL, m.build(data).attention().reattentionBlocks());
    }

    static ViTConfig small() {
        return new ViTConfig(28, 28, 1, 7, 10, 16, 1, 2, 32, Pooling.CLS, PositionEmbedding.LEARNED, AttentionConfig.softmax(), 0);
    }

    @Test
    void aRunTooLargeForTheHeapIsRefusedWithTheEstimateAndWhatToChange(@TempDir Path dir) {
        // Patch size 1 on 28×28: 785 tokens, so attention maps of 128×8×785² floats per block: far past the test's heap.
        CliTest.Result r = run("train", "--patch-size", "1", "--width", "64", "--heads", "8", "--depth", "4",
                "--train-limit", "256", "--eval-limit", "64", "--batch-size", "128", "--run-dir", dir.resolve("run").toString());
        refused(r, "this run needs about ");
        assertTrue(r.err().contains("activations for batches of 128") && r.err().contains("more than the Java heap's limit of ")
                && r.err().contains("lower --batch-size (") && r.err().contains("TORNADOVIT_JAVA_OPTS=-Xmx"), r.err());
        Matcher fits = Pattern.compile("lower --batch-size \\((\\d+) fits\\)").matcher(r.err());
        assertTrue(fits.find(), r.err());
        int fitting = Integer.parseInt(fits.group(1));
        assertTrue(fitting >= 1 && fitting < 128, r.err());
        assertFalse(Files.exists(dir.resolve("run")));

        // A sweep that trains runs side by side needs the memory of all of them.
        r = run("sweep", "--patch-size", "1", "--width", "64", "--heads", "8", "--depth", "4", "--attention",
                "softmax,relu", "--parallel", "2", "--train-limit", "256", "--eval-limit", "64", "--batch-size", "128",
                "--sweep-dir", dir.resolve("sweep").toString());
        refused(r, "with --parallel 2, 2 runs train at once");
        assertTrue(r.err().contains("they need about") && r.err().contains("or lower --parallel"), r.err());
        assertFalse(Files.exists(dir.resolve("sweep")));
    }

    /** Random 8×8 RGB PNGs in root/<class>/, {@code perClass} each. */
    static void imageFolder(Path root, List<String> classes, int perClass, long seed) throws IOException {
        Random random = new Random(seed);
        for (String c : classes) {
            Files.createDirectories(root.resolve(c));
            for (int i = 0; i < perClass; i++) {
                BufferedImage image = new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB);
                for (int y = 0; y < 8; y++) for (int x = 0; x < 8; x++) image.setRGB(x, y, random.nextInt(1 << 24));
                ImageIO.write(image, "png", root.resolve(c).resolve(i + ".png").toFile());
            }
        }
    }

    @Test
    void aTestFolderWhoseClassesDifferFromTrainIsRefusedAtStart(@TempDir Path dir) throws IOException {
        Path missing = dir.resolve("missing");
        imageFolder(missing.resolve("train"), List.of("bird", "cat", "dog"), 2, 1);
        imageFolder(missing.resolve("test"), List.of("bird", "dog"), 2, 2);
        refused(run("train", "--data", missing.toString(), "--image-size", "8", "--run-dir", dir.resolve("r1").toString()),
                missing.resolve("test") + ": its class folders differ from the 3 classes of " + missing + "/train: missing cat");
        Path extra = dir.resolve("extra");
        imageFolder(extra.resolve("train"), List.of("bird", "cat"), 2, 3);
        imageFolder(extra.resolve("test"), List.of("bird", "cat", "emu"), 2, 4);
        refused(run("train", "--data", extra.toString(), "--image-size", "8", "--run-dir", dir.resolve("r2").toString()),
                extra.resolve("test") + ": its class folders differ from the 2 classes of " + extra + "/train: extra emu");
        assertFalse(Files.exists(dir.resolve("r1")) || Files.exists(dir.resolve("r2")));
    }

    @Test
    void evalWithValidationFractionEvaluatesTheImagesTrainHeldOutAndClassesComeFromTheCheckpoint(@TempDir Path dir)
            throws IOException {
        // Class folders only, no test/: train holds out a quarter, and eval must find the same quarter.
        Path data = dir.resolve("shapes");
        imageFolder(data, List.of("a", "b", "c"), 8, 5);
        Path run = dir.resolve("run");
        CliTest.Result t = run("train", "--data", data.toString(), "--image-size", "8", "--validation-fraction", "0.25",
                "--seed", "3", "--epochs", "2", "--batch-size", "6", "--width", "8", "--depth", "1", "--heads", "2",
                "--mlp-dim", "8", "--patch-size", "4", "--run-dir", run.toString());
        assertEquals(0, t.code(), t.err());
        Matcher trained = Pattern.compile("final eval accuracy ([0-9.]+)%").matcher(t.out());
        assertTrue(trained.find(), t.out());
        String metrics = Files.readAllLines(run.resolve("metrics.csv")).getLast();

        CliTest.Result e = run("eval", run.resolve("last.safetensors").toString(), "--data", data.toString(),
                "--validation-fraction", "0.25", "--seed", "3");
        assertEquals(0, e.code(), e.err());
        assertTrue(e.out().contains("validation split: top-1 " + trained.group(1) + "%") && e.out().contains("(6 images)"),
                e.out() + " vs " + t.out() + " / " + metrics);

        // The checkpoint's classes decide: a data folder with another class set is refused naming both.
        Path other = dir.resolve("other");
        imageFolder(other.resolve("train"), List.of("a", "b", "c"), 1, 6);
        imageFolder(other.resolve("test"), List.of("a", "b", "z"), 1, 7);
        refused(run("eval", run.resolve("last.safetensors").toString(), "--data", other.toString()),
                other.resolve("test") + ": its class folders differ from the 3 classes of checkpoint "
                        + run.resolve("last.safetensors") + ": missing c; extra z");

        // Checkpoints (and every other file of the run) get the permissions of any new file: the umask decides.
        assumeTrue(FileSystems.getDefault().supportedFileAttributeViews().contains("posix"));
        Path plain = Files.createFile(dir.resolve("plain"));
        Set<PosixFilePermission> usual = Files.getPosixFilePermissions(plain);
        for (String f : new String[]{"last.safetensors", "best.safetensors", "metrics.csv", "config.json", "curves.png"}) {
            assertEquals(usual, Files.getPosixFilePermissions(run.resolve(f)), f);
        }
    }

    @Test
    void anUnreadableFileIsReportedWithTheReasonNotThePathAgain(@TempDir Path dir) throws IOException {
        Path missing = dir.resolve("nothing.json");
        refused(run("train", "--config", missing.toString(), "--train-limit", "64"), "cannot read " + missing + ": no such file");
        Path checkpoint = dir.resolve("none.safetensors");
        refused(run("eval", checkpoint.toString()), checkpoint + ": no such file or folder");
        Path folder = Files.createDirectory(dir.resolve("folder.safetensors"));
        CliTest.Result r = run("eval", folder.toString());
        assertEquals(2, r.code());
        assertFalse(r.err().strip().endsWith(folder.toString()), r.err());
    }

    @Test
    void modelHelpListsTheSizes() {
        String help = run("train", "--help").out().replaceAll("\\s+", " ");
        assertTrue(help.contains("Sizes: Ti, S, M, B, L, H, DeepViT-16"), help);
    }

    @Test
    void aCheckpointTooLargeForTheHeapIsRefusedNamingTheFileAndItsSize(@TempDir Path dir) throws Exception {
        // A header declaring 10 million float32 values, and a sparse file of that size: no disk or time spent.
        Path file = dir.resolve("big.safetensors");
        byte[] header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[10000000],\"data_offsets\":[0,40000000]}}"
                .getBytes(java.nio.charset.StandardCharsets.UTF_8);
        try (var f = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            f.write(java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
            f.write(header);
            f.setLength(8 + header.length + 40_000_000L);
        }
        Path log = dir.resolve("log");
        Process p = CliProcess.start(List.of("-Xmx64m"), List.of("eval", file.toString()), log);
        assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS));
        String out = Files.readString(log);
        assertEquals(2, p.exitValue(), out);
        assertTrue(out.contains("error: " + file + ": 38 MiB; reading it needs about 114 MiB of memory, more than the "
                + "Java heap's limit of") && out.contains("TORNADOVIT_JAVA_OPTS=-Xmx"), out);
    }

    /** analyze best-alpha on sweep folders with a column, a run's config or the α missing: the file and what was expected. */
    @Test
    void bestAlphaRefusesAnIncompleteSweepNamingTheFile(@TempDir Path dir) throws IOException {
        List<SweepFixtures.FakeRun> runs = List.of(SweepFixtures.FakeRun.of("relu", 0, 0, 7, 0.6),
                SweepFixtures.FakeRun.of("relu", 1, 0, 7, 0.5));
        Path sweep = SweepFixtures.write(dir.resolve("sweep"), "fashion-mnist", runs);
        String out = dir.resolve("out").toString();
        Path results = sweep.resolve("results.csv");
        String good = Files.readString(results);
        Files.writeString(results, good.replace(",final_eval_accuracy,", ",accuracy,"));
        refused(run("analyze", "best-alpha", sweep.toString(), "--out", out), results + ": header has no column "
                + "'final_eval_accuracy'; expected a sweep's results.csv (columns run, status, attention, alpha,");
        Files.writeString(results, good);

        Path config = sweep.resolve(SweepFixtures.idOf(runs.get(1))).resolve("config.json");
        Files.delete(config);
        refused(run("analyze", "best-alpha", sweep.toString(), "--out", out), config + ": missing; expected the run's "
                + "model config (the number of keys L is its image size over its patch size, + 1 for the class token)");

        Path softmax = SweepFixtures.write(dir.resolve("softmax"), "fashion-mnist",
                List.of(SweepFixtures.FakeRun.of("softmax", 1, 0, 7, 0.6)));
        refused(run("analyze", "best-alpha", softmax.toString(), "--out", out), softmax
                + ": every run uses softmax attention; expected runs with a pointwise activation and α");
        refused(run("analyze", "best-alpha", softmax.toString(), "--metric", "probe", "--out", out),
                softmax.resolve("probe.csv") + ": missing; --metric probe reads the CSV of tornadovit probe");
        assertFalse(Files.exists(dir.resolve("out")), "nothing written");
    }
}
