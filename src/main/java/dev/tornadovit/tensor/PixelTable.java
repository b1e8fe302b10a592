package dev.tornadovit.tensor;

import java.util.Objects;

/**
 * What each 8-bit pixel value of each channel becomes as a model input: for every channel the 256 floats that the
 * host's conversion (scaling to [0,1], then normalising) gives, computed once on the host. A backend that converts
 * pixels through this table ({@link Backend#uploadPixels}) gives exactly the host's floats on any device. A device that
 * divided by 255 and by the standard deviation itself could round differently: TornadoVM builds OpenCL kernels with
 * {@code -cl-fast-relaxed-math} and divides floats with PTX's {@code div.full}, neither of them correctly rounded.
 */
public final class PixelTable {
    /** Values of an 8-bit pixel, hence entries per channel. */
    public static final int LEVELS = 256;

    private final float[] values;
    private final int channels;

    /** @param values the entries channel after channel: value v of channel c at {@code c·256 + v} */
    public PixelTable(float[] values) {
        Objects.requireNonNull(values, "values");
        if (values.length == 0 || values.length % LEVELS != 0) {
            throw new IllegalArgumentException("a pixel table holds 256 values per channel, got " + values.length);
        }
        this.values = values.clone();
        this.channels = values.length / LEVELS;
    }

    public int channels() {
        return channels;
    }

    /** The float that pixel value {@code pixel} (0..255) of channel {@code channel} becomes. */
    public float value(int channel, int pixel) {
        return values[Objects.checkIndex(channel, channels) * LEVELS + Objects.checkIndex(pixel, LEVELS)];
    }

    /** Every entry, channel after channel (a copy). */
    public float[] values() {
        return values.clone();
    }

    /**
     * Values in a batch of {@code batch} CHW images of {@code planeSize} pixels a channel, checking that the pixels and
     * the tensor {@code images} hold that many.
     */
    public int count(Tensor images, byte[] pixels, int batch, int planeSize) {
        if (batch < 0 || planeSize < 1) {
            throw new IllegalArgumentException("need a batch >= 0 and a plane size >= 1, got " + batch + " and " + planeSize);
        }
        long count = (long) batch * channels * planeSize;
        if (count > pixels.length || count > images.size()) {
            throw new IllegalArgumentException(batch + " images of " + channels + "×" + planeSize + " pixels are "
                    + count + " values, but the pixels hold " + pixels.length + " and the tensor " + images.size());
        }
        return (int) count;
    }

    /**
     * out[i] = the table's value for pixels[i] in its channel, for i in [start, end): element i of a batch of CHW images
     * of {@code planeSize} pixels a channel is in channel {@code (i / planeSize) mod channels}.
     */
    public void convert(byte[] pixels, float[] out, int start, int end, int planeSize) {
        int i = start;
        while (i < end) {
            int plane = i / planeSize;
            int base = (plane % channels) * LEVELS;
            for (int planeEnd = (int) Math.min(end, (long) (plane + 1) * planeSize); i < planeEnd; i++) {
                out[i] = values[base + (pixels[i] & 0xFF)];
            }
        }
    }
}
