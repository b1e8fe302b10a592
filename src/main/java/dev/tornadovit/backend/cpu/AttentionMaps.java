package dev.tornadovit.backend.cpu;

import dev.tornadovit.backend.cpu.ReusableLoops.Kernel;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.PointwiseActivation;

import java.util.Arrays;

/**
 * {@link CpuBackend}'s operations on attention maps when they are not fused into {@link FusedAttention}: the weights
 * from the scores (softmax rows, or a pointwise activation with no row statistics) and Re-attention's mixing of the
 * heads' maps; with their gradients.
 */
final class AttentionMaps {

    private AttentionMaps() {}

    private static final Kernel SOFTMAX_ROWS = (in, start, end) -> {
        float[] s = in.f0, a = in.f1;
        int keys = in.i0;
        for (int r = start; r < end; r++) VectorMath.softmaxRow(s, r * keys, a, r * keys, keys);
    };

    private static final Kernel POINTWISE_WEIGHTS = (in, start, end) ->
            VectorMath.pointwiseWeights((PointwiseActivation) in.ref, in.s0, in.f0, start, in.f1, start, end - start);

    static void attentionWeights(float[] s, float[] a, int rows, int keys, AttentionWeighting weighting) {
        if (weighting.softmax()) {
            OperationLoops.loop().arrays(s, a).ints(keys).run(SOFTMAX_ROWS, rows, Math.max(1, 4096 / keys));
        } else {
            // Pointwise: every element on its own, no row statistics.
            OperationLoops.loop().arrays(s, a).ref(weighting.activation()).scalar((float) weighting.scale(keys))
                    .run(POINTWISE_WEIGHTS, rows * keys, 4096);
        }
    }

    /** Adds the scores' gradient of softmax rows into gs. */
    private static final Kernel SOFTMAX_ROWS_BACKWARD = (in, start, end) -> {
        float[] a = in.f0, ga = in.f1, gs = in.f2;
        int keys = in.i0;
        for (int r = start; r < end; r++) VectorMath.softmaxBackwardRow(a, r * keys, ga, r * keys, gs, r * keys, keys, true);
    };

    /** Adds the scores' gradient of pointwise weights into gs. */
    private static final Kernel POINTWISE_WEIGHTS_BACKWARD = (in, start, end) ->
            VectorMath.pointwiseBackwardFromScores((PointwiseActivation) in.ref, in.s0, in.f0, start, in.f1, start,
                    in.f2, start, end - start, true);

    static void attentionWeightsBackward(float[] s, float[] a, float[] ga, float[] gs, int rows, int keys,
                                         AttentionWeighting weighting) {
        if (weighting.softmax()) {
            OperationLoops.loop().arrays(a, ga, gs).ints(keys)
                    .run(SOFTMAX_ROWS_BACKWARD, rows, Math.max(1, 4096 / keys));
        } else {
            OperationLoops.loop().arrays(s, ga, gs).ref(weighting.activation()).scalar((float) weighting.scale(keys))
                    .run(POINTWISE_WEIGHTS_BACKWARD, rows * keys, 4096);
        }
    }

    private static final Kernel HEAD_MIX = (in, start, end) -> {
        float[] a = in.f0, th = in.f1, bs = in.f2, y = in.f3;
        int heads = in.i0, mapSize = in.i1;
        for (int bg = start; bg < end; bg++) {
            int b = bg / heads, g = bg % heads, o = bg * mapSize;
            Arrays.fill(y, o, o + mapSize, bs[g]);
            for (int h = 0; h < heads; h++) {
                float w = th[g * heads + h];
                int src = (b * heads + h) * mapSize;
                for (int i = 0; i < mapSize; i++) y[o + i] += w * a[src + i];
            }
        }
    };

    /** out[b,g] = bias[g] + Σ_h Θ[g,h]·maps[b,h]. */
    static void headMix(float[] maps, float[] theta, float[] bias, float[] out, int batch, int heads, int mapSize) {
        OperationLoops.loop().arrays(maps, theta, bias, out).ints(heads, mapSize).run(HEAD_MIX, batch * heads, 1);
    }

    /** dMaps += Θᵀ·dOut per batch element. */
    private static final Kernel HEAD_MIX_MAP_GRADIENTS = (in, start, end) -> {
        float[] gy = in.f0, th = in.f1, ga = in.f2;
        int heads = in.i0, mapSize = in.i1;
        for (int bh = start; bh < end; bh++) {
            int b = bh / heads, h = bh % heads, o = bh * mapSize;
            for (int g = 0; g < heads; g++) {
                float w = th[g * heads + h];
                int src = (b * heads + g) * mapSize;
                for (int i = 0; i < mapSize; i++) ga[o + i] += w * gy[src + i];
            }
        }
    };

    /** partial[g·heads + h] = dΘ[g,h] and partial[heads² + g] = dBias[g], each summed over the batch in order. */
    private static final Kernel HEAD_MIX_THETA_AND_BIAS_GRADIENTS = (in, start, end) -> {
        float[] gy = in.f0, a = in.f1;
        double[] partial = in.d0;
        int batch = in.i0, heads = in.i1, mapSize = in.i2;
        for (int idx = start; idx < end; idx++) {
            double acc = 0;
            if (idx < heads * heads) {
                int g = idx / heads, h = idx % heads;
                for (int b = 0; b < batch; b++) {
                    int og = (b * heads + g) * mapSize, oh = (b * heads + h) * mapSize;
                    float part = 0;
                    for (int i = 0; i < mapSize; i++) part += gy[og + i] * a[oh + i];
                    acc += part;
                }
            } else {
                int g = idx - heads * heads;
                for (int b = 0; b < batch; b++) {
                    int og = (b * heads + g) * mapSize;
                    float part = 0;
                    for (int i = 0; i < mapSize; i++) part += gy[og + i];
                    acc += part;
                }
            }
            partial[idx] = acc;
        }
    };

    static void headMixBackward(float[] gy, float[] a, float[] th, float[] ga, float[] gt, float[] gb, int batch,
                                int heads, int mapSize) {
        OperationLoops loops = OperationLoops.get();
        loops.loop.arrays(gy, th, ga).ints(heads, mapSize).run(HEAD_MIX_MAP_GRADIENTS, batch * heads, 1);
        // dΘ[g,h] = Σ_b Σ_s dOut[b,g,s]·maps[b,h,s]; dBias[g] = Σ dOut[b,g,:] — one task per (g,h), batch in order.
        double[] partial = loops.scratch(heads * heads + heads);
        loops.loop.arrays(gy, a).sums(partial).ints(batch, heads, mapSize)
                .run(HEAD_MIX_THETA_AND_BIAS_GRADIENTS, heads * heads + heads, 1);
        for (int i = 0; i < heads * heads; i++) gt[i] += (float) partial[i];
        for (int g = 0; g < heads; g++) gb[g] += (float) partial[heads * heads + g];
    }
}
