package dev.tornadovit.data;

import static org.junit.jupiter.api.Assertions.*;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ImageDatasetTest {

    /** Image i has every byte equal to i, so images can be identified after copying. */
    private static ImageDataset numbered(int count) {
        byte[] pixels = new byte[count * 2 * 3 * 2];
        for (int i = 0; i < count; i++) {
            java.util.Arrays.fill(pixels, i * 12, (i + 1) * 12, (byte) i);
        }
        int[] labels = new int[count];
        for (int i = 0; i < count; i++) {
            labels[i] = i % 3;
        }
        return new ImageDataset(2, 3, 2, List.of("a", "b", "c"), pixels, labels);
    }

    private static int id(ImageDataset ds, int i) {
        return ds.pixel(i, 0, 0, 0);
    }

    @Test
    void copyImageScalesToUnitRange() {
        byte[] pixels = {0, (byte) 255, (byte) 128, 1};
        ImageDataset ds = new ImageDataset(1, 2, 2, List.of("x"), pixels, new int[] {0});
        float[] dst = new float[6];
        ds.copyImage(0, dst, 2);
        assertArrayEquals(new float[] {0, 0, 0f, 1f, 128 / 255f, 1 / 255f}, dst);
        assertEquals(4, ds.imageSize());
        assertArrayEquals(new int[] {1}, ds.classCounts());
    }

    @Test
    void subsetCopiesChosenImagesInOrder() {
        ImageDataset ds = numbered(10);
        ImageDataset sub = ds.subset(new int[] {7, 2, 7});
        assertEquals(3, sub.size());
        assertEquals(List.of(7, 2, 7), List.of(id(sub, 0), id(sub, 1), id(sub, 2)));
        assertEquals(List.of(1, 2, 1), List.of(sub.label(0), sub.label(1), sub.label(2)));
        assertEquals(ds.classNames(), sub.classNames());
        assertThrows(IndexOutOfBoundsException.class, () -> ds.subset(new int[] {10}));
    }

    @Test
    void splitIsDeterministicDisjointAndComplete() {
        ImageDataset ds = numbered(100);
        ImageDataset.Split split = ds.split(0.2, 7);
        assertEquals(80, split.train().size());
        assertEquals(20, split.validation().size());
        Set<Integer> seen = new HashSet<>();
        for (ImageDataset part : List.of(split.train(), split.validation())) {
            int previous = -1;
            for (int i = 0; i < part.size(); i++) {
                int id = id(part, i);
                assertTrue(id > previous, "original order is kept");
                previous = id;
                assertTrue(seen.add(id), "image " + id + " in both parts");
            }
        }
        assertEquals(100, seen.size());

        ImageDataset.Split again = ds.split(0.2, 7);
        ImageDataset.Split other = ds.split(0.2, 8);
        List<Integer> validation = ids(split.validation());
        assertEquals(validation, ids(again.validation()));
        assertNotEquals(validation, ids(other.validation()));
        assertThrows(IllegalArgumentException.class, () -> ds.split(1.0, 1));
    }

    private static List<Integer> ids(ImageDataset ds) {
        return java.util.stream.IntStream.range(0, ds.size()).mapToObj(i -> id(ds, i)).toList();
    }

    @Test
    void constructorRejectsMismatchedShapesAndLabels() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> new ImageDataset(1, 2, 2, List.of("x"), new byte[7], new int[2]));
        assertTrue(e.getMessage().contains("expected 2 images × 4 bytes = 8"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new ImageDataset(1, 1, 1, List.of("x", "y"), new byte[1], new int[] {2}));
        assertTrue(e.getMessage().contains("0..1"), e.getMessage());
    }
}
