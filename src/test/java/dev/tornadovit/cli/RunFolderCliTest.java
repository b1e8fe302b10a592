package dev.tornadovit.cli;

import dev.tornadovit.io.Safetensors;
import dev.tornadovit.train.RunFolder;
import dev.tornadovit.train.Trainer;
import dev.tornadovit.train.TrainingState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Run folders as a user meets them on the command line: --resume restores the run's options and refuses changed
 * ones, a folder in use is refused naming its holder, a finished run is replaced only with --overwrite, stale temp
 * files are cleaned, demo keeps earlier demos, and a diverging run says what its checkpoints are.
 */
class RunFolderCliTest {
    /**
     * A tiny run with a model and options that are not the defaults; {@code more} holds flags (--overwrite) and
     * option-value pairs, which replace the option's value when it is already there.
     */
    static List<String> tiny(Path dir, String... more) {
        List<String> args = new ArrayList<>(List.of("train", "--run-dir", dir.toString(), "--train-limit", "256",
                "--eval-limit", "128", "--epochs", "1", "--batch-size", "64", "--width", "16", "--depth", "1",
                "--heads", "2", "--mlp-dim", "32", "--lr", "3e-3", "--seed", "3", "--attention", "relu", "--flip"));
        for (int i = 0; i < more.length; i++) {
            if (more[i].equals("--overwrite")) {
                args.add(more[i]);
            } else if (args.contains(more[i])) {
                args.set(args.indexOf(more[i]) + 1, more[++i]);
            } else {
                args.add(more[i]);
                args.add(more[++i]);
            }
        }
        return args;
    }

    static CliTest.Result run(List<String> args) {
        return CliTest.run(args.toArray(String[]::new));
    }

    /** The one error line of a failed command (log lines may come before it), and no stack trace. */
    static String error(CliTest.Result r) {
        assertFalse(r.err().contains("\tat "), r.err());
        List<String> errors = r.err().lines().filter(l -> l.startsWith("error: ")).toList();
        assertEquals(1, errors.size(), r.err());
        return errors.getFirst();
    }

