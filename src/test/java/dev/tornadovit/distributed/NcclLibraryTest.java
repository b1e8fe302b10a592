package dev.tornadovit.distributed;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The NCCL binding against the real library where one is found: {@code TORNADOVIT_LIBNCCL}, else the copy that
 * scripts/fetch-nccl.sh puts under target/nccl, else the system's libnccl.so.2; skipped, with the reason, where none
 * is. What runs without a GPU is checked here (the version, unique ids, NCCL's error words, a communicator's
 * creation up to CUDA); the collectives on device memory run on a GPU machine.
 */
class NcclLibraryTest {
    /** The NCCL of the wheel scripts/fetch-nccl.sh fetches. */
    private static final String EXPECTED_MINOR = "2.30.";

    static Optional<NcclLibrary> realNccl() {
        List<String> candidates = new ArrayList<>();
        String env = System.getenv("TORNADOVIT_LIBNCCL");
        if (env != null && !env.isBlank()) candidates.add(env);
        Path fetched = Path.of("target", "nccl", "nvidia", "nccl", "lib", "libnccl.so.2");
        if (Files.isRegularFile(fetched)) candidates.add(fetched.toAbsolutePath().toString());
        candidates.add(NcclLibrary.DEFAULT_LIBRARY);
        for (String file : candidates) {
            try {
                return Optional.of(NcclLibrary.load(file));
            } catch (IllegalArgumentException e) {
                // not there: the next place
            }
        }
        return Optional.empty();
    }

    private static NcclLibrary assumeNccl() {
        Optional<NcclLibrary> nccl = realNccl();
        Assumptions.assumeTrue(nccl.isPresent(), "no libnccl.so.2 found (TORNADOVIT_LIBNCCL, target/nccl from "
                + "scripts/fetch-nccl.sh, or the system's library path)");
        return nccl.get();
    }

    @Test
    void theRealLibraryGivesItsVersionAndUniqueIds() {
        NcclLibrary nccl = assumeNccl();
        int code = nccl.version();
        assertTrue(code >= 20900, "version code " + code);
        String version = nccl.versionString();
        assertEquals(code / 10000 + "." + code / 100 % 100 + "." + code % 100, version);
        if (nccl.file().contains("target")) assertTrue(version.startsWith(EXPECTED_MINOR), version);

        byte[] id = nccl.uniqueId(), other = nccl.uniqueId();
        assertEquals(NcclLibrary.UNIQUE_ID_BYTES, id.length);
        assertEquals(128, id.length);
        assertFalse(NcclLibrary.isBlank(id), "an id of zeros");
        assertNotEquals(java.util.Arrays.toString(id), java.util.Arrays.toString(other), "two ids alike");
    }

    @Test
    void ncclsOwnWordsNameItsErrors() {
        NcclLibrary nccl = assumeNccl();
        assertEquals("no error", nccl.errorString(0));
        assertTrue(nccl.errorString(1).contains("cuda"), nccl.errorString(1));
        assertTrue(nccl.errorString(4).contains("invalid argument"), nccl.errorString(4));
    }

    /**
     * One rank: the id goes through the (here one-process) broadcast and ncclCommInitRank gets it by value. Without a
     * GPU, NCCL refuses at CUDA, and the error is one line naming the call and NCCL's reason; with one, the
     * communicator opens and closes.
     */
    @Test
    void aCommunicatorOpensOrSaysWhyNot() {
        NcclLibrary nccl = assumeNccl();
        NcclCommunicator comm;
        try {
            comm = NcclCommunicator.create(Distributed.single(), nccl);
        } catch (IllegalStateException e) {
            assertTrue(e.getMessage().startsWith("ncclCommInitRank failed: "), e.getMessage());
            assertTrue(e.getMessage().contains("NCCL result "), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
            return;
        }
        try (NcclCommunicator c = comm) {
            assertEquals(0, c.rank());
            assertEquals(1, c.size());
            assertThrows(IllegalArgumentException.class, () -> c.allReduceSum(0, 0, 4, 0));
        }
        assertThrows(IllegalStateException.class, () -> comm.allReduceSum(1, 1, 1, 0), "closed");
    }

    @Test
    void aWrongIdLengthIsRefused() {
        NcclLibrary nccl = assumeNccl();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> nccl.commInitRank(1, new byte[16], 0));
        assertEquals("an NCCL unique id has 128 bytes, not 16", e.getMessage());
    }

    @Test
    void aMissingLibraryIsOneLineNamingIt() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> NcclLibrary.load("libnccl-absent.so.2"));
        assertTrue(e.getMessage().startsWith("cannot load NCCL's libnccl-absent.so.2 "), e.getMessage());
        assertTrue(e.getMessage().contains("TORNADOVIT_LIBNCCL"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void aLibraryThatIsNotNcclIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NcclLibrary.load("libc.so.6"));
        assertEquals("libc.so.6 is not NCCL's library (it has no ncclCommInitRank)", e.getMessage());
    }

    @Test
    void loadingIsLazyAndOnce() {
        Optional<NcclLibrary> nccl = realNccl();
        Assumptions.assumeTrue(nccl.isPresent() && System.getenv("TORNADOVIT_LIBNCCL") != null,
                "TORNADOVIT_LIBNCCL names no NCCL to load by default");
        assertSame(NcclLibrary.load(), NcclLibrary.load());
    }
}
