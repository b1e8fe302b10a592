package dev.tornadovit.backend.cpu;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ArrayAlignmentTest {

    @Test
    void availableWithNativeAccess() {
        assertTrue(ArrayAlignment.available(),
                "the tests run with --enable-native-access=ALL-UNNAMED (pom.xml's argLine), so memset must be found");
    }

    /** Native memory does not move, so its addresses are known exactly: each float further needs one float less. */
    @Test
    void countsFloatsToTheNextBoundaryOfKnownAddresses() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment aligned = arena.allocate(1024, 64);
            for (int floats = 0; floats < 16; floats++) {
                MemorySegment shifted = aligned.asSlice(4L * floats);
                assertEquals((16 - floats) % 16, ArrayAlignment.floatsToAlign(shifted, 64), "64 bytes, +" + floats);
                assertEquals((8 - floats % 8) % 8, ArrayAlignment.floatsToAlign(shifted, 32), "32 bytes, +" + floats);
            }
        }
    }

    /**
     * A float[]'s answer is where that array lies: slices of it agree with it, and skipping that many floats lands on
     * the boundary. (A collection between two calls could move the array, so a disagreeing round is tried again.)
     */
    @Test
    void heapArraysAreMeasuredWhereTheyLie() {
        float[] array = new float[4096];
        MemorySegment whole = MemorySegment.ofArray(array);
        boolean consistent = false;
        for (int attempt = 0; attempt < 5 && !consistent; attempt++) {
            int skip = ArrayAlignment.floatsToAlign(whole, 32);
            assertTrue(skip >= 0 && skip < 8, "skip " + skip);
            consistent = ArrayAlignment.floatsToAlign(whole.asSlice(4L * skip), 32) == 0;
            for (int floats = 1; floats < 8 && consistent; floats++) {
                consistent = ArrayAlignment.floatsToAlign(whole.asSlice(4L * floats), 32) == Math.floorMod(skip - floats, 8);
            }
        }
        assertTrue(consistent, "slices of a heap array disagree with the array's own alignment");
    }
}
