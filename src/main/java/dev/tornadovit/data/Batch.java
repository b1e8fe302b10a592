package dev.tornadovit.data;

/**
 * One mini-batch, ready for the model.
 *
 * @param epoch    epoch this batch belongs to
 * @param index    position of the batch within its epoch (0-based)
 * @param size     number of samples (the last batch of an epoch may be smaller)
 * @param images   {@code size × channels × height × width} floats, each image in CHW order
 * @param labels   class index of each sample
 * @param indices  dataset index of each sample (for debugging and evaluation bookkeeping)
 */
public record Batch(int epoch, int index, int size, int channels, int height, int width,
                    float[] images, int[] labels, int[] indices) {
}
