package dev.tornadovit.cli;

import dev.tornadovit.research.SweepFixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The command line as a user meets it: help, errors in one line, a short train → eval → predict round trip. */
class CliTest {
    record Result(int code, String out, String err) {
    }

    static Result run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true));
        System.setErr(new PrintStream(err, true));
        try {
            int code = Main.execute(args);
            return new Result(code, out.toString(), err.toString());
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @Test
    void everyCommandHasHelp() {
        for (String cmd : new String[]{"train", "eval", "predict", "devices", "demo"}) {
            Result r = run(cmd, "--help");
            assertEquals(0, r.code(), cmd);
            assertTrue(r.out().contains("Usage: tornadovit " + cmd), r.out());
        }
        assertTrue(run("train", "--help").out().contains("--reattention-blocks"));
    }

    @Test
    void aModelTooBigForTheHeapGivesOneLineSayingHowToRaiseIt(@TempDir Path dir) throws Exception {
        // A JVM of its own with a 96 MB heap, far too small for ViT-S/16's activations at batch 16.
        Path log = dir.resolve("oom.log");
        Process p = CliProcess.start(List.of("-Xmx96m"),
                List.of("bench", "--what", "model", "--model", "S/16", "--steps", "1", "--threads", "1"), log);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "bench did not stop");
        String output = Files.readString(log);
        assertEquals(2, p.exitValue(), output);
        assertTrue(output.contains("error: out of memory (Java heap space): the Java heap may hold 0.1 GiB")
                && output.contains("-Xmx") && output.contains("batch size"), output);
        assertFalse(output.contains("\tat "), "no stack trace: " + output);
    }

    @Test
    void outOfMemoryMessageNamesTheLimitThatWasHit() {
        String heap = Main.outOfMemoryMessage(new OutOfMemoryError("Java heap space"), 6L << 30);
        assertTrue(heap.startsWith("error: out of memory (Java heap space): the Java heap may hold 6.0 GiB"), heap);
        String offHeap = Main.outOfMemoryMessage(new OutOfMemoryError("Cannot reserve 8 bytes of direct buffer memory "
                + "(allocated: 1, limit: 2)"), 6L << 30);
        assertTrue(offHeap.contains("off-heap limit") && offHeap.contains("-XX:MaxDirectMemorySize"), offHeap);
        String other = Main.outOfMemoryMessage(new OutOfMemoryError("unable to create native thread"), 6L << 30);
        assertEquals("error: out of memory (unable to create native thread). Lower the batch size, or free memory on "
                + "this machine.", other);
    }

    @Test
    void devicesListsTheCpuAndSaysHowToEnableTornadoVm() {
        Result r = run("devices");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("cpu"), r.out());
    }

    @Test
    void badInputGivesOneClearLine(@TempDir Path dir) {
        Result r = run("train", "--data", dir.resolve("missing").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("error: ") && r.err().contains("missing") && r.err().contains("not a folder"), r.err());
        r = run("train", "--attention", "tanh", "--train-limit", "10");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("attention.activation") && r.err().contains("relu6"), r.err());
        r = run("train", "--device", "gpu7", "--train-limit", "10");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("unknown device 'gpu7'"), r.err());
        r = run("eval", dir.resolve("none.safetensors").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("none.safetensors"), r.err());
        // The benchmark's options fail before any benchmark runs.
        r = run("bench", "--what", "matmul", "--openblas", dir.resolve("libnone.so").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("libnone.so") && r.out().isEmpty(), r.err() + r.out());
        r = run("bench", "--what", "matmul", "--seconds", "0");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--seconds must be > 0, got 0.0") && r.out().isEmpty(), r.err() + r.out());
    }

    @Test
    void benchPrintsTheModelsAsImagesPerSecondAndAsShareOfTheFmaCeiling() {
        Result r = run("bench", "--what", "model", "--model", "small", "--attention", "softmax", "--batch", "4",
                "--steps", "2", "--seconds", "0.05");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("# float32 FMA ceiling"), r.out());
        assertTrue(r.out().contains("## Arithmetic rate"), r.out());
        // The arithmetic table's row: 0.366 GFLOP an image forward (ModelFlopsTest), then two rates, each with its share.
        assertTrue(r.out().lines().anyMatch(l -> l.matches("small ViT 32px\\s+softmax\\s+0\\.366\\s+[0-9.]+\\s+[0-9]+ %\\s+[0-9.]+\\s+[0-9]+ %")),
                r.out());
    }

    @Test
    void benchTimesEachQkNormAndGateVariant() {
        Result r = run("bench", "--what", "model", "--model", "small", "--attention", "relu", "--qk-norm", "false,true",
                "--gate", "false,true", "--batch", "2", "--steps", "1", "--seconds", "0.05");
        assertEquals(0, r.code(), r.err());
        // the attention column: 26 characters after the model's 16 and a space
        List<String> rows = r.out().lines().filter(l -> l.startsWith("small ViT 32px") && l.length() > 43)
                .map(l -> l.substring(17, 43).strip()).toList();
        for (String label : List.of("relu/L^1.0", "relu/L^1.0 +qknorm", "relu/L^1.0 +gate", "relu/L^1.0 +qknorm +gate")) {
            // one row in the images/s table and one in the arithmetic table
            assertEquals(2, rows.stream().filter(label::equals).count(), label + "\n" + r.out());
        }
    }

    @Test
    void trainEvalPredictRoundTrip(@TempDir Path dir) throws Exception {
        Path run = dir.resolve("run");
        Result t = run("train", "--train-limit", "512", "--eval-limit", "256", "--epochs", "1", "--batch-size", "64",
                "--width", "16", "--depth", "1", "--heads", "2", "--mlp-dim", "32", "--run-dir", run.toString());
        assertEquals(0, t.code(), t.err());
        for (String f : new String[]{"best.safetensors", "last.safetensors", "metrics.csv", "curves.png", "config.json"}) {
            assertTrue(Files.exists(run.resolve(f)), f);
        }
        assertEquals(2, Files.readAllLines(run.resolve("metrics.csv")).size());
        Result again = run("train", "--train-limit", "512", "--epochs", "1", "--run-dir", run.toString());
        assertEquals(2, again.code());
        assertTrue(again.err().contains("--resume"), again.err());

        Result e = run("eval", run.resolve("best.safetensors").toString(), "--eval-limit", "256");
        assertEquals(0, e.code(), e.err());
        assertTrue(e.out().contains("top-1") && e.out().contains("256 images"), e.out());

        Path png = dir.resolve("x.png");
        var img = new java.awt.image.BufferedImage(28, 28, java.awt.image.BufferedImage.TYPE_BYTE_GRAY);
        javax.imageio.ImageIO.write(img, "png", png.toFile());
        Result p = run("predict", run.resolve("best.safetensors").toString(), png.toString(), "--top", "3");
        assertEquals(0, p.code(), p.err());
        assertEquals(4, p.out().strip().split("\n").length, p.out());
        assertTrue(p.out().contains("Ankle boot") || p.out().contains("T-shirt/top") || p.out().contains("Bag"), p.out());
    }

    /** Two sweeps at 17 and 50 keys, one budget: one series, its best α per L, the table, the CSV and the plot. */
    @Test
    void analyzeBestAlphaTabulatesTheBestAlphaPerKeysFromSweepFolders(@TempDir Path dir) throws Exception {
        List<SweepFixtures.FakeRun> at17 = new ArrayList<>(), at50 = new ArrayList<>();
        for (int seed = 0; seed < 2; seed++) {
            at17.add(SweepFixtures.FakeRun.of("relu", 0, seed, 7, 0.63 + 0.01 * seed));
            at17.add(SweepFixtures.FakeRun.of("relu", 1, seed, 7, 0.56 + 0.01 * seed));
            at17.add(SweepFixtures.FakeRun.of("softmax", 1, seed, 7, 0.60 + 0.01 * seed));
            at50.add(SweepFixtures.FakeRun.of("relu", 0, seed, 4, 0.40 + 0.02 * seed));
            at50.add(SweepFixtures.FakeRun.of("relu", 1, seed, 4, 0.41 + 0.02 * seed));
        }
        Path a = SweepFixtures.write(dir.resolve("cpu-17"), "fashion-mnist", at17);
        Path b = SweepFixtures.write(dir.resolve("cpu-50"), "fashion-mnist", at50);
        Path out = dir.resolve("best");
        Result r = run("analyze", "best-alpha", a.toString(), b.toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        String series = "w32 d4 h4, 1 epoch, 156 steps of 64, fashion-mnist";
        assertTrue(r.out().contains("| " + series + " | relu | 17 | 0 | 0 | α=0: **63.5 ± 0.7** (2); α=1: 56.5 ± 0.7 (2) | "
                + "60.5 ± 0.7 (2) |"), r.out());
        assertTrue(r.out().contains("| " + series + " | relu | 50 | 1 | 0, 1 | α=0: 41.0 ± 1.4 (2); α=1: **42.0 ± 1.4** (2) | – |"),
                r.out());
        List<String> csv = Files.readAllLines(out.resolve("best-alpha.csv"));
        assertEquals(3, csv.size());
        assertTrue(csv.get(1).startsWith("\"" + series + "\",relu,17,0,0.635000,"), csv.get(1));
        assertTrue(csv.get(2).startsWith("\"" + series + "\",relu,50,1,0.420000,"), csv.get(2));
        assertTrue(javax.imageio.ImageIO.read(out.resolve("best-alpha.png").toFile()).getWidth() > 0);
        assertTrue(run("analyze", "--help").out().contains("best-alpha"));
    }
}
