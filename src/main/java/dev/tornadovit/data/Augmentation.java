package dev.tornadovit.data;

/**
 * Training-time image augmentation: random crop with zero padding (pad by {@code cropPadding} on every side, then
 * crop back to the original size, i.e. shift by up to ±padding) and random horizontal flip. Each option may be
 * off. The random choices for a sample are a pure function of (seed, epoch, position in epoch), so a resumed run
 * sees the same augmented images.
 */
public record Augmentation(int cropPadding, boolean horizontalFlip) {

    public static final Augmentation NONE = new Augmentation(0, false);

    public Augmentation {
        if (cropPadding < 0) {
            throw new IllegalArgumentException("crop padding must be >= 0, was " + cropPadding);
        }
    }

    public boolean isIdentity() {
        return cropPadding == 0 && !horizontalFlip;
    }

    /** The transform for one sample. */
    public Transform sample(long seed, int epoch, long position) {
        SeededRandom random = SeededRandom.forKey(seed, 0xA06L, epoch, position);
        // All three draws always happen so that enabling one option does not change the other's randomness.
        int shiftY = random.nextInt(2 * cropPadding + 1) - cropPadding;
        int shiftX = random.nextInt(2 * cropPadding + 1) - cropPadding;
        boolean flip = random.nextBoolean();
        return new Transform(shiftY, shiftX, horizontalFlip && flip);
    }

    /**
     * One concrete augmentation: output pixel (y, x) is input pixel (y + shiftY, x' + shiftX), where x' is x
     * mirrored if {@code flip}; pixels from outside the image are 0 (the padding).
     */
    public record Transform(int shiftY, int shiftX, boolean flip) {

        public boolean isIdentity() {
            return shiftY == 0 && shiftX == 0 && !flip;
        }

        /**
         * Transforms one CHW image in place.
         *
         * @param scratch at least {@code height × width} floats, reused between calls to avoid garbage
         */
        public void apply(float[] image, int offset, int channels, int height, int width, float[] scratch) {
            if (isIdentity()) {
                return;
            }
            int planeSize = height * width;
            for (int c = 0; c < channels; c++) {
                int plane = offset + c * planeSize;
                System.arraycopy(image, plane, scratch, 0, planeSize);
                for (int y = 0; y < height; y++) {
                    for (int x = 0; x < width; x++) {
                        int source = source(y, x, height, width);
                        image[plane + y * width + x] = source < 0 ? 0f : scratch[source];
                    }
                }
            }
        }

        /**
         * {@link #apply(float[], int, int, int, int, float[])} on 8-bit pixels: the padding is pixel value 0, which
         * scales to the float path's 0, so converting afterwards gives exactly what the float path gives.
         *
         * @param scratch at least {@code height × width} bytes, reused between calls to avoid garbage
         */
        public void apply(byte[] image, int offset, int channels, int height, int width, byte[] scratch) {
            if (isIdentity()) {
                return;
            }
            int planeSize = height * width;
            for (int c = 0; c < channels; c++) {
                int plane = offset + c * planeSize;
                System.arraycopy(image, plane, scratch, 0, planeSize);
                for (int y = 0; y < height; y++) {
                    for (int x = 0; x < width; x++) {
                        int source = source(y, x, height, width);
                        image[plane + y * width + x] = source < 0 ? 0 : scratch[source];
                    }
                }
            }
        }

        /** Where pixel (y, x) of a plane comes from: its index in the untransformed plane, or -1 outside it (padding). */
        private int source(int y, int x, int height, int width) {
            int sy = y + shiftY, sx = (flip ? width - 1 - x : x) + shiftX;
            return sy >= 0 && sy < height && sx >= 0 && sx < width ? sy * width + sx : -1;
        }
    }
}
