package dev.tornadovit.backend.cpu;

import dev.tornadovit.backend.cpu.ReusableLoops.Kernel;

import static dev.tornadovit.backend.cpu.OperationLoops.REDUCTION_CHUNKS;

/**
 * {@link CpuBackend}'s operations at the ends of a training step: the cross-entropy loss and its gradient, the sum of
 * squares behind the gradient norm (in fixed chunks, summed in chunk order), and the AdamW update.
 */
final class LossAndOptimizer {

    private LossAndOptimizer() {}

    /** Mean loss over the batch into out[0]; dLogits = (softmax − target) / batch, targets label-smoothed. */
    static void crossEntropy(float[] z, float[] y, float[] out, float[] gz, int batch, int classes,
                             double labelSmoothing) {
        double total = 0;
        for (int b = 0; b < batch; b++) {
            int label = (int) y[b];
            if (label < 0 || label >= classes) {
                throw new IllegalArgumentException("label " + label + " of sample " + b + " is outside [0," + classes + ")");
            }
            int o = b * classes;
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < classes; c++) max = Math.max(max, z[o + c]);
            double sum = 0;
            for (int c = 0; c < classes; c++) sum += Math.exp(z[o + c] - max);
            double logSum = max + Math.log(sum);
            for (int c = 0; c < classes; c++) {
                double target = labelSmoothing / classes + (c == label ? 1 - labelSmoothing : 0);
                double logP = z[o + c] - logSum;
                total -= target * logP;
                gz[o + c] = (float) ((Math.exp(logP) - target) / batch);
            }
        }
        out[0] = (float) (total / batch);
    }

    /** partial[c] = Σ x² over the c-th of {@code chunks} fixed chunks of [0, n). */
    private static final Kernel SUM_OF_SQUARES = (in, chunkStart, chunkEnd) -> {
        float[] x = in.f0;
        double[] partial = in.d0;
        int n = in.i0, chunks = in.i1;
        for (int c = chunkStart; c < chunkEnd; c++) {
            int start = (int) ((long) n * c / chunks), end = (int) ((long) n * (c + 1) / chunks);
            double s = 0;
            for (int i = start; i < end; i++) s += (double) x[i] * x[i];
            partial[c] = s;
        }
    };

    /** acc[index] += Σ x[0..n)². */
    static void sumOfSquares(float[] x, int n, float[] acc, int index) {
        int chunks = Math.min(REDUCTION_CHUNKS, Math.max(1, n / 4096));
        OperationLoops loops = OperationLoops.get();
        double[] partial = loops.scratch(chunks);
        loops.loop.arrays(x).sums(partial).ints(n, chunks).run(SUM_OF_SQUARES, chunks, 1);
        double total = 0;
        for (int c = 0; c < chunks; c++) total += partial[c];
        acc[index] += (float) total;
    }

    private static final Kernel ADAMW = (in, start, end) -> {
        float[] p = in.f0, g = in.f1, mm = in.f2, vv = in.f3;
        float gradScale = in.s0, decay = in.s1, b1 = in.s2, b2 = in.s3, e = in.s4, step = in.s5, invSqrtBc2 = in.s6;
        int offset = in.i0;
        for (int i = start; i < end; i++) {
            float gi = g[i] * gradScale;
            float mi = b1 * mm[offset + i] + (1 - b1) * gi;
            float vi = b2 * vv[offset + i] + (1 - b2) * gi * gi;
            mm[offset + i] = mi;
            vv[offset + i] = vi;
            p[i] = p[i] * decay - step * mi / ((float) Math.sqrt(vi) * invSqrtBc2 + e);
        }
    };

    /**
     * One AdamW step of n parameters, their moments at {@code momentOffset} in mm and vv; {@code hp} holds the
     * learning rate, the two bias corrections and the gradient scale, written by the optimizer each step.
     */
    static void adamW(float[] p, float[] g, float[] mm, float[] vv, int momentOffset, int n, float[] hp,
                      double weightDecay, double beta1, double beta2, double eps) {
        float lr = hp[0], bc1 = hp[1], bc2 = hp[2], gradScale = hp[3];
        float decay = (float) (1 - lr * weightDecay), b1 = (float) beta1, b2 = (float) beta2, e = (float) eps;
        float step = lr / bc1, invSqrtBc2 = (float) (1 / Math.sqrt(bc2));
        OperationLoops.loop().arrays(p, g, mm, vv).ints(momentOffset)
                .scalars(gradScale, decay, b1, b2, e, step, invSqrtBc2).run(ADAMW, n, 8192);
    }
}
