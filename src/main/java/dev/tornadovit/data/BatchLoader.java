package dev.tornadovit.data;

import dev.tornadovit.tensor.PixelTable;
import java.util.Arrays;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Turns a dataset into mini-batches for training or evaluation. Everything random is a pure function of the seed:
 * the sample order of epoch e depends only on (seed, e), and a sample's augmentation only on (seed, e, its
 * position in that order). Hence {@link #batch(int, int)} is deterministic and {@link #iterator(int, int)} lets a
 * resumed run see exactly the batches an uninterrupted one would. Iterators prepare batches on a background
 * thread; closing the loader stops any still running.
 */
public final class BatchLoader implements AutoCloseable {

    private static final long SHUFFLE_STREAM = 0x5AFF1EL;

    private final ImageDataset dataset;
    private final int batchSize;
    private final long seed;
    private final boolean shuffle;
    private final boolean dropLast;
    private final Normalization normalization;
    private final Augmentation augmentation;
    private final int prefetch;
    private final int shard, shards;
    /** The table byte batches carry; null when batches hold floats. */
    private final PixelTable pixelTable;
    private final Set<PrefetchIterator<Batch>> openIterators = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    private BatchLoader(Builder b) {
        this.dataset = b.dataset;
        this.batchSize = b.batchSize;
        this.seed = b.seed;
        this.shuffle = b.shuffle;
        this.dropLast = b.dropLast;
        this.normalization = b.normalization;
        this.augmentation = b.augmentation;
        this.prefetch = b.prefetch;
        this.shard = b.shard;
        this.shards = b.shards;
        if (normalization != null) {
            normalization.checkChannels(dataset.channels(), dataset.toString());
        }
        this.pixelTable = b.bytePixels ? Normalization.pixelTable(normalization, dataset.channels()) : null;
    }

    public static Builder builder(ImageDataset dataset) {
        return new Builder(dataset);
    }

    /** Options; defaults: batch size 64, seed 0, shuffle on, keep the last partial batch, no normalisation or
     * augmentation, prefetch 2, float images. */
    public static final class Builder {
        private final ImageDataset dataset;
        private int batchSize = 64;
        private long seed;
        private boolean shuffle = true;
        private boolean dropLast;
        private Normalization normalization;
        private Augmentation augmentation = Augmentation.NONE;
        private int prefetch = 2;
        private int shard, shards = 1;
        private boolean bytePixels;

        private Builder(ImageDataset dataset) {
            this.dataset = Objects.requireNonNull(dataset, "dataset");
        }

        public Builder batchSize(int batchSize) {
            if (batchSize < 1) {
                throw new IllegalArgumentException("batch size must be >= 1, was " + batchSize);
            }
            this.batchSize = batchSize;
            return this;
        }

        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        public Builder shuffle(boolean shuffle) {
            this.shuffle = shuffle;
            return this;
        }

        /** Drop the last batch of an epoch if it is smaller than the batch size. */
        public Builder dropLast(boolean dropLast) {
            this.dropLast = dropLast;
            return this;
        }

        /** {@code null} for none. */
        public Builder normalization(Normalization normalization) {
            this.normalization = normalization;
            return this;
        }

        public Builder augmentation(Augmentation augmentation) {
            this.augmentation = Objects.requireNonNull(augmentation, "augmentation (use Augmentation.NONE)");
            return this;
        }

        /** Batches prepared ahead of the consumer. */
        public Builder prefetch(int prefetch) {
            if (prefetch < 1) {
                throw new IllegalArgumentException("prefetch must be >= 1, was " + prefetch);
            }
            this.prefetch = prefetch;
            return this;
        }

        /**
         * Yields only part {@code index} of {@code count} of every batch (data-parallel training: one part per
         * process): the same epochs, batch indices and sample order, and the same augmentation of each sample, as
         * without sharding. Part i of a batch of n samples is its samples [n·i/count, n·(i+1)/count).
         */
        public Builder shard(int index, int count) {
            if (count < 1 || index < 0 || index >= count) {
                throw new IllegalArgumentException("shard " + index + " of " + count + " does not exist");
            }
            this.shard = index;
            this.shards = count;
            return this;
        }

        /**
         * Batches keep the dataset's 8-bit pixels (augmented) and carry the table that scales and normalises them
         * ({@link Batch#pixelTable}), instead of floats: the backend converts them where the model runs, so a GPU
         * receives a quarter of the bytes. Converted, they are bit for bit the float batches.
         */
        public Builder bytePixels(boolean bytePixels) {
            this.bytePixels = bytePixels;
            return this;
        }

        public BatchLoader build() {
            return new BatchLoader(this);
        }
    }

    public ImageDataset dataset() {
        return dataset;
    }

    public int batchSize() {
        return batchSize;
    }

    public int batchesPerEpoch() {
        int n = dataset.size();
        return dropLast ? n / batchSize : (n + batchSize - 1) / batchSize;
    }

    /** Dataset indices in the order epoch {@code epoch} visits them. */
    public int[] epochOrder(int epoch) {
        int[] order = new int[dataset.size()];
        Arrays.setAll(order, i -> i);
        if (shuffle) {
            SeededRandom.forKey(seed, SHUFFLE_STREAM, epoch).shuffle(order);
        }
        return order;
    }

    /** Builds batch {@code index} of {@code epoch} (this loader's shard of it) on the calling thread. */
    public Batch batch(int epoch, int index) {
        return batch(epoch, index, epochOrder(epoch));
    }

    private Batch batch(int epoch, int index, int[] order) {
        Objects.checkIndex(index, batchesPerEpoch());
        int globalSize = Math.min(batchSize, order.length - index * batchSize);
        int start = index * batchSize + (int) ((long) globalSize * shard / shards);
        int size = index * batchSize + (int) ((long) globalSize * (shard + 1) / shards) - start;
        int c = dataset.channels();
        int h = dataset.height();
        int w = dataset.width();
        int imageSize = dataset.imageSize();
        int[] labels = new int[size];
        int[] indices = Arrays.copyOfRange(order, start, start + size);
        if (pixelTable != null) {
            byte[] pixels = new byte[size * imageSize];
            byte[] scratch = augmentation.isIdentity() ? null : new byte[h * w];
            for (int j = 0; j < size; j++) {
                int i = indices[j];
                dataset.copyImageBytes(i, pixels, j * imageSize);
                if (scratch != null) {
                    augmentation.sample(seed, epoch, start + j).apply(pixels, j * imageSize, c, h, w, scratch);
                }
                labels[j] = dataset.label(i);
            }
            return new Batch(epoch, index, size, c, h, w, null, labels, indices, pixels, pixelTable);
        }
        float[] images = new float[size * imageSize];
        float[] scratch = augmentation.isIdentity() ? null : new float[h * w];
        for (int j = 0; j < size; j++) {
            int i = indices[j];
            int offset = j * imageSize;
            dataset.copyImage(i, images, offset);
            if (scratch != null) {
                augmentation.sample(seed, epoch, start + j).apply(images, offset, c, h, w, scratch);
            }
            if (normalization != null) {
                normalization.apply(images, offset, h * w);
            }
            labels[j] = dataset.label(i);
        }
        return new Batch(epoch, index, size, c, h, w, images, labels, indices);
    }

    /** All batches of an epoch, prepared in the background. */
    public PrefetchIterator<Batch> iterator(int epoch) {
        return iterator(epoch, 0);
    }

    /**
     * Batches {@code startBatch..} of {@code epoch}, prepared in the background; identical to what an iterator
     * from batch 0 yields after skipping {@code startBatch} batches. Close it if abandoned before the end.
     */
    public PrefetchIterator<Batch> iterator(int epoch, int startBatch) {
        if (closed) {
            throw new IllegalStateException("batch loader is closed");
        }
        int batches = batchesPerEpoch();
        if (startBatch < 0 || startBatch > batches) {
            throw new IllegalArgumentException("start batch " + startBatch + " is outside 0.." + batches
                    + " (batches per epoch)");
        }
        int[] order = epochOrder(epoch);
        PrefetchIterator<Batch> iterator = new PrefetchIterator<>("tornadovit-batches-epoch-" + epoch, startBatch,
                batches, prefetch, k -> batch(epoch, k, order));
        openIterators.add(iterator);
        openIterators.removeIf(it -> !it.producerAlive()); // forget finished ones so the set stays small
        return iterator;
    }

    /** Stops the background threads of all iterators. */
    @Override
    public void close() {
        closed = true;
        for (PrefetchIterator<Batch> iterator : openIterators) {
            iterator.close();
        }
        openIterators.clear();
    }
}
