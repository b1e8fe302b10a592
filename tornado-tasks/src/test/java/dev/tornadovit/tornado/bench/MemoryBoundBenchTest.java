package dev.tornadovit.tornado.bench;

import dev.tornadovit.tornado.TestDevice;
import dev.tornadovit.tornado.TornadoBackend;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code bench --parts memory} on the test device at a small block: one row per operation, in the column order of
 * {@code pytorch_memory_bench.py}, each counting the bytes its operation must move and giving bandwidth as bytes over
 * time (no speed is asserted: benchmarks measure, tests check).
 */
class MemoryBoundBenchTest {
    @Test
    void printsEveryOperationWithTheBytesItMovesAndItsBandwidth() {
        List<String> rows = new ArrayList<>();
        int tokens = 2 * 17, width = 16, hidden = 32, heads = 2, keys = 17;
        try (TornadoBackend be = TestDevice.backend()) {
            new MemoryBoundBench(be, rows::add).run(tokens, width, hidden, heads, keys, 2);
        }
        assertEquals("| memory-bound kernel, fp32 | elements | MB moved | ms | GB/s |", rows.get(0));
        List<String> names = List.of("copy (the yardstick)", "GELU forward", "GELU backward", "residual add",
                "LayerNorm forward", "residual add + LayerNorm", "LayerNorm backward", "softmax forward, maps",
                "softmax backward, maps", "ReLU/L φ forward, maps", "ReLU/L φ backward, maps");
        assertEquals(2 + names.size(), rows.size(), String.join("\n", rows));
        long[] elements = {tokens * hidden, tokens * hidden, tokens * hidden, tokens * width, tokens * width,
                tokens * width, tokens * width, (long) tokens * heads * keys, (long) tokens * heads * keys,
                (long) tokens * heads * keys, (long) tokens * heads * keys};
        int[] values = {2, 2, 3, 3, 2, 4, 3, 2, 3, 2, 3};
        for (int i = 0; i < names.size(); i++) {
            String[] cells = rows.get(2 + i).split("\\|");
            assertEquals(names.get(i), cells[1].strip());
            assertEquals(elements[i], Long.parseLong(cells[2].strip()), names.get(i));
            assertEquals(elements[i] * values[i] * 4 / 1e6, Double.parseDouble(cells[3].strip()), 0.0005, names.get(i));
            double ms = Double.parseDouble(cells[4].strip());
            assertTrue(ms > 0, names.get(i) + " took no time: " + ms);
        }
    }
}
