package dev.tornadovit.data;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class NormalizationTest {

    @Test
    void computedStatisticsMatchDirectCalculation() {
        ImageDataset ds = TestFiles.randomDataset(50, 3, 4, 5, 2, 11);
        Normalization norm = Normalization.compute(ds);
        assertEquals(3, norm.channels());
        float[] image = new float[ds.imageSize()];
        for (int c = 0; c < 3; c++) {
            double sum = 0;
            double sumSquares = 0;
            int n = 0;
            for (int i = 0; i < ds.size(); i++) {
                ds.copyImage(i, image, 0);
                for (int p = c * 20; p < (c + 1) * 20; p++) {
                    sum += image[p];
                    sumSquares += (double) image[p] * image[p];
                    n++;
                }
            }
            double mean = sum / n;
            assertEquals(mean, norm.mean(c), 1e-6);
            assertEquals(Math.sqrt(sumSquares / n - mean * mean), norm.std(c), 1e-6);
        }
    }

    @Test
    void applyGivesZeroMeanUnitStdPerChannel() {
        ImageDataset ds = TestFiles.randomDataset(40, 2, 3, 3, 2, 5);
        Normalization norm = Normalization.compute(ds);
        float[] all = new float[ds.size() * ds.imageSize()];
        for (int i = 0; i < ds.size(); i++) {
            ds.copyImage(i, all, i * ds.imageSize());
            norm.apply(all, i * ds.imageSize(), 9);
        }
        for (int c = 0; c < 2; c++) {
            double sum = 0;
            double sumSquares = 0;
            int n = 0;
            for (int i = 0; i < ds.size(); i++) {
                for (int p = 0; p < 9; p++) {
                    double v = all[i * 18 + c * 9 + p];
                    sum += v;
                    sumSquares += v * v;
                    n++;
                }
            }
            assertEquals(0, sum / n, 1e-5);
            assertEquals(1, Math.sqrt(sumSquares / n), 1e-5);
        }
    }

    @Test
    void givenStatisticsAreUsedAndValidated() {
        Normalization norm = Normalization.of(new float[] {0.5f}, new float[] {0.25f});
        float[] v = {0f, 0.5f, 1f};
        norm.apply(v, 0, 3);
        assertArrayEquals(new float[] {-2f, 0f, 2f}, v);
        assertThrows(IllegalArgumentException.class, () -> Normalization.of(new float[] {0}, new float[] {0}));
        assertThrows(IllegalArgumentException.class, () -> Normalization.of(new float[] {0, 0}, new float[] {1}));
    }

    @Test
    void constantChannelFallsBackToUnitStd() {
        ImageDataset flat = new ImageDataset(1, 1, 2, java.util.List.of("x"), new byte[] {9, 9, 9, 9}, new int[2]);
        Normalization norm = Normalization.compute(flat);
        assertEquals(9 / 255f, norm.mean(0), 1e-7);
        assertEquals(1f, norm.std(0));
    }

    @Test
    void channelMismatchWithDatasetIsReported() {
        ImageDataset grey = TestFiles.randomDataset(4, 1, 2, 2, 2, 1);
        Normalization rgb = Normalization.of(new float[] {0.5f, 0.5f, 0.5f}, new float[] {1, 1, 1});
        var e = assertThrows(DataFormatException.class,
                () -> BatchLoader.builder(grey).normalization(rgb).build());
        assertTrue(e.getMessage().contains("1 channel(s)") && e.getMessage().contains("statistics for 3"),
                e.getMessage());
    }
}
