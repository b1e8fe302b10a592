package dev.tornadovit.data;

import static org.junit.jupiter.api.Assertions.*;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class AugmentationTest {

    private static final int C = 2;
    private static final int H = 4;
    private static final int W = 5;

    /** Value encodes its own (c, y, x) so that moves are easy to check; never 0, which is the padding. */
    private static float[] image() {
        float[] v = new float[C * H * W];
        for (int c = 0; c < C; c++) {
            for (int y = 0; y < H; y++) {
                for (int x = 0; x < W; x++) {
                    v[(c * H + y) * W + x] = 100 * c + 10 * y + x + 1;
                }
            }
        }
        return v;
    }

    private static float at(float[] v, int c, int y, int x) {
        return v[(c * H + y) * W + x];
    }

    @Test
    void flipIsAnExactMirror() {
        float[] original = image();
        float[] flipped = image();
        new Augmentation.Transform(0, 0, true).apply(flipped, 0, C, H, W, new float[H * W]);
        for (int c = 0; c < C; c++) {
            for (int y = 0; y < H; y++) {
                for (int x = 0; x < W; x++) {
                    assertEquals(at(original, c, y, W - 1 - x), at(flipped, c, y, x));
                }
            }
        }
        new Augmentation.Transform(0, 0, true).apply(flipped, 0, C, H, W, new float[H * W]);
        assertArrayEquals(original, flipped, "flipping twice restores the image");
    }

    @Test
    void cropShiftsContentKeepsShapeAndZeroPads() {
        float[] original = image();
        // Image embedded in a larger array at an offset, to check offsets are honoured.
        float[] buffer = new float[7 + original.length + 3];
        System.arraycopy(original, 0, buffer, 7, original.length);
        new Augmentation.Transform(1, -2, false).apply(buffer, 7, C, H, W, new float[H * W]);
        assertEquals(0f, buffer[6]);
        assertEquals(0f, buffer[7 + original.length]);
        for (int c = 0; c < C; c++) {
            for (int y = 0; y < H; y++) {
                for (int x = 0; x < W; x++) {
                    int sy = y + 1;
                    int sx = x - 2;
                    float expected = sy < H && sx >= 0 ? at(original, c, sy, sx) : 0f;
                    assertEquals(expected, buffer[7 + (c * H + y) * W + x], "c=" + c + " y=" + y + " x=" + x);
                }
            }
        }
    }

    @Test
    void samplingIsDeterministicAndWithinPadding() {
        Augmentation aug = new Augmentation(2, true);
        Set<Augmentation.Transform> distinct = new HashSet<>();
        int flips = 0;
        for (int position = 0; position < 1000; position++) {
            Augmentation.Transform t = aug.sample(42, 3, position);
            assertEquals(t, aug.sample(42, 3, position));
            assertTrue(Math.abs(t.shiftY()) <= 2 && Math.abs(t.shiftX()) <= 2, t.toString());
            distinct.add(t);
            flips += t.flip() ? 1 : 0;
        }
        assertEquals(50, distinct.size(), "all 5×5×2 combinations occur");
        assertTrue(flips > 400 && flips < 600, "flips " + flips);
        assertNotEquals(sequence(aug, 42, 3), sequence(aug, 43, 3), "seed matters");
        assertNotEquals(sequence(aug, 42, 3), sequence(aug, 42, 4), "epoch matters");

        // Turning flipping off leaves the crop offsets as they were.
        Augmentation cropOnly = new Augmentation(2, false);
        for (int position = 0; position < 20; position++) {
            Augmentation.Transform both = aug.sample(1, 0, position);
            Augmentation.Transform crop = cropOnly.sample(1, 0, position);
            assertEquals(both.shiftY(), crop.shiftY());
            assertEquals(both.shiftX(), crop.shiftX());
            assertFalse(crop.flip());
        }
        assertTrue(Augmentation.NONE.sample(1, 2, 3).isIdentity());
    }

    private static java.util.List<Augmentation.Transform> sequence(Augmentation aug, long seed, int epoch) {
        return java.util.stream.IntStream.range(0, 20).mapToObj(p -> aug.sample(seed, epoch, p)).toList();
    }
}
