package dev.tornadovit.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A sharded loader's parts of each batch, put back together, are the unsharded batch, augmentation included. */
@Timeout(20)
class ShardedBatchLoaderTest {

    private final ImageDataset dataset = TestFiles.randomDataset(103, 3, 6, 6, 5, 7);

    private BatchLoader loader(int shard, int shards) {
        return BatchLoader.builder(dataset).batchSize(12).seed(42).shuffle(true).dropLast(false)
                .normalization(Normalization.compute(dataset)).augmentation(new Augmentation(2, true))
                .shard(shard, shards).build();
    }

    @Test
    void shardsConcatenateToTheWholeBatch() {
        for (int shards : new int[]{1, 2, 3, 5}) {
            BatchLoader[] parts = new BatchLoader[shards];
            for (int s = 0; s < shards; s++) parts[s] = loader(s, shards);
            try (BatchLoader whole = loader(0, 1)) {
                assertEquals(whole.batchesPerEpoch(), parts[shards - 1].batchesPerEpoch());
                for (int epoch = 0; epoch < 2; epoch++) {
                    for (int k = 0; k < whole.batchesPerEpoch(); k++) {
                        Batch full = whole.batch(epoch, k);
                        int offset = 0;
                        for (int s = 0; s < shards; s++) {
                            Batch part = parts[s].batch(epoch, k);
                            assertEquals(k, part.index());
                            int imageSize = dataset.imageSize();
                            assertArrayEquals(Arrays.copyOfRange(full.indices(), offset, offset + part.size()), part.indices());
                            assertArrayEquals(Arrays.copyOfRange(full.labels(), offset, offset + part.size()), part.labels());
                            assertTrue(Arrays.equals(Arrays.copyOfRange(full.images(), offset * imageSize,
                                    (offset + part.size()) * imageSize), part.images()),
                                    "images of shard " + s + "/" + shards + " differ in batch " + k);
                            offset += part.size();
                        }
                        assertEquals(full.size(), offset, "the shards cover batch " + k + " exactly");
                    }
                }
            } finally {
                for (BatchLoader part : parts) part.close();
            }
        }
    }

    @Test
    void evenBatchesSplitIntoEqualShards() {
        try (BatchLoader a = loader(0, 4); BatchLoader b = loader(3, 4)) {
            assertEquals(3, a.batch(0, 0).size());
            assertEquals(3, b.batch(0, 0).size());
            // The last batch of 103 holds 7 images: parts of 1, 2, 2, 2.
            assertEquals(1, a.batch(0, 8).size());
            assertEquals(2, b.batch(0, 8).size());
        }
    }

    @Test
    void aShardOutsideTheCountIsRefused() {
        var builder = BatchLoader.builder(dataset);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> builder.shard(2, 2)).getMessage().contains("shard 2 of 2"));
        assertThrows(IllegalArgumentException.class, () -> builder.shard(0, 0));
        assertThrows(IllegalArgumentException.class, () -> builder.shard(-1, 3));
    }
}
