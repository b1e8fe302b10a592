package dev.tornadovit.checkpoint;

/**
 * Resizes a grid of learned position embeddings as timm's {@code resample_abs_pos_embed} does: the prefix tokens
 * (class token) are kept, the patch grid is resampled per channel by PyTorch's antialiased bicubic interpolation
 * ({@code F.interpolate(mode="bicubic", antialias=True)}: the Keys cubic with a = -0.5, its support widened by the
 * scale when shrinking, weights normalised to sum 1, first along the width, then along the height).
 */
public final class PositionEmbeddingResampler {
    private PositionEmbeddingResampler() {
    }

    /**
     * @param pos [prefix + oldH·oldW, dim], row-major grid
     * @return [prefix + newH·newW, dim]
     */
    public static double[] resample(double[] pos, int prefix, int oldH, int oldW, int newH, int newW, int dim) {
        if (pos.length != (prefix + oldH * oldW) * dim) {
            throw new IllegalArgumentException("position embeddings hold " + pos.length + " values, expected ("
                    + prefix + " + " + oldH + "x" + oldW + ") x " + dim);
        }
        double[] out = new double[(prefix + newH * newW) * dim];
        System.arraycopy(pos, 0, out, 0, prefix * dim);
        Weights wx = new Weights(oldW, newW), wy = new Weights(oldH, newH);
        double[] rows = new double[oldH * newW * dim];
        for (int y = 0; y < oldH; y++) {
            for (int x = 0; x < newW; x++) {
                for (int k = 0; k < wx.size[x]; k++) {
                    double w = wx.weight[x][k];
                    int src = (prefix + y * oldW + wx.first[x] + k) * dim, dst = (y * newW + x) * dim;
                    for (int c = 0; c < dim; c++) rows[dst + c] += w * pos[src + c];
                }
            }
        }
        for (int y = 0; y < newH; y++) {
            for (int k = 0; k < wy.size[y]; k++) {
                double w = wy.weight[y][k];
                int srcRow = wy.first[y] + k;
                for (int x = 0; x < newW; x++) {
                    int src = (srcRow * newW + x) * dim, dst = (prefix + y * newW + x) * dim;
                    for (int c = 0; c < dim; c++) out[dst + c] += w * rows[src + c];
                }
            }
        }
        return out;
    }

    /** One axis's taps: for each output index, the first input index, the count, and the normalised weights. */
    private static final class Weights {
        final int[] first, size;
        final double[][] weight;

        Weights(int in, int out) {
            first = new int[out];
            size = new int[out];
            weight = new double[out][];
            double scale = (double) in / out;
            double support = scale >= 1 ? 2 * scale : 2;
            double invScale = scale >= 1 ? 1 / scale : 1;
            for (int i = 0; i < out; i++) {
                double center = scale * (i + 0.5);
                // (long) truncates toward zero, as the C++ int64_t cast it mirrors
                int min = (int) Math.max((long) (center - support + 0.5), 0);
                int count = (int) Math.min((long) (center + support + 0.5), in) - min;
                double[] w = new double[Math.max(count, 0)];
                double total = 0;
                for (int j = 0; j < w.length; j++) total += w[j] = cubic((j + min - center + 0.5) * invScale);
                if (total != 0) for (int j = 0; j < w.length; j++) w[j] /= total;
                first[i] = min;
                size[i] = w.length;
                weight[i] = w;
            }
        }

        private static double cubic(double x) {
            double a = -0.5;
            x = Math.abs(x);
            if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
            if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
            return 0;
        }
    }
}
