package dev.tornadovit.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsTest {

    /**
     * A file whose last tensor sits past the 2 GB mark, behind two byte tensors (the format has no gaps) whose bytes
     * are a hole, so it costs no disk.
     */
    @Test
    void readsATensorBeyondTwoGigabytesFromASparseFile(@TempDir Path dir) throws IOException {
        long begin = 2_300_000_000L, half = 1_150_000_000L;
        String header = "{\"head\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"hole1\":{\"dtype\":\"U8\",\"shape\":[" + (half - 8) + "],\"data_offsets\":[8," + half + "]},"
                + "\"hole2\":{\"dtype\":\"U8\",\"shape\":[" + (begin - half) + "],\"data_offsets\":[" + half + "," + begin + "]},"
                + "\"far\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[" + begin + "," + (begin + 16) + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        Path file = dir.resolve("big.safetensors");
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
            raf.write(h);
            raf.write(floats(1.5f, -2f));
            raf.seek(8 + h.length + begin);
            raf.write(floats(1f, 2f, 3f, 4f));
        }
        assertTrue(file.toFile().length() > (2L << 30));
        Safetensors.Contents c = Safetensors.read(file);
        assertArrayEquals(new float[]{1.5f, -2f}, c.require("head", file).toFloats());
        assertArrayEquals(new float[]{1f, 2f, 3f, 4f}, c.require("far", file).toFloats());
        assertArrayEquals(new long[]{2, 2}, c.require("far", file).shape());
    }

    @Test
    void aFileLargerThanMemoryIsRefusedNamingTheFileAndItsSize(@TempDir Path dir) throws IOException {
        long memory = Safetensors.physicalMemory();
        assertTrue(memory > 0 && memory < Long.MAX_VALUE, "the JVM reports the machine's memory");
        Path file = dir.resolve("huge.safetensors");
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(memory + (1L << 30));
        }
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> Safetensors.read(file));
        assertTrue(e.getMessage().startsWith(file + ": the file is "), e.getMessage());
        assertTrue(e.getMessage().contains("(" + (memory + (1L << 30)) + " bytes), more than this machine's memory"), e.getMessage());
    }

    @Test
    void writtenValuesReadBackExactlyInEveryPrecision(@TempDir Path dir) {
        Path file = dir.resolve("t.safetensors");
        double[] d = {0.1, -3e-300, 7};
        Safetensors.write(file, List.of(new Safetensors.Output("d", "F64", new long[]{3}, d),
                Safetensors.Output.f32("f", new long[]{1, 2}, new float[]{0.1f, -2.5f})), Map.of("k", "v"));
        Safetensors.Contents c = Safetensors.read(file);
        assertArrayEquals(d, c.require("d", file).values());
        assertArrayEquals(new float[]{0.1f, -2.5f}, c.require("f", file).toFloats());
        assertEquals("v", c.metadata().get("k"));
        Safetensors.Entry made = Safetensors.Entry.of("m", new long[]{2}, new double[]{1e-310, -4});
        assertArrayEquals(new double[]{1e-310, -4}, made.values());
    }

    private static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return b.array();
    }
}
