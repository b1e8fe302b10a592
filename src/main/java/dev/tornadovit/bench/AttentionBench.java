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
 * sequence lengths: pointwise weights need no row max or sum, and the table shows what that buys. Each weighting is
 * timed twice: through {@link Backend#attentionForward}/{@link Backend#attentionBackward} (what the model runs,
 * fused where the backend fuses) and as the six separate operations with [BH,T,T] tensors between them.
 */
public final class AttentionBench {

    public record Row(int tokens, int batchHeads, int headDim, double softmaxMillis, double reluMillis,
                      double softmaxSeparateMillis, double reluSeparateMillis) {
        public double speedup() {
            return softmaxMillis / reluMillis;
        }
    }

    private static final AttentionWeighting SOFTMAX = AttentionWeighting.softmaxWeights();
    private static final AttentionWeighting RELU_OVER_L = AttentionWeighting.pointwise(PointwiseActivation.RELU, 1);

    public static List<Row> run(Backend be, int[] tokenCounts, int headDim, double secondsPerCase) {
        List<Row> rows = new ArrayList<>();
        for (int t : tokenCounts) {
            // Keep the work per case comparable: about 2^23 attention entries.
            int bh = Math.max(1, (1 << 23) / (t * t));
            Case c = new Case(be, bh, t, headDim);
            rows.add(new Row(t, bh, headDim, c.time(SOFTMAX, true, secondsPerCase), c.time(RELU_OVER_L, true, secondsPerCase),
                    c.time(SOFTMAX, false, secondsPerCase), c.time(RELU_OVER_L, false, secondsPerCase)));
        }
        return rows;
    }

    /** The tensors of one shape, shared by the four timings. */
    private static final class Case {
        final Backend be;
        final int bh, t, hd;
        final double scale;
        final Tensor q, k, v, s, a, o, dO, dA, dS, dq, dk, dv;

        Case(Backend be, int bh, int t, int hd) {
            this.be = be;
            this.bh = bh;
            this.t = t;
            this.hd = hd;
            this.scale = 1 / Math.sqrt(hd);
            Random r = new Random(2);
            int n = bh * t * hd, maps = bh * t * t;
            q = random(be, n, r);
            k = random(be, n, r);
            v = random(be, n, r);
            dO = random(be, n, r);
            s = be.allocate(maps);
            a = be.allocate(maps);
            dA = be.allocate(maps);
            dS = be.allocate(maps);
            o = be.allocate(n);
            dq = be.allocate(n);
            dk = be.allocate(n);
            dv = be.allocate(n);
        }

        double time(AttentionWeighting w, boolean core, double seconds) {
            // One graph per variant, so a recording backend replays it and returning means the work is done.
            String name = "attention-bench.t" + t + "." + w + (core ? ".core" : ".separate");
            Runnable body = core ? () -> {
                be.attentionForward(q, k, v, s, a, o, bh, t, hd, scale, w, w.backwardNeedsScores());
                be.attentionBackward(dO, q, k, v, s, a, dA, dS, dq, dk, dv, bh, t, hd, scale, w);
            } : () -> {
                be.attentionScores(q, k, s, bh, t, hd, scale);
                be.attentionWeights(s, a, bh * t, t, w);
                be.attentionApply(a, v, o, bh, t, hd);
                be.zero(dA);
                be.zero(dS);
                be.attentionApplyBackward(dO, a, v, dA, dv, bh, t, hd);
                be.attentionWeightsBackward(s, a, dA, dS, bh * t, t, w);
                be.attentionScoresBackward(dS, q, k, dq, dk, bh, t, hd, scale);
            };
            Runnable pass = () -> be.graph(name, body);
            pass.run();
            pass.run();
            int runs = 0;
            long start = System.nanoTime(), deadline = start + (long) (seconds * 1e9);
            do {
                pass.run();
                runs++;
            } while (System.nanoTime() < deadline);
            return (System.nanoTime() - start) / 1e6 / runs;
        }
    }

    private static Tensor random(Backend be, int n, Random r) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        Tensor t = be.allocate(n);
        be.upload(t, x);
        return t;
    }
}
