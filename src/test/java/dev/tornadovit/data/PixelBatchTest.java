package dev.tornadovit.data;

import dev.tornadovit.tensor.PixelTable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Batches of 8-bit pixels ({@link BatchLoader.Builder#bytePixels}) and the {@link PixelTable} that converts them: the
 * conversion gives bit for bit the float batches the loader makes otherwise.
 */
@Timeout(20)
class PixelBatchTest {

    /** One image of 16×16 pixels whose every channel holds each value 0..255 once. */
    private static ImageDataset everyValue(int channels) {
        byte[] pixels = new byte[channels * 256];
        for (int i = 0; i < pixels.length; i++) pixels[i] = (byte) (i % 256);
        return new ImageDataset(channels, 16, 16, List.of("only"), pixels, new int[]{0});
    }

    @ParameterizedTest(name = "{0} channel(s)")
    @ValueSource(ints = {1, 3})
    void tableHoldsTheHostConversionOfEveryValue(int channels) {
        ImageDataset data = everyValue(channels);
        float[] mean = new float[channels], std = new float[channels];
        for (int c = 0; c < channels; c++) {
            mean[c] = 0.4851f - 0.0293f * c;
            std[c] = 0.2291f + 0.0047f * c;
        }
        Normalization norm = Normalization.of(mean, std);
        float[] expected = new float[data.imageSize()];
        data.copyImage(0, expected, 0);
        float[] scaled = expected.clone();
        norm.apply(expected, 0, 256);
        PixelTable table = Normalization.pixelTable(norm, channels), scaling = Normalization.pixelTable(null, channels);
        assertEquals(channels, table.channels());
        for (int c = 0; c < channels; c++) {
            for (int v = 0; v < 256; v++) {
                assertEquals(Float.floatToRawIntBits(expected[c * 256 + v]), Float.floatToRawIntBits(table.value(c, v)),
                        "channel " + c + ", value " + v + " normalised");
                assertEquals(Float.floatToRawIntBits(scaled[c * 256 + v]), Float.floatToRawIntBits(scaling.value(c, v)),
                        "channel " + c + ", value " + v + " scaled");
            }
        }
    }

    @ParameterizedTest(name = "{0} channel(s)")
    @ValueSource(ints = {1, 3})
    void pixelBatchesConvertToTheFloatBatches(int channels) {
        // 103 images in batches of 10: the last batch holds 3.
        ImageDataset data = TestFiles.randomDataset(103, channels, 6, 5, 4, 17);
        for (int shards : new int[]{1, 3}) {
            BatchLoader.Builder floats = BatchLoader.builder(data).batchSize(10).seed(9).shard(shards - 1, shards)
                    .normalization(Normalization.compute(data)).augmentation(new Augmentation(2, true));
            BatchLoader.Builder bytes = BatchLoader.builder(data).batchSize(10).seed(9).shard(shards - 1, shards)
                    .normalization(Normalization.compute(data)).augmentation(new Augmentation(2, true)).bytePixels(true);
            try (BatchLoader a = floats.build(); BatchLoader b = bytes.build()) {
                int last = a.batchesPerEpoch() - 1;
                for (int epoch = 0; epoch < 2; epoch++) {
                    for (int k = 0; k <= last; k++) {
                        Batch x = a.batch(epoch, k), y = b.batch(epoch, k);
                        String at = "epoch " + epoch + ", batch " + k + ", shard " + shards + " of " + shards;
                        assertFalse(x.holdsPixels());
                        assertTrue(y.holdsPixels(), at);
                        assertNull(y.images(), at);
                        assertEquals(x.size() * data.imageSize(), y.pixels().length, "one byte a value, " + at);
                        assertArrayEquals(x.indices(), y.indices(), at);
                        assertArrayEquals(x.labels(), y.labels(), at);
                        assertArrayEquals(x.images(), y.floatImages(), "converted pixels, " + at);
                    }
                    assertEquals(shards == 1 ? 3 : 1, b.batch(epoch, last).size(), "the last batch is partial");
                }
            }
        }
    }

    @Test
    void withoutNormalisationPixelsAreOnlyScaled() {
        ImageDataset data = TestFiles.randomDataset(7, 3, 4, 4, 2, 3);
        try (BatchLoader a = BatchLoader.builder(data).batchSize(4).shuffle(false).build();
             BatchLoader b = BatchLoader.builder(data).batchSize(4).shuffle(false).bytePixels(true).build()) {
            for (int k = 0; k < 2; k++) assertArrayEquals(a.batch(0, k).images(), b.batch(0, k).floatImages());
        }
    }

    @Test
    void aBatchHoldsFloatsOrPixelsWithTheirTable() {
        PixelTable table = Normalization.pixelTable(null, 1);
        assertThrows(IllegalArgumentException.class,
                () -> new Batch(0, 0, 1, 1, 1, 1, new float[1], new int[1], new int[1], new byte[1], table));
        assertThrows(IllegalArgumentException.class,
                () -> new Batch(0, 0, 1, 1, 1, 1, null, new int[1], new int[1], new byte[1], null));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new PixelTable(new float[255]));
        assertEquals("a pixel table holds 256 values per channel, got 255", e.getMessage());
    }
}
