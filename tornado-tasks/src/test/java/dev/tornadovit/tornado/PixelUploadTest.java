package dev.tornadovit.tornado;

import dev.tornadovit.data.Normalization;
import dev.tornadovit.tensor.PixelTable;
import dev.tornadovit.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * 8-bit pixels uploaded and converted on the device ({@link PixelUploads}) against the CPU backend's conversion of the
 * same bytes: bit for bit, for full and partial batches, one and three channels, a changed table, and mixed with
 * float uploads to the same tensor.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class PixelUploadTest extends DeviceAgainstCpu {
    /** Images of 7×9 pixels (a plane size no work-group divides), four to a full batch. */
    private static final int HEIGHT = 7, WIDTH = 9, PLANE = HEIGHT * WIDTH, CAPACITY = 4;

    PixelUploadTest() {
        super(5);
    }

    /** Statistics whose divisions round (none is a power of two), one per channel. */
    private static Normalization awkward(int channels) {
        float[] mean = new float[channels], std = new float[channels];
        for (int c = 0; c < channels; c++) {
            mean[c] = 0.4851f - 0.0293f * c;
            std[c] = 0.2291f + 0.0047f * c;
        }
        return Normalization.of(mean, std);
    }

    /** Random bytes that hold every value 0..255 at least once (where they fit). */
    private byte[] pixels(int n) {
        byte[] p = new byte[n];
        for (int i = 0; i < n; i++) p[i] = (byte) (i < 256 ? i : random.nextInt(256));
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            byte t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    /** Both backends' image tensors, uploaded the same pixels; asserts they hold the same floats bit for bit. */
    private void uploadBoth(Twin images, byte[] pixels, int batch, PixelTable table, String what) {
        cpu.uploadPixels(images.cpu(), pixels, batch, PLANE, table);
        dev.uploadPixels(images.device(), pixels, batch, PLANE, table);
        float[] expected = cpu.downloadFloat(images.cpu());
        float[] actual = dev.downloadFloat(images.device());
        assertArrayEquals(expected, actual, what + ": the device's floats differ from the CPU's");
    }

    @ParameterizedTest(name = "{0} channel(s)")
    @ValueSource(ints = {1, 3})
    void convertedPixelsAreTheCpusBitForBit(int channels) {
        int imageSize = channels * PLANE, size = CAPACITY * imageSize;
        // a fresh tensor with values of its own: the first pixel upload also moves it to the device
        Twin images = Twin.random(cpu, dev, size, random, 5);
        PixelTable normalised = Normalization.pixelTable(awkward(channels), channels);

        byte[] full = pixels(size);
        uploadBoth(images, full, CAPACITY, normalised, "full batch");
        float[] host = new float[size];
        normalised.convert(full, host, 0, size, PLANE);
        assertArrayEquals(host, dev.downloadFloat(images.device()), "the device's floats are the host conversion's");

        // A smaller last batch: its images are converted, the last image keeps the full batch's values.
        byte[] partial = pixels(size);
        uploadBoth(images, partial, CAPACITY - 1, normalised, "partial batch");
        float[] afterPartial = dev.downloadFloat(images.device());
        assertArrayEquals(Arrays.copyOfRange(host, (CAPACITY - 1) * imageSize, size),
                Arrays.copyOfRange(afterPartial, (CAPACITY - 1) * imageSize, size), "the image past the batch is kept");

        // Another table for the same tensor (no normalisation: pixel / 255 only), and a batch of one image.
        uploadBoth(images, pixels(size), 1, Normalization.pixelTable(null, channels), "scaled only, one image");
        uploadBoth(images, pixels(size), CAPACITY, normalised, "normalised again");
    }

    @Test
    void operationsReadThePixelsAndUploadsLandInOrder() {
        int channels = 3, size = CAPACITY * channels * PLANE;
        PixelTable table = Normalization.pixelTable(awkward(channels), channels);
        Twin images = Twin.zeros(cpu, dev, size), other = Twin.random(cpu, dev, size, random, 1), sum = Twin.zeros(cpu, dev, size);
        uploadBoth(images, pixels(size), CAPACITY, table, "first upload");
        // A kernel reads the converted pixels from the device buffer.
        cpu.add(images.cpu(), other.cpu(), sum.cpu(), size);
        dev.add(images.device(), other.device(), sum.device(), size);
        assertArrayEquals(cpu.downloadFloat(sum.cpu()), dev.downloadFloat(sum.device()), "images + other");

        // Floats uploaded after pixels replace them, and pixels uploaded after floats (still waiting on the host) too.
        float[] floats = new float[size];
        for (int i = 0; i < size; i++) floats[i] = i * 0.5f;
        dev.upload(images.device(), floats);
        assertArrayEquals(floats, dev.downloadFloat(images.device()), "floats after pixels");
        dev.upload(images.device(), floats);
        uploadBoth(images, pixels(size), CAPACITY, table, "pixels after floats");
        cpu.add(images.cpu(), other.cpu(), sum.cpu(), size);
        dev.add(images.device(), other.device(), sum.device(), size);
        assertArrayEquals(cpu.downloadFloat(sum.cpu()), dev.downloadFloat(sum.device()), "images + other, again");
    }

    @Test
    void refusesMorePixelsThanTheTensorHoldsAndUploadsInsideGraphs() {
        PixelTable table = Normalization.pixelTable(null, 3);
        Tensor images = dev.allocate(3 * PLANE);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> dev.uploadPixels(images, new byte[6 * PLANE], 2, PLANE, table));
        assertEquals("2 images of 3×63 pixels are 378 values, but the pixels hold 378 and the tensor 189", e.getMessage());
        IllegalStateException inside = assertThrows(IllegalStateException.class,
                () -> dev.record("upload", () -> dev.uploadPixels(images, new byte[3 * PLANE], 1, PLANE, table)).run());
        assertEquals(true, inside.getMessage().startsWith("upload inside a graph body"), inside.getMessage());
    }
}
