package dev.tornadovit.distributed;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ranks on one host share its cores by default, and a --device list gives each its own device. */
class LocalRanksTest {
    private static final Map<String, String> ALONE = Map.of();

    private static Map<String, String> rank(int local, int size) {
        return Map.of(LocalRanks.LOCAL_RANK, Integer.toString(local), LocalRanks.LOCAL_SIZE, Integer.toString(size));
    }

    @Test
    void theHostsCoresAreSharedOutUnlessThreadsAreGiven() {
        assertEquals(0, LocalRanks.threads(0, 16, ALONE), "alone: the backend's default, every core");
        assertEquals(4, LocalRanks.threads(0, 16, rank(1, 4)));
        assertEquals(1, LocalRanks.threads(0, 2, rank(2, 4)), "never fewer than one");
        assertEquals(0, LocalRanks.threads(0, 16, rank(0, 1)));
        assertEquals(3, LocalRanks.threads(3, 16, rank(1, 4)), "an explicit --threads holds");
    }

    @Test
    void aDeviceListGivesEachLocalRankItsEntry() {
        assertEquals("cpu", LocalRanks.device("cpu", rank(1, 2)));
        assertEquals("0:1", LocalRanks.device("0:0, 0:1", rank(1, 2)));
        assertEquals("0:0", LocalRanks.device("0:0,0:1", rank(0, 2)));
        var tooFew = assertThrows(IllegalArgumentException.class, () -> LocalRanks.device("0:0,0:1", rank(0, 3)));
        assertTrue(tooFew.getMessage().contains("lists 2 devices but 3 ranks"), tooFew.getMessage());
        var alone = assertThrows(IllegalArgumentException.class, () -> LocalRanks.device("0:0,0:1", ALONE));
        assertTrue(alone.getMessage().contains("without mpirun name one device"), alone.getMessage());
        var bad = assertThrows(IllegalArgumentException.class, () -> LocalRanks.threads(0, 4,
                Map.of(LocalRanks.LOCAL_SIZE, "two")));
        assertTrue(bad.getMessage().contains("OMPI_COMM_WORLD_LOCAL_SIZE is 'two'"), bad.getMessage());
    }
}
