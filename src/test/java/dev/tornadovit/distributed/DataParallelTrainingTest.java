package dev.tornadovit.distributed;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.cli.CliProcess;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.checkpoint.Checkpoint;
import dev.tornadovit.train.Trainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Data-parallel training under mpirun (skipped where Open MPI is not installed): 2 ranks with half of each batch
 * against 1 process with the whole batch, and a rank killed mid-run.
 *
 * <p>The tolerance. The ranks compute the same gradient terms as one process and only sum them in another order:
 * each rank sums its half, the all-reduce adds the halves. A sum of n float32 terms in any order is within
 * γ_n·Σ|terms| of the exact sum, γ_n = n·u/(1 − n·u), u = 2⁻²⁴ (Higham, Accuracy and Stability of Numerical
 * Algorithms, §4.2); a weight's gradient sums n = B·T terms (per image and token). AdamW divides each gradient by
 * its running RMS, so a relative gradient error δ moves a step of at most lr by at most lr·δ; over k steps the
 * weights then differ by at most k·lr·γ_n·κ, where κ = Σ|terms| / |Σ terms| is the cancellation in the sum, taken as
 * 100. For B = 16, T = 17, k = 4 and lr = 2·10⁻³ that is 1.3·10⁻⁵; measured worst differences are 1–2·10⁻⁷ for
 * softmax and ReLU/L and 4·10⁻⁶ with Re-attention BatchNorm, while BatchNorm statistics left unsynchronised give
 * 8·10⁻³.
 *
 * <p>One exception: the bias of Re-attention's head mixing, which BatchNorm's mean subtraction cancels, has a
 * gradient that is zero in exact arithmetic; both runs' gradients for it are rounding noise, which AdamW scales to
 * steps of up to lr. It (and the running mean that follows it) is held to the bound 2·k·lr that any two AdamW runs
 * meet.
 */
class DataParallelTrainingTest {
    private static final int STEPS = 4, BATCH = 16, TOKENS = (28 / 7) * (28 / 7) + 1;
    private static final double LR = 2e-3, UNIT_ROUNDOFF = 0x1p-24, CANCELLATION = 100;

    static double tolerance(int steps) {
        double n = (double) BATCH * TOKENS;
        double gamma = n * UNIT_ROUNDOFF / (1 - n * UNIT_ROUNDOFF);
        return steps * LR * gamma * CANCELLATION;
    }

    private static List<String> trainArgs(Path runDir, String attention, String reattention, int trainImages) {
        return List.of("train", "--train-limit", Integer.toString(trainImages), "--eval-limit", "32", "--epochs", "1",
                "--batch-size", Integer.toString(BATCH), "--lr", Double.toString(LR), "--threads", "1", "--seed", "3",
                "--width", "32", "--depth", "2", "--heads", "2", "--mlp-dim", "64", "--attention", attention,
                "--reattention", reattention, "--run-dir", runDir.toString());
    }

    private static List<String> stepArgs(Path runDir, String attention, String reattention) {
        List<String> args = new ArrayList<>(trainArgs(runDir, attention, reattention, 64));
        args.addAll(List.of("--steps", Integer.toString(STEPS), "--checkpoint-every", "0"));
        return args;
    }

