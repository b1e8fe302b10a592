package dev.tornadovit.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The run folder's lock, its clean-up of our stale temporary files, and its refusal to replace a run silently. */
class RunFolderTest {

    @Test
    void aFolderHeldByAnotherThreadIsRefusedNamingTheHolderAndFreedOnClose(@TempDir Path dir) throws Exception {
        Path run = dir.resolve("run");
        CountDownLatch held = new CountDownLatch(1), release = new CountDownLatch(1);
        CompletableFuture<Void> holder = CompletableFuture.runAsync(() -> {
            try (RunFolder folder = RunFolder.open(run)) {
                held.countDown();
                release.await();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        held.await();
        RunFolder.Holder written = RunFolder.readHolder(run.resolve(RunFolder.LOCK));
        assertNotNull(written);
        assertEquals(ProcessHandle.current().pid(), written.pid());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RunFolder.open(run));
        assertTrue(e.getMessage().startsWith(run + " is in use by another run (process " + ProcessHandle.current().pid()
                + " on "), e.getMessage());
        release.countDown();
        holder.get();
        try (RunFolder again = RunFolder.open(run)) {
            assertEquals(run, again.path());
        }
    }

    @Test
    void theHoldingThreadMayOpenItAgainAndOnlyTheOuterCloseReleases(@TempDir Path dir) throws Exception {
        try (RunFolder outer = RunFolder.open(dir)) {
            RunFolder.open(dir).close();
            // Still held: another thread is refused.
            var other = CompletableFuture.supplyAsync(() -> assertThrows(IllegalArgumentException.class, () -> RunFolder.open(dir)));
            assertTrue(other.get().getMessage().contains("in use"), other.get().getMessage());
        }
        CompletableFuture.runAsync(() -> RunFolder.open(dir).close()).get();
    }

    @Test
    void aDefaultFolderNameIsOneNotYetTaken(@TempDir Path dir) throws Exception {
        Path first = RunFolder.unusedName(dir, "demo-");
        assertTrue(first.getFileName().toString().matches("demo-\\d{8}-\\d{6}"), first.toString());
        Files.createDirectories(first);
        Path second = RunFolder.unusedName(dir, "demo-");
        // Taken within the same second: numbered; a second later: the new time.
        assertFalse(Files.exists(second));
        assertTrue(second.equals(dir.resolve(first.getFileName() + "-2"))
                || second.getFileName().toString().matches("demo-\\d{8}-\\d{6}") && !second.equals(first), second.toString());
    }

    @Test
    void onlyOurStaleTempFilesAreRemovedOnOpen(@TempDir Path dir) throws Exception {
        List<String> ours = List.of(".last.safetensors8812345.tmp", ".best.safetensors1.tmp", ".config42.tmp",
                ".metrics7.tmp", ".options.json99.tmp", ".run.json3.tmp", ".FAILED.txt5.tmp", ".plot123.png");
        List<String> theirs = List.of(".last.safetensors.tmp", "last.safetensors1.tmp", ".notes7.tmp", ".plot.png",
                ".last.safetensors12.tmp.keep", "data.tmp");
        for (String f : ours) Files.writeString(dir.resolve(f), "partial");
        for (String f : theirs) Files.writeString(dir.resolve(f), "mine");
        try (RunFolder folder = RunFolder.open(dir)) {
            for (String f : ours) assertFalse(Files.exists(dir.resolve(f)), f);
            for (String f : theirs) assertTrue(Files.exists(dir.resolve(f)), f);
        }
    }

    @Test
    void aFolderWithResultsIsReplacedOnlyWhenAskedAndOtherFilesAreKept(@TempDir Path dir) throws Exception {
        for (String f : List.of(Trainer.LAST, Trainer.METRICS, "config.json", "options.json", "curves.png", "notes.txt")) {
            Files.writeString(dir.resolve(f), f);
        }
        try (RunFolder folder = RunFolder.open(dir)) {
            assertEquals(List.of(Trainer.LAST, Trainer.METRICS), folder.results());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> folder.requireFresh(false, "say so"));
            assertEquals(dir + " already holds a run (last.safetensors, metrics.csv); say so", e.getMessage());
            assertTrue(Files.exists(dir.resolve(Trainer.LAST)));
            folder.requireFresh(true, "say so");
            assertEquals(List.of(), folder.results());
            for (String f : List.of("config.json", "options.json", "curves.png")) assertFalse(Files.exists(dir.resolve(f)), f);
            assertEquals("notes.txt", Files.readString(dir.resolve("notes.txt")));
        }
    }
}
