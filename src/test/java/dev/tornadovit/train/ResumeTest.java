package dev.tornadovit.train;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.checkpoint.Checkpoint;
import dev.tornadovit.cli.CliProcess;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.tensor.PoolMode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Kills a training run with SIGKILL in the middle of an epoch (a separate JVM), resumes it, and checks that the
 * final weights equal those of an uninterrupted run bit for bit.
 */
class ResumeTest {

    static List<String> trainArgs(Path runDir) {
        return List.of("train", "--train-limit", "3000", "--eval-limit", "500", "--epochs", "2", "--batch-size", "50",
                "--checkpoint-every", "7", "--threads", "2", "--run-dir", runDir.toString(), "--seed", "5",
                "--attention", "relu", "--reattention", "batchnorm", "--reattention-blocks", "last:1");
    }

    static Process start(List<String> args, Path log) throws IOException {
        return CliProcess.start(List.of(), args, log);
    }

    static Map<String, Safetensors.Entry> weights(Path checkpoint) {
        return Safetensors.read(checkpoint).tensors();
    }

    @Test
    void killedRunResumesToTheSameWeights(@TempDir Path dir) throws Exception {
        Path straight = dir.resolve("straight"), killed = dir.resolve("killed");
        Process p = start(trainArgs(straight), dir.resolve("straight.log"));
        assertEquals(0, p.waitFor(), () -> read(dir.resolve("straight.log")));

        Process victim = start(trainArgs(killed), dir.resolve("killed.log"));
        // Wait for a mid-epoch checkpoint (step 7, 14, ... of 60 per epoch), then kill -9.
        Path last = killed.resolve(Trainer.LAST);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.exists(last) && System.nanoTime() < deadline && victim.isAlive()) Thread.sleep(20);
        assertTrue(Files.exists(last), () -> "no checkpoint appeared: " + read(dir.resolve("killed.log")));
        victim.destroyForcibly().waitFor();
        String state = Safetensors.read(last).metadata().get("training_state");
        assertTrue(state.contains("\"epoch\":0"), "killed within the first epoch: " + state);

        // --resume alone: the run folder's options.json restores every option of this non-default run.
        Process again = start(List.of("train", "--run-dir", killed.toString(), "--resume", "--threads", "2"), dir.resolve("resumed.log"));
        assertEquals(0, again.waitFor(), () -> read(dir.resolve("resumed.log")));
        assertTrue(read(dir.resolve("resumed.log")).contains("Resuming"), () -> read(dir.resolve("resumed.log")));

        Map<String, Safetensors.Entry> a = weights(straight.resolve(Trainer.LAST)), b = weights(last);
        assertEquals(a.keySet(), b.keySet());
        for (String name : a.keySet()) assertArrayEquals(a.get(name).values(), b.get(name).values(), name);
        assertEquals(read(straight.resolve(Trainer.METRICS)).lines().count(), read(killed.resolve(Trainer.METRICS)).lines().count());
    }

    static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return "(unreadable " + p + ")";
        }
    }

    @Test
    void nonFiniteLossStopsAndKeepsTheLastGoodCheckpoint(@TempDir Path dir) {
        // A huge learning rate without clipping diverges within a few steps.
        var train = dev.tornadovit.data.DefaultData.fashionMnist(false).subset(java.util.stream.IntStream.range(0, 2000).toArray());
        var config = new dev.tornadovit.model.ViTConfig(28, 28, 1, 7, 10, 16, 1, 2, 32, Pooling.CLS, PositionEmbedding.LEARNED,
                dev.tornadovit.model.AttentionConfig.softmax(), 0);
        try (CpuBackend be = new CpuBackend()) {
            var model = new dev.tornadovit.model.VisionTransformer(config, be, 1);
            var options = new TrainingOptions(50, 0, 20, 1e9, 1e9, 0, new AdamW.Settings(0.9, 0.999, 1e-8, 0, 0),
                    dev.tornadovit.data.Augmentation.NONE, 0, 1, 100);
            Trainer trainer = new Trainer(model, train, train, null, options, dir, null);
            NonFiniteException e = org.junit.jupiter.api.Assertions.assertThrows(NonFiniteException.class, trainer::run);
            assertTrue(e.getMessage().contains("; stopped. ") && e.getMessage().contains("--lr"), e.getMessage());
            // It names what the folder holds: the checkpoints present, or that there are none.
            boolean any = Files.exists(dir.resolve(Trainer.LAST)) || Files.exists(dir.resolve(Trainer.BEST));
            assertTrue(any ? e.getMessage().contains("Checkpoints in " + dir + ": ")
                    : e.getMessage().contains("No checkpoint was written"), e.getMessage());
            // The checkpoint on disk holds only finite values (loading checks that).
            if (Files.exists(dir.resolve(Trainer.LAST))) {
                Checkpoint.loadModel(dir.resolve(Trainer.LAST), be);
            }
        }
    }
}
