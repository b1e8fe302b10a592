package dev.tornadovit.backend.cpu;

import dev.tornadovit.backend.reference.ReferenceBackend;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.tensor.PixelTable;
import dev.tornadovit.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * {@link CpuBackend#uploadPixels}, which converts straight into the tensor over the thread pool, against the host
 * conversion ({@link PixelTable#convert}) and against the Backend's default, which the reference backend uses.
 */
class PixelUploadTest {
    /** 8 images of 64×64 pixels: with three channels more values than one chunk of the pool's loop. */
    private static final int PLANE = 64 * 64, CAPACITY = 8;

    private static byte[] random(int n, long seed) {
        byte[] p = new byte[n];
        new SplittableRandom(seed).nextBytes(p);
        return p;
    }

    private static PixelTable table(int channels) {
        float[] mean = new float[channels], std = new float[channels];
        Arrays.fill(mean, 0.4379f);
        Arrays.fill(std, 0.2731f);
        return Normalization.pixelTable(Normalization.of(mean, std), channels);
    }

    @ParameterizedTest(name = "{0} channel(s)")
    @ValueSource(ints = {1, 3})
    void convertsTheBatchAndKeepsTheRest(int channels) {
        int size = CAPACITY * channels * PLANE, imageSize = channels * PLANE;
        PixelTable table = table(channels);
        float[] sentinel = new float[size];
        Arrays.fill(sentinel, -7.5f);
        try (CpuBackend cpu = new CpuBackend(2); ReferenceBackend reference = new ReferenceBackend()) {
            Tensor images = cpu.allocate(size), referenceImages = reference.allocate(size);
            for (int batch : new int[]{CAPACITY, CAPACITY - 3, 1}) {
                cpu.upload(images, sentinel);
                reference.upload(referenceImages, sentinel);
                byte[] pixels = random(size, batch);
                cpu.uploadPixels(images, pixels, batch, PLANE, table);
                reference.uploadPixels(referenceImages, pixels, batch, PLANE, table);
                int count = batch * imageSize;
                float[] expected = sentinel.clone();
                table.convert(pixels, expected, 0, count, PLANE);
                assertArrayEquals(expected, cpu.downloadFloat(images), "batch of " + batch);
                double[] widened = reference.downloadDouble(referenceImages);
                for (int i = 0; i < size; i++) {
                    assertEquals(expected[i], widened[i], 0, "reference backend (the default), batch of " + batch + ", " + i);
                }
            }
        }
    }

    @Test
    void refusesABatchLargerThanThePixelsOrTheTensor() {
        PixelTable table = table(3);
        try (CpuBackend cpu = new CpuBackend(1)) {
            Tensor images = cpu.allocate(2 * 3 * PLANE);
            IllegalArgumentException tooFewPixels = assertThrows(IllegalArgumentException.class,
                    () -> cpu.uploadPixels(images, new byte[3 * PLANE], 2, PLANE, table));
            assertEquals("2 images of 3×4096 pixels are 24576 values, but the pixels hold 12288 and the tensor 24576",
                    tooFewPixels.getMessage());
            assertThrows(IllegalArgumentException.class, () -> cpu.uploadPixels(images, new byte[9 * PLANE], 3, PLANE, table));
        }
    }
}