    @Test
    void resumeAloneRestoresTheRunsOptionsAndAChangedOneIsRefused(@TempDir Path dir) throws Exception {
        Path run = dir.resolve("run");
        CliTest.Result first = run(tiny(run));
        assertEquals(0, first.code(), first.err());
        String json = Files.readString(run.resolve("options.json"));
        assertTrue(json.contains("\"--lr\" : 0.003") && json.contains("\"--flip\" : true") && json.contains("\"--width\" : 16")
                && json.contains("\"--train-limit\" : 256") && json.contains("\"--model\" : null"), json);
        assertFalse(json.contains("--run-dir") || json.contains("--threads"), json);

        // A non-default model and options: --resume alone continues (the run is finished, so nothing is trained).
        CliTest.Result alone = CliTest.run("train", "--run-dir", run.toString(), "--resume");
        assertEquals(0, alone.code(), alone.err());
        assertTrue(alone.out().contains("final eval accuracy"), alone.out());
        // The same values again, and a model option the run was started without whose value is the run's own.
        CliTest.Result same = CliTest.run("train", "--run-dir", run.toString(), "--resume", "--lr", "0.003", "--width", "16",
                "--flip", "--patch-size", "7");
        assertEquals(0, same.code(), same.err());

        byte[] before = Files.readAllBytes(run.resolve(Trainer.LAST));
        String[][] changed = {
                {"--lr", "0.01", "error: --lr 0.01 differs from the run in " + run + ", which was started with --lr 0.003;"},
                {"--seed", "4", "--seed 4 differs from the run in " + run + ", which was started with --seed 3;"},
                {"--train-limit", "512", "--train-limit 512 differs from the run in " + run + ", which was started with --train-limit 256;"},
                {"--epochs", "2", "--epochs 2 differs from the run in " + run + ", which was started with --epochs 1;"},
                {"--batch-size", "32", "--batch-size 32 differs"},
                {"--data", dir.toString(), "--data " + dir + " differs from the run in " + run + ", which was started with --data fashion-mnist;"},
                {"--width", "32", "--width 32 differs from the run in " + run + ", which was started with --width 16;"},
                {"--attention", "softmax", "--attention softmax differs from the run in " + run + ", which was started with --attention relu;"},
                {"--patch-size", "4", "--patch-size 4 would change the model of the run in " + run + " (patch_size 7 → 4;"},
        };
        for (String[] c : changed) {
            CliTest.Result r = CliTest.run("train", "--run-dir", run.toString(), "--resume", c[0], c[1]);
            assertEquals(2, r.code(), c[0]);
            assertTrue(error(r).contains(c[2]), c[0] + ": " + r.err());
        }
        assertArrayEquals(before, Files.readAllBytes(run.resolve(Trainer.LAST)), "a refused resume writes nothing");

        CliTest.Result both = CliTest.run("train", "--run-dir", run.toString(), "--resume", "--overwrite");
        assertEquals(2, both.code());
        assertTrue(error(both).contains("pass one of them"), both.err());
        CliTest.Result nothing = CliTest.run("train", "--run-dir", dir.resolve("none").toString(), "--resume");
        assertEquals(2, nothing.code());
        assertTrue(error(nothing).contains("does not exist: nothing to resume"), nothing.err());
        assertFalse(Files.exists(dir.resolve("none")), "a refused resume creates no folder");

        // A damaged options.json is named, with the option and what it should hold.
        Files.writeString(run.resolve("options.json"), json.replace("\"--lr\" : 0.003", "\"--lr\" : \"fast\""));
        CliTest.Result damaged = CliTest.run("train", "--run-dir", run.toString(), "--resume");
        assertEquals(2, damaged.code());
        assertEquals("error: " + run.resolve("options.json") + ": option --lr is \"fast\", expected a double as its "
                + "command-line option takes", error(damaged));
        Files.writeString(run.resolve("options.json"), "{\"options\": ");
        damaged = CliTest.run("train", "--run-dir", run.toString(), "--resume");
        assertTrue(error(damaged).startsWith("error: " + run.resolve("options.json") + ": not valid JSON ("), damaged.err());
    }

    @Test
    void aFinishedRunIsReplacedOnlyWithOverwrite(@TempDir Path dir) throws Exception {
        Path run = dir.resolve("run");
        assertEquals(0, run(tiny(run)).code());
        Files.writeString(run.resolve("notes.txt"), "mine");
        byte[] last = Files.readAllBytes(run.resolve(Trainer.LAST)), metrics = Files.readAllBytes(run.resolve(Trainer.METRICS));

        CliTest.Result again = run(tiny(run, "--seed", "9"));
        assertEquals(2, again.code());
        assertEquals("error: " + run + " already holds a run (last.safetensors, best.safetensors, metrics.csv); pass --resume "
                + "to continue it, --overwrite to replace it, or choose another --run-dir", error(again));
        assertArrayEquals(last, Files.readAllBytes(run.resolve(Trainer.LAST)));
        assertArrayEquals(metrics, Files.readAllBytes(run.resolve(Trainer.METRICS)));
        assertTrue(Files.readString(run.resolve("options.json")).contains("\"--seed\" : 3"));

        CliTest.Result replaced = run(tiny(run, "--seed", "9", "--overwrite"));
        assertEquals(0, replaced.code(), replaced.err());
        assertTrue(Files.readString(run.resolve("options.json")).contains("\"--seed\" : 9"));
        assertFalse(Arrays.equals(last, Files.readAllBytes(run.resolve(Trainer.LAST))), "another seed, other weights");
        assertEquals("mine", Files.readString(run.resolve("notes.txt")), "files that are not the run's are kept");
    }

