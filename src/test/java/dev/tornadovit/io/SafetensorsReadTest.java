package dev.tornadovit.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class SafetensorsReadTest {

    /** Tensors larger than the reader's chunk, and empty ones, read back exactly in header order. */
    @Test
    void readsTensorsLargerThanOneChunkExactly(@TempDir Path dir) {
        Random random = new Random(3);
        double[] big = new double[300_001]; // 2.4 MB of F64: three chunks of 1 MiB
        for (int i = 0; i < big.length; i++) big[i] = random.nextGaussian();
        double[] floats = new double[400_003];
        for (int i = 0; i < floats.length; i++) floats[i] = (float) random.nextGaussian();
        Path file = dir.resolve("big.safetensors");
        Safetensors.write(file, List.of(new Safetensors.Output("big", "F64", new long[]{big.length}, big),
                new Safetensors.Output("empty", "F32", new long[]{0, 5}, new double[0]),
                new Safetensors.Output("floats", "F32", new long[]{1, floats.length}, floats)), Map.of("k", "v"));
        Safetensors.Contents c = Safetensors.read(file);
        assertEquals(List.of("big", "empty", "floats"), List.copyOf(c.tensors().keySet()));
        assertArrayEquals(big, c.tensors().get("big").values());
        assertEquals(0, c.tensors().get("empty").values().length);
        assertArrayEquals(floats, c.tensors().get("floats").values());
        assertEquals(Map.of("k", "v"), c.metadata());
    }
}
