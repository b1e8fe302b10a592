package dev.tornadovit.data;

import dev.tornadovit.tensor.PixelTable;
import java.util.Arrays;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Per-channel standardisation {@code (x - mean[c]) / std[c]} of [0,1]-scaled pixel values, applied per batch so that
 * the dataset itself stays compact bytes: to float batches in {@link #apply}, or, for batches of pixels, by the backend
 * through the {@link #pixelTable} of every pixel value.
 */
public final class Normalization {

    private static final Logger log = LoggerFactory.getLogger(Normalization.class);

    private final float[] mean;
    private final float[] std;

    private Normalization(float[] mean, float[] std) {
        this.mean = mean;
        this.std = std;
    }

    /** Given statistics, one value per channel, in [0,1] pixel units. */
    public static Normalization of(float[] mean, float[] std) {
        if (mean.length == 0 || mean.length != std.length) {
            throw new IllegalArgumentException("need one mean and one std per channel, got " + mean.length
                    + " means and " + std.length + " stds");
        }
        for (int c = 0; c < std.length; c++) {
            if (!(std[c] > 0) || !Float.isFinite(std[c]) || !Float.isFinite(mean[c])) {
                throw new IllegalArgumentException("channel " + c + ": need a finite mean and a positive finite std, "
                        + "got mean " + mean[c] + ", std " + std[c]);
            }
        }
        return new Normalization(mean.clone(), std.clone());
    }

    /**
     * Mean and (population) standard deviation of each channel over the whole dataset. Computed exactly from a
     * histogram of byte values, which is also faster than summing floats.
     */
    public static Normalization compute(ImageDataset dataset) {
        int channels = dataset.channels();
        int planeSize = dataset.height() * dataset.width();
        long[][] histogram = new long[channels][256];
        byte[] image = new byte[dataset.imageSize()];
        for (int i = 0; i < dataset.size(); i++) {
            dataset.copyImageBytes(i, image, 0);
            for (int c = 0; c < channels; c++) {
                long[] h = histogram[c];
                for (int p = c * planeSize, end = p + planeSize; p < end; p++) {
                    h[image[p] & 0xFF]++;
                }
            }
        }
        float[] mean = new float[channels];
        float[] std = new float[channels];
        for (int c = 0; c < channels; c++) {
            double count = 0;
            double sum = 0;
            double sumSquares = 0;
            for (int v = 0; v < 256; v++) {
                double x = v / 255.0;
                count += histogram[c][v];
                sum += histogram[c][v] * x;
                sumSquares += histogram[c][v] * x * x;
            }
            double m = count == 0 ? 0 : sum / count;
            double variance = count == 0 ? 0 : Math.max(0, sumSquares / count - m * m);
            mean[c] = (float) m;
            std[c] = (float) Math.sqrt(variance);
            if (!(std[c] > 0)) {
                // A constant channel carries no information; dividing by zero would turn it into NaNs.
                log.warn("Channel {} is constant ({}) in {}; normalising it with std 1", c, mean[c], dataset);
                std[c] = 1f;
            }
        }
        return new Normalization(mean, std);
    }

    public int channels() {
        return mean.length;
    }

    public float mean(int channel) {
        return mean[channel];
    }

    public float std(int channel) {
        return std[channel];
    }

    public float[] means() {
        return mean.clone();
    }

    public float[] stds() {
        return std.clone();
    }

    /** Fails with a clear message if this normalisation was made for images with a different channel count. */
    public void checkChannels(int imageChannels, String what) {
        if (imageChannels != channels()) {
            throw new DataFormatException(String.format(
                    "%s: images have %d channel(s), but the normalisation has statistics for %d (mean %s)",
                    what, imageChannels, channels(), Arrays.toString(mean)));
        }
    }

    /** Normalises one CHW image in place. */
    public void apply(float[] image, int offset, int planeSize) {
        for (int c = 0; c < mean.length; c++) {
            float m = mean[c];
            float s = std[c];
            for (int p = offset + c * planeSize, end = p + planeSize; p < end; p++) {
                image[p] = normalise(image[p], m, s);
            }
        }
    }

    /** The one expression both {@link #apply} and {@link #pixelTable} use, so that they agree bit for bit. */
    private static float normalise(float x, float mean, float std) {
        return (x - mean) / std;
    }

    /**
     * What each 8-bit pixel value of each of {@code channels} channels becomes: scaled to [0,1] as
     * {@link ImageDataset#copyImage} scales it, then, unless {@code normalization} is null, normalised as
     * {@link #apply} normalises it. Converting bytes through it gives bit for bit what those two give.
     */
    public static PixelTable pixelTable(Normalization normalization, int channels) {
        if (normalization != null) normalization.checkChannels(channels, "pixel table");
        float[] values = new float[channels * PixelTable.LEVELS];
        for (int c = 0; c < channels; c++) {
            for (int v = 0; v < PixelTable.LEVELS; v++) {
                float x = ImageDataset.unitScale(v);
                values[c * PixelTable.LEVELS + v] = normalization == null ? x
                        : normalise(x, normalization.mean[c], normalization.std[c]);
            }
        }
        return new PixelTable(values);
    }

    @Override
    public String toString() {
        return "Normalization[mean=" + Arrays.toString(mean) + ", std=" + Arrays.toString(std) + "]";
    }
}
