package dev.tornadovit.bench;

import dev.tornadovit.model.Workspace;
import dev.tornadovit.tensor.AttentionCore;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The attention core alone — scores, weights φ, ·V — forward and backward, softmax against ReLU/L at several
 * sequence lengths: pointwise weights need no row max or sum, and the table shows what that buys. Each weighting is
 * timed twice: through the backend's {@link AttentionCore} from qkv to the merged heads and back (what the model
 * runs, fused where the backend fuses; one head per image here) and as the six separate operations on the heads with
 * [BH,T,T] tensors between them.
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
            Runnable[] passes = {c.pass(SOFTMAX, true), c.pass(RELU_OVER_L, true), c.pass(SOFTMAX, false),
                    c.pass(RELU_OVER_L, false)};
            double[] millis = medianMillis(passes, 4 * secondsPerCase);
            rows.add(new Row(t, bh, headDim, millis[0], millis[1], millis[2], millis[3]));
        }
        return rows;
    }

    /**
     * Median time of each pass, taken in rounds that run every pass once: a load spike from another process then
     * hits all of them alike instead of whichever happened to be measured at the time.
     */
    private static double[] medianMillis(Runnable[] passes, double seconds) {
        long warmUntil = System.nanoTime() + (long) (0.25 * seconds * 1e9);
        do {
            for (Runnable p : passes) p.run();
        } while (System.nanoTime() < warmUntil);
        List<long[]> rounds = new ArrayList<>();
        long end = System.nanoTime() + (long) (seconds * 1e9);
        while (rounds.size() < 5 || System.nanoTime() < end) {
            long[] round = new long[passes.length];
            for (int i = 0; i < passes.length; i++) {
                long t0 = System.nanoTime();
                passes[i].run();
                round[i] = System.nanoTime() - t0;
            }
            rounds.add(round);
        }
        double[] medians = new double[passes.length];
        for (int i = 0; i < passes.length; i++) {
            int index = i;
            medians[i] = rounds.stream().mapToLong(r -> r[index]).sorted().skip(rounds.size() / 2).findFirst()
                    .orElseThrow() / 1e6;
        }
        return medians;
    }

    /** The tensors of one shape, shared by the four passes. */
    private static final class Case {
        final Backend be;
        final int bh, t, hd;
        final double scale;
        final Tensor q, k, v, s, a, o, dO, dA, dS, dq, dk, dv, qkv, merged, dMerged, dQkv;

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
            qkv = random(be, 3 * n, r);
            dMerged = random(be, n, r);
            merged = be.allocate(n);
            dQkv = be.allocate(3 * n);
        }

        /** The backend's core for {@code w}, with bh images of one head each. */
        AttentionCore core(AttentionWeighting w) {
            AttentionCore core = be.attentionCore(new AttentionCore.Spec(1, hd, scale, w, null, null));
            core.allocate(new Workspace(be), bh, t);
            return core;
        }

        /** One forward + backward pass, as one graph, so a recording backend replays it and returns when done. */
        Runnable pass(AttentionWeighting w, boolean core) {
            AttentionCore attention = core ? core(w) : null;
            Runnable body = core ? () -> {
                attention.forward(qkv, merged, bh, true);
                attention.backward(qkv, dMerged, dQkv, bh);
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
            RecordedGraph graph = be.record(core ? "attention-bench.core" : "attention-bench.separate", body);
            return () -> {
                graph.run();
                be.synchronize(); // timed to the device's finish, not to the end of queueing
            };
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