    @Test
    void aFolderInUseIsRefusedNamingItsHolderAndAKilledHolderReleasesIt(@TempDir Path dir) throws Exception {
        Path run = dir.resolve("run"), log = dir.resolve("holder.log");
        // Long enough to be alive while the second run tries the folder; it is killed below.
        List<String> slow = new ArrayList<>(tiny(run));
        slow.set(slow.indexOf("--epochs") + 1, "50");
        slow.addAll(List.of("--checkpoint-every", "1", "--threads", "1"));
        Process holder = CliProcess.start(List.of(), slow, log);
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!Files.exists(run.resolve(Trainer.LAST)) && holder.isAlive() && System.nanoTime() < deadline) Thread.sleep(20);
            assertTrue(Files.exists(run.resolve(Trainer.LAST)), () -> read(log));
            Path stale = run.resolve(".last.safetensors999.tmp");
            Files.writeString(stale, "a live writer's file");

            CliTest.Result second = run(tiny(run, "--overwrite"));
            assertTrue(holder.isAlive(), "the holder still runs");
            assertEquals(2, second.code());
            String refused = error(second);
            assertTrue(refused.startsWith("error: " + run + " is in use by another run (process " + holder.pid() + " on ")
                    && refused.endsWith("; wait for it to finish or choose another run folder"), refused);
            assertTrue(Files.exists(stale), "nothing is cleaned while another run holds the folder");
            assertTrue(Files.exists(run.resolve(Trainer.LAST)), "nothing is replaced while another run holds the folder");
        } finally {
            holder.destroyForcibly().waitFor();
        }
        // kill -9 released the lock; the next run cleans what a killed writer left, and nothing else.
        Files.writeString(run.resolve(".metrics123.tmp"), "partial");
        Files.writeString(run.resolve("notes.tmp"), "mine");
        CliTest.Result after = run(tiny(run, "--overwrite"));
        assertEquals(0, after.code(), after.err());
        assertFalse(Files.exists(run.resolve(".last.safetensors999.tmp")));
        assertFalse(Files.exists(run.resolve(".metrics123.tmp")));
        assertEquals("mine", Files.readString(run.resolve("notes.tmp")));
        assertTrue(Files.exists(run.resolve(RunFolder.LOCK)));
    }

    @Test
    void aSweepRunWhoseFolderIsInUseIsRefusedBeforeItWritesThere(@TempDir Path dir) throws Exception {
        Path sweep = dir.resolve("sweep"), runDir = sweep.resolve("relu-a1-w16-d1-h2-s0");
        CountDownLatch held = new CountDownLatch(1), release = new CountDownLatch(1);
        CompletableFuture<Void> holder = CompletableFuture.runAsync(() -> {
            try (RunFolder folder = RunFolder.open(runDir)) {
                held.countDown();
                release.await();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        try {
            held.await();
            CliTest.Result r = CliTest.run("sweep", "--attention", "relu", "--alpha", "1", "--train-limit", "100",
                    "--eval-limit", "50", "--epochs", "1", "--batch-size", "50", "--width", "16", "--depth", "1",
                    "--heads", "2", "--threads", "1", "--sweep-dir", sweep.toString());
            assertEquals(2, r.code(), r.out());
            assertTrue(error(r).startsWith("error: " + runDir + " is in use by another run (process "
                    + ProcessHandle.current().pid() + " on "), r.err());
            try (var files = Files.list(runDir)) {
                assertEquals(List.of(RunFolder.LOCK), files.map(f -> f.getFileName().toString()).toList());
            }
        } finally {
            release.countDown();
            holder.get();
        }
    }

    @Test
    void aRunFolderThatIsAFileIsRefused(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("results"), "mine");
        CliTest.Result r = run(tiny(file));
        assertEquals(2, r.code());
        assertEquals("error: " + file + " is a file, not a folder; a run needs a folder of its own", error(r));
        assertEquals("mine", Files.readString(file));
    }

    @Test
    void demoWritesEachRunToANewFolderAndRefusesToReplaceAnEarlierOne(@TempDir Path dir) throws Exception {
        Path a = DemoCommand.newDemoFolder(dir.resolve("runs")), b = DemoCommand.newDemoFolder(dir.resolve("runs"));
        assertNotEquals(a, b);
        assertTrue(Files.isDirectory(a) && Files.isDirectory(b));
        assertTrue(a.getFileName().toString().matches("demo-\\d{8}-\\d{6}(-\\d+)?"), a.toString());

        Path earlier = dir.resolve("demo");
        Files.createDirectories(earlier.resolve("relu-l"));
        Files.writeString(earlier.resolve("relu-l").resolve(Trainer.METRICS), "earlier results");
        CliTest.Result r = CliTest.run("demo", "--run-dir", earlier.toString(), "--epochs", "1", "--train-limit", "128");
        assertEquals(2, r.code());
        assertEquals("error: " + earlier.resolve("relu-l") + " already holds a run (metrics.csv); pass --overwrite to "
                + "replace it, or choose another --run-dir", error(r));
        assertEquals("earlier results", Files.readString(earlier.resolve("relu-l").resolve(Trainer.METRICS)));
        assertFalse(Files.exists(earlier.resolve("softmax").resolve(Trainer.LAST)), "refused before training either model");
    }

    @Test
    void aDivergingRunSaysWhichCheckpointsExistAndWhatTheyAre(@TempDir Path dir) throws Exception {
        Path nan = dir.resolve("nan");
        CliTest.Result r = run(tiny(nan, "--lr", "1e6"));
        assertEquals(2, r.code());
        String message = error(r);
        assertTrue(message.startsWith("error: the training loss became NaN at epoch 1") && message.endsWith("No checkpoint "
                + "was written: " + nan + " holds neither last.safetensors nor best.safetensors. Try a lower --lr."), message);
        assertFalse(Files.exists(nan.resolve(Trainer.LAST)) || Files.exists(nan.resolve(Trainer.BEST)));

        Path exploded = dir.resolve("exploded");
        r = run(tiny(exploded, "--lr", "1e3", "--clip", "0"));
        assertEquals(2, r.code());
        message = error(r);
        assertTrue(message.matches("error: the training loss became \\S+ at epoch 1, batch \\d+ \\(step \\d+\\), over 1000 "
                + "times that of guessing \\(2\\.30\\): the run diverged; stopped\\. .*Try a lower --lr, or gradient clipping "
                + "\\(--clip 1\\)\\."), message);

        // A slow warm-up: an epoch ends (best and last written), then the loss explodes in a later one. The message
        // names each checkpoint on disk with the step its own training state records, and its eval loss.
        Path later = dir.resolve("later");
        r = run(tiny(later, "--lr", "50", "--clip", "0", "--warmup", "0.9", "--epochs", "4", "--checkpoint-every", "3",
                "--batch-size", "32"));
        assertEquals(2, r.code(), r.out());
        message = error(r);
        assertTrue(Files.exists(later.resolve(Trainer.BEST)), message);
        assertTrue(message.contains("Checkpoints in " + later + ": last.safetensors, written at step "), message);
        for (String name : List.of(Trainer.LAST, Trainer.BEST)) {
            TrainingState s = TrainingState.fromJson(Safetensors.read(later.resolve(name)).metadata().get("training_state"), name);
            String what = s.nextBatch() == 0
                    ? name + ", written at step " + s.globalStep() + " (end of epoch " + s.epoch() + "), eval loss "
                    : name + ", written at step " + s.globalStep() + " (epoch " + (s.epoch() + 1) + ", after " + s.nextBatch()
                    + " of its batches), not evaluated";
            assertTrue(message.contains(what), what + " in " + message);
        }
        assertTrue(message.contains(", no better than guessing (2.30)"), message);
    }

    static String read(Path log) {
        try {
            return Files.readString(log);
        } catch (java.io.IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }
}
