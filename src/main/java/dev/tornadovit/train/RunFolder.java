package dev.tornadovit.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A run folder held by one run at a time. Opening it creates the folder, takes an exclusive lock on its
 * {@value #LOCK} file (an operating-system lock through {@link FileChannel}, so a killed process releases it at
 * once) and then removes the hidden temporary files that an earlier run killed in the middle of an atomic write
 * left behind. The lock file names its holder (process id, host, start time), so a second run into the folder is
 * refused with a message that says who holds it.
 *
 * <p>A thread that already holds a folder may open it again (the command line locks the folder before it checks
 * it, then the {@link Trainer} opens it again to train); the inner handle's {@link #close()} leaves the lock to
 * the outer one. Any other thread or process is refused.
 */
public final class RunFolder implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RunFolder.class);
    public static final String LOCK = ".lock";
    /** The files a run writes; a folder holding any of the first three has results that are not overwritten silently. */
    public static final List<String> RESULTS = List.of(Trainer.LAST, Trainer.BEST, Trainer.METRICS);
    private static final List<String> RUN_FILES = List.of(Trainer.LAST, Trainer.BEST, Trainer.METRICS, "curves.png",
            "config.json", "options.json");
    /**
     * The temporary files of this project's atomic writers ({@code Files.createTempFile(dir, "." + name, ".tmp")}
     * appends a random unsigned number): checkpoints, config, metrics, options, a sweep's run info and the plots.
     */
    static final Pattern OUR_TEMP_FILES = Pattern.compile(
            "\\.(last\\.safetensors|best\\.safetensors|config|metrics|options\\.json|run\\.json|FAILED\\.txt)\\d+\\.tmp"
                    + "|\\.plot\\d+\\.png");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<Path, Thread> HELD = new ConcurrentHashMap<>();

    /** Who holds a run folder, as written into its lock file. */
    public record Holder(long pid, String host, String since) {
        String describe() {
            return "process " + pid + " on " + host + ", since " + since;
        }
    }

    private final Path dir, key;
    private final FileChannel channel;
    private final FileLock lock;

    private RunFolder(Path dir, Path key, FileChannel channel, FileLock lock) {
        this.dir = dir;
        this.key = key;
        this.channel = channel;
        this.lock = lock;
    }

    public Path path() {
        return dir;
    }

    /**
     * Creates {@code dir} if needed, locks it and removes stale temporary files of ours.
     *
     * @throws IllegalArgumentException when another run holds the folder (the message names it)
     */
    public static RunFolder open(Path dir) {
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new IllegalArgumentException(dir + " is a file, not a folder; a run needs a folder of its own");
        }
        Path key;
        try {
            Files.createDirectories(dir);
            key = dir.toRealPath();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the run folder " + dir + ": " + reason(e), e);
        }
        Thread holder = HELD.putIfAbsent(key, Thread.currentThread());
        if (holder == Thread.currentThread()) return new RunFolder(dir, key, null, null);
        if (holder != null) throw inUse(dir, readHolder(dir.resolve(LOCK)));
        FileChannel channel = null;
        try {
            channel = FileChannel.open(dir.resolve(LOCK), StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
            FileLock lock;
            try {
                lock = channel.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null;
            }
            if (lock == null) {
                channel.close();
                HELD.remove(key);
                throw inUse(dir, readHolder(dir.resolve(LOCK)));
            }
            channel.truncate(0);
            Holder me = new Holder(ProcessHandle.current().pid(), hostName(), Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
            channel.write(ByteBuffer.wrap(JSON.writeValueAsBytes(me)), 0);
            channel.force(true);
            RunFolder folder = new RunFolder(dir, key, channel, lock);
            folder.removeStaleTempFiles();
            return folder;
        } catch (IOException e) {
            HELD.remove(key);
            try {
                if (channel != null) channel.close();
            } catch (IOException ignored) {
                // already failing; the first error is the one to report
            }
            throw new UncheckedIOException("cannot lock the run folder " + dir + ": " + reason(e), e);
        }
    }

    private static IllegalArgumentException inUse(Path dir, Holder holder) {
        String who = holder == null ? "its lock file names no holder yet" : holder.describe();
        return new IllegalArgumentException(dir + " is in use by another run (" + who + "); wait for it to finish "
                + "or choose another run folder");
    }

    /** Why a file operation failed: the system's reason where it gives one, not just the path again. */
    private static String reason(IOException e) {
        if (e instanceof AccessDeniedException) return "permission denied (" + e.getMessage() + ")";
        if (e instanceof FileSystemException f && f.getReason() != null) return f.getReason() + " (" + f.getFile() + ")";
        if (e instanceof FileSystemException f) return e.getClass().getSimpleName() + " (" + f.getFile() + ")";
        return e.getMessage();
    }

    /**
     * A folder name under {@code parent} that does not exist yet: {@code prefix} followed by the date and time, and
     * -2, -3, ... when that is taken (two runs started in the same second).
     */
    public static Path unusedName(Path parent, String prefix) {
        String stamp = prefix + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        Path dir = parent.resolve(stamp);
        for (int n = 2; Files.exists(dir); n++) dir = parent.resolve(stamp + "-" + n);
        return dir;
    }

    /** The holder named in a lock file, or null when it cannot be read (being written, or not ours). */
    static Holder readHolder(Path lockFile) {
        try {
            return JSON.readValue(Files.readAllBytes(lockFile), Holder.class);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static String hostName() {
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "an unknown host";
        }
    }

    /** Only while the lock is held: no live writer of ours can be writing these files. */
    private void removeStaleTempFiles() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(p -> OUR_TEMP_FILES.matcher(p.getFileName().toString()).matches()).toList()) {
                long bytes = Files.size(f);
                Files.deleteIfExists(f);
                log.info("Removed {} ({} bytes), left by a run stopped while writing", f, bytes);
            }
        }
    }

    /** The result files present ({@link #RESULTS}), empty for a fresh folder. */
    public List<String> results() {
        return RESULTS.stream().filter(f -> Files.exists(dir.resolve(f))).toList();
    }

    /**
     * Refuses a folder that holds results of an earlier run, unless {@code overwrite}: then that run's files
     * (checkpoints, metrics, curves, config and options) are deleted; other files in the folder are kept.
     *
     * @param how what the user can do instead, e.g. "pass --resume to continue it, --overwrite to replace it"
     */
    public void requireFresh(boolean overwrite, String how) {
        List<String> present = results();
        if (present.isEmpty()) return;
        if (!overwrite) {
            throw new IllegalArgumentException(dir + " already holds a run (" + String.join(", ", present) + "); " + how);
        }
        List<String> deleted = new ArrayList<>();
        try {
            for (String f : RUN_FILES) if (Files.deleteIfExists(dir.resolve(f))) deleted.add(f);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot clear " + dir + ": " + reason(e), e);
        }
        log.info("Overwriting the run in {}: deleted {}", dir, String.join(", ", deleted));
    }

    /** Releases the lock (an inner handle of the same thread leaves it to the outer one). */
    @Override
    public void close() {
        if (channel == null) return;
        try {
            lock.release();
            channel.close();
        } catch (IOException e) {
            // Closing the channel releases the lock; if even that fails the process's exit does.
            log.warn("cannot release the lock of {}: {}", dir, e.getMessage());
        } finally {
            HELD.remove(key);
        }
    }
}
