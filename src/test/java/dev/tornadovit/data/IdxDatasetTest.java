package dev.tornadovit.data;

import static dev.tornadovit.data.TestFiles.*;
import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IdxDatasetTest {

    @TempDir
    Path dir;

    private static final int COUNT = 7;
    private static final int ROWS = 5;
    private static final int COLUMNS = 4;
    private final byte[] pixels = randomBytes(COUNT * ROWS * COLUMNS, 42);
    private final int[] labels = TestFiles.labels(COUNT, 10, 43);

    private void assertRoundTrip(ImageDataset ds) {
        assertEquals(COUNT, ds.size());
        assertEquals(1, ds.channels());
        assertEquals(ROWS, ds.height());
        assertEquals(COLUMNS, ds.width());
        assertEquals(IdxDataset.DIGIT_CLASS_NAMES, ds.classNames());
        byte[] bytes = new byte[pixels.length];
        float[] floats = new float[pixels.length];
        for (int i = 0; i < COUNT; i++) {
            assertEquals(labels[i], ds.label(i));
            ds.copyImageBytes(i, bytes, i * ROWS * COLUMNS);
            ds.copyImage(i, floats, i * ROWS * COLUMNS);
        }
        assertArrayEquals(pixels, bytes);
        for (int k = 0; k < pixels.length; k++) {
            assertEquals((pixels[k] & 0xFF) / 255f, floats[k]);
        }
        assertEquals(pixels[3 * 20 + 2 * 4 + 1] & 0xFF, ds.pixel(3, 0, 2, 1));
    }

    @Test
    void loadsPlainFiles() {
        Path images = write(dir.resolve("images"), idxImages(COUNT, ROWS, COLUMNS, pixels));
        Path labelFile = write(dir.resolve("labels"), idxLabels(labels));
        assertRoundTrip(IdxDataset.load(images, labelFile));
    }

    @Test
    void detectsGzipByContentNotName() {
        // Deliberately misleading names: gzipped content without .gz, plain content with .gz.
        Path images = write(dir.resolve("images.idx"), gzip(idxImages(COUNT, ROWS, COLUMNS, pixels)));
        Path labelFile = write(dir.resolve("labels.gz"), idxLabels(labels));
        assertRoundTrip(IdxDataset.load(images, labelFile));
    }

    @Test
    void wrongMagicNamesFileAndBothValuesInHex() {
        Path images = write(dir.resolve("images"), idxImages(COUNT, ROWS, COLUMNS, pixels));
        Path labelFile = write(dir.resolve("labels"), idxLabels(labels));
        var e = assertThrows(DataFormatException.class, () -> IdxDataset.load(labelFile, images));
        assertTrue(e.getMessage().contains(labelFile.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("expected 0x00000803"), e.getMessage());
        assertTrue(e.getMessage().contains("found 0x00000801"), e.getMessage());
        assertTrue(e.getMessage().contains("swapped"), e.getMessage());
    }

    @Test
    void truncatedImagesSayHowManyBytesAtWhichOffset() {
        byte[] full = idxImages(COUNT, ROWS, COLUMNS, pixels);
        Path images = write(dir.resolve("images"), Arrays.copyOf(full, full.length - 10));
        Path labelFile = write(dir.resolve("labels"), idxLabels(labels));
        var e = assertThrows(DataFormatException.class, () -> IdxDataset.load(images, labelFile));
        String m = e.getMessage();
        assertTrue(m.contains(images.toString()) && m.contains("truncated"), m);
        assertTrue(m.contains("expected " + COUNT * ROWS * COLUMNS + " bytes"), m);
        assertTrue(m.contains("at byte offset 16"), m);
        assertTrue(m.contains("ends at byte offset " + (full.length - 10)), m);
    }

    @Test
    void truncatedGzipAndTruncatedHeaderAreReported() {
        byte[] gz = gzip(idxImages(COUNT, ROWS, COLUMNS, pixels));
        Path images = write(dir.resolve("images"), Arrays.copyOf(gz, gz.length / 2));
        Path labelFile = write(dir.resolve("labels"), idxLabels(labels));
        var e = assertThrows(DataFormatException.class, () -> IdxDataset.load(images, labelFile));
        assertTrue(e.getMessage().contains(images.toString()) && e.getMessage().contains("gzip data is truncated")
                && e.getMessage().contains("expected " + COUNT * ROWS * COLUMNS + " bytes of pixel data")
                && e.getMessage().contains("breaks off at byte offset"), e.getMessage());

        Path shortLabels = write(dir.resolve("short-labels"), new byte[] {0, 0, 8, 1, 0, 0});
        Path goodImages = write(dir.resolve("good-images"), idxImages(COUNT, ROWS, COLUMNS, pixels));
        e = assertThrows(DataFormatException.class, () -> IdxDataset.load(goodImages, shortLabels));
        assertTrue(e.getMessage().contains(shortLabels.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("expected 4 bytes of label count at byte offset 4"), e.getMessage());
    }

    @Test
    void trailingBytesAreRejected() {
        byte[] full = idxImages(COUNT, ROWS, COLUMNS, pixels);
        Path images = write(dir.resolve("images"), Arrays.copyOf(full, full.length + 3));
        Path labelFile = write(dir.resolve("labels"), idxLabels(labels));
        var e = assertThrows(DataFormatException.class, () -> IdxDataset.load(images, labelFile));
        assertTrue(e.getMessage().contains(images.toString()) && e.getMessage().contains("3 more bytes"),
                e.getMessage());
    }

    @Test
    void countMismatchNamesBothFilesAndCounts() {
        Path images = write(dir.resolve("images"), idxImages(COUNT, ROWS, COLUMNS, pixels));
        Path labelFile = write(dir.resolve("labels"), idxLabels(Arrays.copyOf(labels, COUNT - 1)));
        var e = assertThrows(DataFormatException.class, () -> IdxDataset.load(images, labelFile));
        String m = e.getMessage();
        assertTrue(m.contains(images.toString()) && m.contains(labelFile.toString()), m);
        assertTrue(m.contains((COUNT - 1) + " labels") && m.contains(COUNT + " images"), m);
    }

    @Test
    void labelOutOfRangeNamesRecordValueAndRange() {
        int[] bad = labels.clone();
        bad[4] = 12;
        Path images = write(dir.resolve("images"), idxImages(COUNT, ROWS, COLUMNS, pixels));
        Path labelFile = write(dir.resolve("labels"), idxLabels(bad));
        var e = assertThrows(DataFormatException.class, () -> IdxDataset.load(images, labelFile));
        String m = e.getMessage();
        assertTrue(m.contains(labelFile.toString()), m);
        assertTrue(m.contains("record 4 (byte offset 12)") && m.contains("is 12") && m.contains("0..9"), m);
        // With 20 class names the same label is fine.
        List<String> names = java.util.stream.IntStream.range(0, 20).mapToObj(i -> "c" + i).toList();
        assertEquals(12, IdxDataset.load(images, labelFile, names).label(4));
    }

    @Test
    void missingFileIsReported() {
        Path missing = dir.resolve("nope");
        var e = assertThrows(DataFormatException.class, () -> IdxDataset.load(missing, missing));
        assertTrue(e.getMessage().contains(missing.toString()) && e.getMessage().contains("not found"));
    }

    @Test
    void fashionMnistUsesStandardNamesAndChecksDimensions() {
        byte[] fashionPixels = randomBytes(3 * 28 * 28, 1);
        int[] fashionLabels = {0, 9, 5};
        write(dir.resolve(FashionMnist.TEST_IMAGES), gzip(idxImages(3, 28, 28, fashionPixels)));
        write(dir.resolve(FashionMnist.TEST_LABELS), gzip(idxLabels(fashionLabels)));
        ImageDataset ds = FashionMnist.load(dir, false);
        assertEquals(3, ds.size());
        assertEquals("Ankle boot", ds.classNames().get(ds.label(1)));

        Path other = dir.resolve("other");
        write(other.resolve("train-images-idx3-ubyte"), idxImages(COUNT, ROWS, COLUMNS, pixels)); // not gzipped
        write(other.resolve(FashionMnist.TRAIN_LABELS), idxLabels(labels));
        var e = assertThrows(DataFormatException.class, () -> FashionMnist.load(other, true));
        assertTrue(e.getMessage().contains("train-images-idx3-ubyte") && e.getMessage().contains("28×28")
                && e.getMessage().contains("5×4"), e.getMessage());
    }
}
