package dev.tornadovit.backend.reference;

/**
 * {@link ReferenceBackend}'s operations on stacks of attention maps x [B,H,S] (S = T·T): Re-attention's head mix and
 * its BatchNorm and LayerNorm over the heads, forward and backward, as plain float64 loops.
 */
final class ReferenceHeadMaps {
    private ReferenceHeadMaps() {
    }

    static void headMix(double[] a, double[] th, double[] bs, double[] y, int batch, int heads, int mapSize) {
        for (int b = 0; b < batch; b++)
            for (int g = 0; g < heads; g++)
                for (int s = 0; s < mapSize; s++) {
                    double acc = bs[g];
                    for (int h = 0; h < heads; h++) acc += th[g * heads + h] * a[(b * heads + h) * mapSize + s];
                    y[(b * heads + g) * mapSize + s] = acc;
                }
    }

    static void headMixBackward(double[] gy, double[] a, double[] th, double[] ga, double[] gt, double[] gb,
                                int batch, int heads, int mapSize) {
        for (int b = 0; b < batch; b++)
            for (int g = 0; g < heads; g++)
                for (int s = 0; s < mapSize; s++) {
                    double gys = gy[(b * heads + g) * mapSize + s];
                    gb[g] += gys;
                    for (int h = 0; h < heads; h++) {
                        ga[(b * heads + h) * mapSize + s] += th[g * heads + h] * gys;
                        gt[g * heads + h] += gys * a[(b * heads + h) * mapSize + s];
                    }
                }
    }

    static void headBatchNorm(double[] in, double[] g, double[] bt, double[] out, double[] mu, double[] rs,
                              double[] rm, double[] rv, int batch, int heads, int mapSize, double eps,
                              double momentum, boolean training) {
        long count = (long) batch * mapSize;
        for (int h = 0; h < heads; h++) {
            double m, r;
            if (training) {
                double s = 0;
                for (int b = 0; b < batch; b++)
                    for (int i = 0; i < mapSize; i++) s += in[(b * heads + h) * mapSize + i];
                m = s / count;
                double v = 0;
                for (int b = 0; b < batch; b++)
                    for (int i = 0; i < mapSize; i++) {
                        double c = in[(b * heads + h) * mapSize + i] - m;
                        v += c * c;
                    }
                double biased = v / count;
                r = 1 / Math.sqrt(biased + eps);
                mu[h] = m;
                rs[h] = r;
                double unbiased = count > 1 ? v / (count - 1) : biased;
                rm[h] = (1 - momentum) * rm[h] + momentum * m;
                rv[h] = (1 - momentum) * rv[h] + momentum * unbiased;
            } else {
                m = rm[h];
                r = 1 / Math.sqrt(rv[h] + eps);
            }
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < mapSize; i++) {
                    int idx = (b * heads + h) * mapSize + i;
                    out[idx] = (in[idx] - m) * r * g[h] + bt[h];
                }
        }
    }

    static void headBatchNormBackward(double[] gy, double[] in, double[] g, double[] mu, double[] rs, double[] gx,
                                      double[] gg, double[] gb, int batch, int heads, int mapSize) {
        long count = (long) batch * mapSize;
        for (int h = 0; h < heads; h++) {
            double sumG = 0, sumGx = 0;
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < mapSize; i++) {
                    int idx = (b * heads + h) * mapSize + i;
                    double xh = (in[idx] - mu[h]) * rs[h];
                    sumG += gy[idx];
                    sumGx += gy[idx] * xh;
                }
            gg[h] += sumGx;
            gb[h] += sumG;
            double meanG = sumG / count, meanGx = sumGx / count;
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < mapSize; i++) {
                    int idx = (b * heads + h) * mapSize + i;
                    double xh = (in[idx] - mu[h]) * rs[h];
                    gx[idx] += g[h] * rs[h] * (gy[idx] - meanG - xh * meanGx);
                }
        }
    }

    static void headLayerNorm(double[] in, double[] g, double[] bt, double[] out, double[] mu, double[] rs, int batch,
                              int heads, int mapSize, double eps) {
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < mapSize; i++) {
                double s = 0;
                for (int h = 0; h < heads; h++) s += in[(b * heads + h) * mapSize + i];
                double m = s / heads, v = 0;
                for (int h = 0; h < heads; h++) {
                    double c = in[(b * heads + h) * mapSize + i] - m;
                    v += c * c;
                }
                double r = 1 / Math.sqrt(v / heads + eps);
                mu[b * mapSize + i] = m;
                rs[b * mapSize + i] = r;
                for (int h = 0; h < heads; h++) {
                    int idx = (b * heads + h) * mapSize + i;
                    out[idx] = (in[idx] - m) * r * g[h] + bt[h];
                }
            }
    }

    static void headLayerNormBackward(double[] gy, double[] in, double[] g, double[] mu, double[] rs, double[] gx,
                                      double[] gg, double[] gb, int batch, int heads, int mapSize) {
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < mapSize; i++) {
                double m = mu[b * mapSize + i], r = rs[b * mapSize + i];
                double meanG = 0, meanGx = 0;
                for (int h = 0; h < heads; h++) {
                    int idx = (b * heads + h) * mapSize + i;
                    double xh = (in[idx] - m) * r;
                    double gh = gy[idx] * g[h];
                    meanG += gh;
                    meanGx += gh * xh;
                    gg[h] += gy[idx] * xh;
                    gb[h] += gy[idx];
                }
                meanG /= heads;
                meanGx /= heads;
                for (int h = 0; h < heads; h++) {
                    int idx = (b * heads + h) * mapSize + i;
                    double xh = (in[idx] - m) * r;
                    gx[idx] += r * (gy[idx] * g[h] - meanG - xh * meanGx);
                }
            }
    }
}
