package dev.tornadovit.data;

/**
 * SplitMix64 generator. We use our own instead of java.util.SplittableRandom so that shuffles and augmentations
 * are bit-for-bit stable across JDK versions: resuming a run must reproduce the exact batches it was trained on.
 */
final class SeededRandom {

    private static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;

    private long state;

    SeededRandom(long seed) {
        this.state = seed;
    }

    /**
     * A generator whose stream is a pure function of the given key parts (e.g. seed, purpose, epoch, position).
     * Each part is folded in through the mixer so that nearby keys give unrelated streams.
     */
    static SeededRandom forKey(long... keyParts) {
        long h = 0x6A09E667F3BCC909L;
        for (long part : keyParts) {
            h = mix(h ^ mix(part + GOLDEN_GAMMA));
        }
        return new SeededRandom(h);
    }

    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    long nextLong() {
        state += GOLDEN_GAMMA;
        return mix(state);
    }

    /** Uniform in [0, bound), unbiased (rejects the top partial range). */
    int nextInt(int bound) {
        if (bound <= 0) {
            throw new IllegalArgumentException("bound must be positive, was " + bound);
        }
        long limit = (1L << 31) - ((1L << 31) % bound);
        while (true) {
            long r = nextLong() >>> 33; // 31 random bits
            if (r < limit) {
                return (int) (r % bound);
            }
        }
    }

    boolean nextBoolean() {
        return nextLong() < 0;
    }

    /** Fisher–Yates shuffle in place. */
    void shuffle(int[] values) {
        for (int i = values.length - 1; i > 0; i--) {
            int j = nextInt(i + 1);
            int t = values[i];
            values[i] = values[j];
            values[j] = t;
        }
    }
}
