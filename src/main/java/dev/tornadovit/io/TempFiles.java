package dev.tornadovit.io;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Temporary files that are renamed over their target once written. Unlike {@link Files#createTempFile}, which makes
 * every file readable by its owner only (mode 0600), these get the permissions of any new file (0666 less the
 * umask), so the file they become is shared like every other file the user writes.
 */
public final class TempFiles {
    private TempFiles() {
    }

    /** A new empty file {@code dir/prefix<random>suffix}. */
    public static Path create(Path dir, String prefix, String suffix) throws IOException {
        for (int attempt = 0; ; attempt++) {
            Path candidate = dir.resolve(prefix + Long.toUnsignedString(ThreadLocalRandom.current().nextLong()) + suffix);
            try {
                return Files.createFile(candidate);
            } catch (FileAlreadyExistsException e) {
                if (attempt >= 100) throw e;
            }
        }
    }
}
