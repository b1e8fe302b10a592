package dev.tornadovit.data;

import dev.tornadovit.tensor.PixelTable;

/**
 * One mini-batch, ready for the model: its images either as floats, scaled and normalised, or as the dataset's 8-bit
 * pixels with the table that turns them into those floats ({@link BatchLoader.Builder#bytePixels}), which the backend
 * applies where the model runs ({@code BatchInput}).
 *
 * @param epoch      epoch this batch belongs to
 * @param index      position of the batch within its epoch (0-based)
 * @param size       number of samples (the last batch of an epoch may be smaller)
 * @param images     {@code size × channels × height × width} floats, each image in CHW order; null when the batch
 *                   holds bytes
 * @param labels     class index of each sample
 * @param indices    dataset index of each sample (for debugging and evaluation bookkeeping)
 * @param pixels     {@code size × channels × height × width} 8-bit pixels (augmented), each image in CHW order; null
 *                   when the batch holds floats
 * @param pixelTable what each pixel value of each channel becomes (scaling, then normalisation); with pixels only
 */
public record Batch(int epoch, int index, int size, int channels, int height, int width,
                    float[] images, int[] labels, int[] indices, byte[] pixels, PixelTable pixelTable) {

    public Batch {
        if ((images == null) == (pixels == null)) {
            throw new IllegalArgumentException("a batch holds its images either as floats or as pixels");
        }
        if ((pixels == null) != (pixelTable == null)) {
            throw new IllegalArgumentException("a batch of pixels needs the table that converts them, and only it");
        }
    }

    /** A batch of float images. */
    public Batch(int epoch, int index, int size, int channels, int height, int width, float[] images, int[] labels,
                 int[] indices) {
        this(epoch, index, size, channels, height, width, images, labels, indices, null, null);
    }

    /** Whether the images are 8-bit pixels still to be converted through {@link #pixelTable}. */
    public boolean holdsPixels() {
        return pixels != null;
    }

    /** The images as floats: {@link #images}, or the pixels converted as a backend converts them (a new array). */
    public float[] floatImages() {
        if (images != null) return images;
        float[] out = new float[pixels.length];
        pixelTable.convert(pixels, out, 0, out.length, height * width);
        return out;
    }
}
