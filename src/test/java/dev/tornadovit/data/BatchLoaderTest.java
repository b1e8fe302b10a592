package dev.tornadovit.data;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(20)
class BatchLoaderTest {

    private final ImageDataset dataset = TestFiles.randomDataset(103, 3, 6, 6, 5, 99);

    private BatchLoader.Builder trainingLoader() {
        return BatchLoader.builder(dataset).batchSize(10).seed(1234).shuffle(true)
                .normalization(Normalization.compute(dataset))
                .augmentation(new Augmentation(2, true));
    }

    private static List<Batch> drain(PrefetchIterator<Batch> iterator) {
        List<Batch> batches = new ArrayList<>();
        try (iterator) {
            iterator.forEachRemaining(batches::add);
        }
        return batches;
    }

    private static void assertBitwiseEqual(Batch expected, Batch actual) {
        assertEquals(expected.epoch(), actual.epoch());
        assertEquals(expected.index(), actual.index());
        assertEquals(expected.size(), actual.size());
        assertArrayEquals(expected.indices(), actual.indices());
        assertArrayEquals(expected.labels(), actual.labels());
        assertTrue(Arrays.equals(expected.images(), actual.images()), "images differ in batch " + expected.index());
    }

    @Test
    void everySampleAppearsOncePerEpoch() {
        try (BatchLoader loader = trainingLoader().build()) {
            assertEquals(11, loader.batchesPerEpoch());
            List<Batch> batches = drain(loader.iterator(0));
            assertEquals(11, batches.size());
            int[] seen = new int[dataset.size()];
            for (int k = 0; k < batches.size(); k++) {
                Batch b = batches.get(k);
                assertEquals(k, b.index());
                assertEquals(0, b.epoch());
                assertEquals(k < 10 ? 10 : 3, b.size());
                assertEquals(b.size() * 3 * 6 * 6, b.images().length);
                for (int j = 0; j < b.size(); j++) {
                    seen[b.indices()[j]]++;
                    assertEquals(dataset.label(b.indices()[j]), b.labels()[j]);
                }
            }
            assertTrue(Arrays.stream(seen).allMatch(n -> n == 1), Arrays.toString(seen));
        }
    }

    @Test
    void dropLastAndNoShuffle() {
        try (BatchLoader loader = BatchLoader.builder(dataset).batchSize(10).shuffle(false).dropLast(true).build()) {
            assertEquals(10, loader.batchesPerEpoch());
            List<Batch> batches = drain(loader.iterator(5));
            assertEquals(10, batches.size());
            assertArrayEquals(new int[] {30, 31, 32, 33, 34, 35, 36, 37, 38, 39}, batches.get(3).indices());
            // Without normalisation or augmentation the images are the dataset's [0,1] values.
            float[] expected = new float[dataset.imageSize()];
            dataset.copyImage(31, expected, 0);
            assertArrayEquals(expected, Arrays.copyOfRange(batches.get(3).images(), dataset.imageSize(),
                    2 * dataset.imageSize()));
        }
    }

    @Test
    void epochsShuffleDifferentlyButReproducibly() {
        try (BatchLoader loader = trainingLoader().build();
             BatchLoader sameSeed = trainingLoader().build();
             BatchLoader otherSeed = trainingLoader().seed(4321).build()) {
            assertFalse(Arrays.equals(loader.epochOrder(0), loader.epochOrder(1)));
            assertArrayEquals(loader.epochOrder(1), sameSeed.epochOrder(1));
            assertFalse(Arrays.equals(loader.epochOrder(1), otherSeed.epochOrder(1)));
            assertBitwiseEqual(loader.batch(2, 4), sameSeed.batch(2, 4));
        }
    }

    @Test
    void resumingMidEpochGivesBitwiseIdenticalBatches() {
        try (BatchLoader loader = trainingLoader().build()) {
            List<Batch> uninterrupted = drain(loader.iterator(3));
            for (int start : new int[] {0, 1, 6, 10, 11}) {
                // A fresh loader, as after a restart, started at batch `start`.
                try (BatchLoader resumed = trainingLoader().build()) {
                    List<Batch> rest = drain(resumed.iterator(3, start));
                    assertEquals(uninterrupted.size() - start, rest.size());
                    for (int k = 0; k < rest.size(); k++) {
                        assertBitwiseEqual(uninterrupted.get(start + k), rest.get(k));
                    }
                }
            }
            assertBitwiseEqual(uninterrupted.get(7), loader.batch(3, 7));
            assertThrows(IllegalArgumentException.class, () -> loader.iterator(3, 12));
        }
    }

    @Test
    void augmentationIsApplied() {
        try (BatchLoader plain = BatchLoader.builder(dataset).batchSize(10).seed(1).build();
             BatchLoader flipped = BatchLoader.builder(dataset).batchSize(10).seed(1)
                     .augmentation(new Augmentation(0, true)).build()) {
            Batch a = plain.batch(0, 0);
            Batch b = flipped.batch(0, 0);
            assertArrayEquals(a.indices(), b.indices(), "augmentation does not change the order");
            int imageSize = dataset.imageSize();
            int mirrored = 0;
            for (int j = 0; j < a.size(); j++) {
                float[] x = Arrays.copyOfRange(a.images(), j * imageSize, (j + 1) * imageSize);
                float[] y = Arrays.copyOfRange(b.images(), j * imageSize, (j + 1) * imageSize);
                if (!Arrays.equals(x, y)) {
                    new Augmentation.Transform(0, 0, true).apply(x, 0, 3, 6, 6, new float[36]);
                    assertArrayEquals(x, y, "a changed sample is exactly the mirror");
                    mirrored++;
                }
            }
            assertTrue(mirrored > 0 && mirrored < a.size(), "some but not all flipped: " + mirrored);
        }
    }

    @Test
    void closingTheLoaderStopsItsIterators() {
        BatchLoader loader = trainingLoader().batchSize(1).prefetch(2).build();
        PrefetchIterator<Batch> iterator = loader.iterator(0);
        assertEquals(0, iterator.next().index());
        loader.close();
        assertFalse(iterator.producerAlive());
        assertFalse(iterator.hasNext());
        assertThrows(IllegalStateException.class, () -> loader.iterator(1));
    }
}