    private static void succeed(Process p, Path log) throws InterruptedException {
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), () -> "still running: " + MpiRun.read(log));
        assertEquals(0, p.exitValue(), () -> MpiRun.read(log));
    }

    /** 2 ranks × batch B/2 against 1 process × batch B: the weights after k steps, within the tolerance above. */
    private void twoRanksEqualOneProcess(Path dir, String attention, String reattention, List<String> mpiOptions)
            throws Exception {
        MpiRun.assumeInstalled();
        Path one = dir.resolve("one"), two = dir.resolve("two");
        succeed(CliProcess.start(List.of(), stepArgs(one, attention, reattention), dir.resolve("one.log")), dir.resolve("one.log"));
        Path log = dir.resolve("two.log");
        succeed(MpiRun.start(2, mpiOptions, stepArgs(two, attention, reattention), log), log);

        String output = MpiRun.read(log);
        assertTrue(output.contains("Data-parallel on 2 ranks: 8 images per rank"), output);
        assertEquals(1, output.lines().filter(l -> l.contains("epoch 1: train loss")).count(),
                () -> "rank 0 alone logs progress: " + output);
        assertEquals(Set.of("best.safetensors", "config.json", "curves.png", "last.safetensors", "metrics.csv", "options.json"),
                files(two));

        // The metrics: losses and accuracies summed over the ranks (training) and over the evaluation's parts.
        String[] m1 = Files.readAllLines(one.resolve(Trainer.METRICS)).get(1).split(",");
        String[] m2 = Files.readAllLines(two.resolve(Trainer.METRICS)).get(1).split(",");
        assertEquals(m1[1], m2[1], "steps");
        for (int column : new int[]{2, 3, 4, 5}) {
            assertEquals(Double.parseDouble(m1[column]), Double.parseDouble(m2[column]), 1e-3,
                    "metrics column " + column + ": " + String.join(",", m1) + " against " + String.join(",", m2));
        }

        Map<String, Safetensors.Entry> a = Safetensors.read(one.resolve(Trainer.LAST)).tensors();
        Map<String, Safetensors.Entry> b = Safetensors.read(two.resolve(Trainer.LAST)).tensors();
        assertEquals(a.keySet(), b.keySet());
        double tolerance = tolerance(STEPS);
        for (String name : a.keySet()) {
            if (name.startsWith("optimizer.")) continue;
            boolean noiseDriven = name.endsWith("reattn.bias") || name.endsWith("running_mean");
            double bound = noiseDriven ? 2 * STEPS * LR : tolerance;
            double[] x = a.get(name).values(), y = b.get(name).values();
            for (int i = 0; i < x.length; i++) {
                int at = i;
                assertTrue(Math.abs(x[i] - y[i]) <= bound, () -> name + "[" + at + "]: 1 process " + x[at]
                        + ", 2 ranks " + y[at] + ", beyond " + bound);
            }
        }
    }

    private static Set<String> files(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).collect(Collectors.toSet());
        }
    }

    @Test
    void softmaxOnTwoRanksEqualsOneProcess(@TempDir Path dir) throws Exception {
        twoRanksEqualOneProcess(dir, "softmax", "none", List.of());
    }

    @Test
    void reluOnTwoRanksEqualsOneProcess(@TempDir Path dir) throws Exception {
        twoRanksEqualOneProcess(dir, "relu", "none", List.of());
    }

    /** Also over TCP alone (shared memory off): the path between hosts. */
    @Test
    void reattentionBatchNormOnTwoRanksOverTcpEqualsOneProcess(@TempDir Path dir) throws Exception {
        twoRanksEqualOneProcess(dir, "relu", "batchnorm", List.of("--mca", "btl", "tcp,self"));
    }

    /**
     * The gradient sums overlapped with the backward pass (the default) against the one all-reduce after it, on 2
     * ranks: the same bits, as each element is the same MPI sum a + b of the same two values. With Re-attention
     * BatchNorm, whose blocking statistics sums run between the buckets' non-blocking ones. Width 160, so that the
     * blocks are separate buckets.
     */
    @Test
    void overlappedAllReduceGivesTheBitsOfTheBlockingOne(@TempDir Path dir) throws Exception {
        MpiRun.assumeInstalled();
        Path overlapped = dir.resolve("overlapped"), blocking = dir.resolve("blocking");
        List<String> args = wide(stepArgs(overlapped, "relu", "batchnorm"));
        Path log = dir.resolve("overlapped.log");
        succeed(MpiRun.start(2, List.of(), args, log), log);
        assertTrue(MpiRun.read(log).contains("Gradients summed in 4 all-reduces during the backward pass"), MpiRun.read(log));

        List<String> blockingArgs = wide(stepArgs(blocking, "relu", "batchnorm"));
        blockingArgs.addAll(List.of("--overlap-allreduce", "false"));
        Path blockingLog = dir.resolve("blocking.log");
        succeed(MpiRun.start(2, List.of(), blockingArgs, blockingLog), blockingLog);
        assertTrue(MpiRun.read(blockingLog).contains("Gradients summed in one all-reduce after the backward pass"),
                () -> MpiRun.read(blockingLog));

        Map<String, Safetensors.Entry> a = Safetensors.read(overlapped.resolve(Trainer.LAST)).tensors();
        Map<String, Safetensors.Entry> b = Safetensors.read(blocking.resolve(Trainer.LAST)).tensors();
        assertEquals(a.keySet(), b.keySet());
        for (String name : a.keySet()) assertArrayEquals(a.get(name).values(), b.get(name).values(), name);
    }

    /** The arguments with width 160, MLP 640 and depth 3. */
    private static List<String> wide(List<String> args) {
        List<String> changed = new ArrayList<>(args);
        for (String[] option : new String[][]{{"--width", "160"}, {"--mlp-dim", "640"}, {"--depth", "3"}}) {
            changed.set(changed.indexOf(option[0]) + 1, option[1]);
        }
        return changed;
    }

    @Test
    void aKilledRankEndsTheJobAndTheRunResumes(@TempDir Path dir) throws Exception {
        MpiRun.assumeInstalled();
        Path straight = dir.resolve("straight"), killed = dir.resolve("killed"), otherN = dir.resolve("other-n");
        List<String> args = new ArrayList<>(trainArgs(straight, "relu", "batchnorm", 192));
        args.addAll(List.of("--checkpoint-every", "2"));
        succeed(MpiRun.start(2, List.of(), args, dir.resolve("straight.log")), dir.resolve("straight.log"));

        List<String> victimArgs = new ArrayList<>(trainArgs(killed, "relu", "batchnorm", 192));
        victimArgs.addAll(List.of("--checkpoint-every", "2"));
        Path log = dir.resolve("killed.log");
        Process job = MpiRun.start(2, List.of(), victimArgs, log);
        Path last = killed.resolve(Trainer.LAST);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.exists(last) && job.isAlive() && System.nanoTime() < deadline) Thread.sleep(20);
        assertTrue(Files.exists(last), () -> "no checkpoint appeared: " + MpiRun.read(log));
        ProcessHandle rank1 = MpiRun.rank(job, 1).orElseThrow(() -> new AssertionError("rank 1 not found: " + MpiRun.read(log)));
        long killedAt = System.nanoTime();
        rank1.destroyForcibly();
        assertTrue(job.waitFor(30, TimeUnit.SECONDS), () -> "the job outlived its killed rank: " + MpiRun.read(log));
        double seconds = (System.nanoTime() - killedAt) / 1e9;
        assertTrue(seconds < 20, "the job ended " + seconds + " s after the kill");
        assertNotEquals(0, job.exitValue());
        String output = MpiRun.read(log);
        assertTrue(output.contains("process rank 1") && output.contains("signal 9"), output);
        assertTrue(output.contains("stopped by mpirun before the end") && output.contains("--resume"), output);

        // The checkpoint is whole (every tensor checked on load) and from within the run.
        try (CpuBackend be = new CpuBackend()) {
            Checkpoint.loadModel(last, be);
        }
        assertTrue(Safetensors.read(last).metadata().get("training_state").contains("\"epoch\":0"));
        copy(killed, otherN);

        List<String> resume = new ArrayList<>(victimArgs);
        resume.add("--resume");
        Path resumed = dir.resolve("resumed.log");
        succeed(MpiRun.start(2, List.of(), resume, resumed), resumed);
        assertTrue(MpiRun.read(resumed).contains("Resuming"), () -> MpiRun.read(resumed));
        Map<String, Safetensors.Entry> a = Safetensors.read(straight.resolve(Trainer.LAST)).tensors();
        Map<String, Safetensors.Entry> b = Safetensors.read(last).tensors();
        assertEquals(a.keySet(), b.keySet());
        for (String name : a.keySet()) assertArrayEquals(a.get(name).values(), b.get(name).values(), name);

        // Another number of ranks continues the same global batches, re-sharded, and says so.
        List<String> alone = new ArrayList<>(trainArgs(otherN, "relu", "batchnorm", 192));
        alone.addAll(List.of("--checkpoint-every", "2", "--resume"));
        Path aloneLog = dir.resolve("alone.log");
        succeed(CliProcess.start(List.of(), alone, aloneLog), aloneLog);
        assertTrue(MpiRun.read(aloneLog).contains("was trained on 2 rank(s) and continues on 1"), () -> MpiRun.read(aloneLog));
        String state = Safetensors.read(otherN.resolve(Trainer.LAST)).metadata().get("training_state");
        assertTrue(state.contains("\"global_step\":12"), state);
    }

    /** A batch that does not split evenly: one line naming the rank and both numbers, and the whole job ends. */
    @Test
    void aBatchThatDoesNotSplitIsRefusedNamingTheRank(@TempDir Path dir) throws Exception {
        MpiRun.assumeInstalled();
        Path log = dir.resolve("odd.log");
        List<String> args = new ArrayList<>(stepArgs(dir.resolve("run"), "relu", "none"));
        args.set(args.indexOf("--batch-size") + 1, "15");
        Process job = MpiRun.start(2, List.of(), args, log);
        assertTrue(job.waitFor(120, TimeUnit.SECONDS), () -> "still running: " + MpiRun.read(log));
        assertNotEquals(0, job.exitValue());
        String output = MpiRun.read(log);
        assertTrue(output.matches("(?s).*error \\(rank [01] of 2 on [^)]+\\): --batch-size 15 does not split evenly over 2 "
                + "ranks.*"), output);
        assertFalse(Files.exists(dir.resolve("run").resolve(Trainer.LAST)), "no checkpoint");
    }

    /** Rank r trains runs r, r + 2 …; rank 0 tabulates all of them. */
    @Test
    void aSweepSpreadsItsRunsOverTheRanks(@TempDir Path dir) throws Exception {
        MpiRun.assumeInstalled();
        Path sweep = dir.resolve("sweep"), log = dir.resolve("sweep.log");
        List<String> args = List.of("sweep", "--attention", "relu", "--alpha", "0.5,1,1.5", "--train-limit", "64",
                "--eval-limit", "32", "--epochs", "1", "--batch-size", "16", "--width", "16", "--depth", "1",
                "--heads", "2", "--threads", "1", "--sweep-dir", sweep.toString());
        succeed(MpiRun.start(2, List.of(), args, log), log);
        String output = MpiRun.read(log);
        assertTrue(output.contains("sweep of 3 runs") && output.contains("spread over 2 ranks"), output);
        assertEquals(1, output.lines().filter(l -> l.startsWith("sweep of")).count(), () -> "rank 0 alone reports: " + output);
        List<String> rows = Files.readAllLines(sweep.resolve("results.csv"));
        assertEquals(4, rows.size(), () -> String.join("\n", rows));
        for (String row : rows.subList(1, 4)) assertTrue(row.contains(",finished,relu,"), row);
        // The second run, rank 1's, is in the (here shared) sweep folder too.
        assertTrue(Files.exists(sweep.resolve(rows.get(2).split(",")[0]).resolve(Trainer.LAST)), rows.get(2));
    }

    private static void copy(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> s = Files.list(from)) {
            for (Path p : s.toList()) Files.copy(p, to.resolve(p.getFileName()));
        }
    }
}
