package dev.tornadovit.distributed;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Outside mpirun a process is alone and needs no MPI library; another MPI's launcher is named, not half-used. */
class LaunchTest {

    @Test
    void withoutMpirunTheProcessIsAlone() {
        Distributed d = Launch.fromEnvironment(Map.of("PATH", "/usr/bin"));
        assertSame(Distributed.single(), d);
        assertEquals(0, d.rank());
        assertEquals(1, d.size());
        assertTrue(d.isRoot());
        float[] values = {1, 2, 3};
        d.sum(values, 3);
        assertEquals(2f, values[1]);
        assertEquals("one process", d.describe());
    }

    @Test
    void anotherMpisLauncherIsRefusedByName() {
        var e = assertThrows(IllegalArgumentException.class, () -> Launch.fromEnvironment(Map.of("PMI_SIZE", "4")));
        assertTrue(e.getMessage().contains("PMI_SIZE=4") && e.getMessage().contains("Open MPI"), e.getMessage());
        assertSame(Distributed.single(), Launch.fromEnvironment(Map.of("PMI_SIZE", "1")));
    }
}
