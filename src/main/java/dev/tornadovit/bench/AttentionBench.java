package dev.tornadovit.bench;

import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The attention core alone — scores, weights φ, ·V — forward and backward, softmax against ReLU/L at several
 * sequence lengths: pointwise weights need no row max or sum, and the table shows what that buys.
 */
public final class AttentionBench {

    public record Row(int tokens, int batchHeads, int headDim, double softmaxMillis, double reluMillis) {
        public double speedup() {
            return softmaxMillis / reluMillis;
        }
    }

    public static List<Row> run(Backend be, int[] tokenCounts, int headDim, double secondsPerCase) {
        List<Row> rows = new ArrayList<>();
        for (int t : tokenCounts) {
            // Keep the work per case comparable: about 2^23 attention entries.
            int bh = Math.max(1, (1 << 23) / (t * t));
            double soft = time(be, bh, t, headDim, AttentionWeighting.softmaxWeights(), secondsPerCase);
            double relu = time(be, bh, t, headDim, AttentionWeighting.pointwise(PointwiseActivation.RELU, 1), secondsPerCase);
            rows.add(new Row(t, bh, headDim, soft, relu));
        }
        return rows;
    }

    private static double time(Backend be, int bh, int t, int hd, AttentionWeighting w, double seconds) {
        Random r = new Random(2);
        Tensor q = random(be, bh * t * hd, r), k = random(be, bh * t * hd, r), v = random(be, bh * t * hd, r);
        Tensor s = be.allocate(bh * t * t), a = be.allocate(bh * t * t), o = be.allocate(bh * t * hd);
        Tensor dO = random(be, bh * t * hd, r), dA = be.allocate(bh * t * t), dS = be.allocate(bh * t * t);
        Tensor dq = be.allocate(bh * t * hd), dk = be.allocate(bh * t * hd), dv = be.allocate(bh * t * hd);
        double scale = 1 / Math.sqrt(hd);
        Runnable pass = () -> {
            be.attentionScores(q, k, s, bh, t, hd, scale);
            be.attentionWeights(s, a, bh * t, t, w);
            be.attentionApply(a, v, o, bh, t, hd);
            be.attentionApplyBackward(dO, a, v, dA, dv, bh, t, hd);
            be.attentionWeightsBackward(s, a, dA, dS, bh * t, t, w);
            be.attentionScoresBackward(dS, q, k, dq, dk, bh, t, hd, scale);
            be.downloadFloat(dq);
        };
        pass.run();
        int runs = 0;
        long start = System.nanoTime(), deadline = start + (long) (seconds * 1e9);
        do {
            pass.run();
            runs++;
        } while (System.nanoTime() < deadline);
        return (System.nanoTime() - start) / 1e6 / runs;
    }

    private static Tensor random(Backend be, int n, Random r) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        Tensor t = be.allocate(n);
        be.upload(t, x);
        return t;
    }
}
