package dev.tornadovit.tornado.kernels;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * Fused pointwise attention: o = φ(scale_qk · q·kᵀ) · v in one kernel, φ(s) = L^-α·h(s).
 *
 * <p>Pointwise weights need no row maximum and no row sum, so every (query tile, key tile) block is finished as soon
 * as its scores are: scores → φ → accumulate into the output, with no second pass and no rescaling (softmax needs
 * both). The unfused path writes the scores, reads them for φ, writes the weights and reads them again for ·V.
 *
 * <p>A work-group of 16×16 threads owns 32 queries of one (batch, head) and walks the keys in tiles of 64: the key tile
 * goes into local memory transposed, each thread computes 2×4 scores, applies φ, writes them to local memory (and,
 * with {@code storeMaps}, the scores and weights to global memory for the backward pass and attention-map readers),
 * then the value tile replaces the keys and each thread adds its 2×4 block of weights·values into its outputs.
 * Local rows are 65 floats apart so that neither the transposed stores nor the reads collide in the same memory bank.
 * Head dimension at most 64. Grid (16, ⌈T/32⌉·16, batch·heads), local (16, 16, 1).
 */
public final class AttentionKernels {
    private AttentionKernels() {
    }

    public static final int QUERIES = 32, KEYS = 64, MAX_HEAD_DIM = 64;

    public static void pointwiseAttention(KernelContext ctx, FloatArray q, FloatArray k, FloatArray v, FloatArray scores,
                                          FloatArray weights, FloatArray o, int tokens, int headDim, float qkScale,
                                          int kind, float scale, int storeMaps) {
        float[] qs = ctx.allocateFloatLocalArray(2080); // [32 queries][65]
        float[] kv = ctx.allocateFloatLocalArray(4160); // keys as [64 dims][65], then values as [64 keys][65]
        float[] ws = ctx.allocateFloatLocalArray(2080); // weights [32 queries][65]
        int tx = ctx.localIdx, ty = ctx.localIdy;
        int tid = ty * 16 + tx;
        int q0 = ctx.groupIdy * 32;
        int bh = ctx.groupIdz;
        int base = bh * tokens * headDim;
        int mapBase = bh * tokens * tokens;

        for (int l = 0; l < 8; l++) {
            int idx = tid + l * 256;
            int r = idx / 64, d = idx % 64;
            int qi = q0 + r;
            float value = 0f;
            if (qi < tokens && d < headDim) value = q.get(base + qi * headDim + d);
            qs[r * 65 + d] = value;
        }
        float o00 = 0f, o01 = 0f, o02 = 0f, o03 = 0f;
        float o10 = 0f, o11 = 0f, o12 = 0f, o13 = 0f;
        int row0 = ty * 65, row1 = (ty + 16) * 65;

        for (int k0 = 0; k0 < tokens; k0 += 64) {
            ctx.localBarrier();
            for (int l = 0; l < 16; l++) {
                int idx = tid + l * 256;
                int j = idx / 64, d = idx % 64;
                int kj = k0 + j;
                float value = 0f;
                if (kj < tokens && d < headDim) value = k.get(base + kj * headDim + d);
                kv[d * 65 + j] = value;
            }
            ctx.localBarrier();
            float s00 = 0f, s01 = 0f, s02 = 0f, s03 = 0f;
            float s10 = 0f, s11 = 0f, s12 = 0f, s13 = 0f;
            for (int d = 0; d < headDim; d++) {
                float a0 = qs[row0 + d], a1 = qs[row1 + d];
                int kd = d * 65 + tx;
                float b0 = kv[kd], b1 = kv[kd + 16], b2 = kv[kd + 32], b3 = kv[kd + 48];
                s00 += a0 * b0;
                s01 += a0 * b1;
                s02 += a0 * b2;
                s03 += a0 * b3;
                s10 += a1 * b0;
                s11 += a1 * b1;
                s12 += a1 * b2;
                s13 += a1 * b3;
            }
            int qa = q0 + ty, qb = q0 + ty + 16;
            int kA = k0 + tx;
            ws[row0 + tx] = weigh(scores, weights, mapBase, qa, kA, tokens, s00 * qkScale, kind, scale, storeMaps);
            ws[row0 + tx + 16] = weigh(scores, weights, mapBase, qa, kA + 16, tokens, s01 * qkScale, kind, scale, storeMaps);
            ws[row0 + tx + 32] = weigh(scores, weights, mapBase, qa, kA + 32, tokens, s02 * qkScale, kind, scale, storeMaps);
            ws[row0 + tx + 48] = weigh(scores, weights, mapBase, qa, kA + 48, tokens, s03 * qkScale, kind, scale, storeMaps);
            ws[row1 + tx] = weigh(scores, weights, mapBase, qb, kA, tokens, s10 * qkScale, kind, scale, storeMaps);
            ws[row1 + tx + 16] = weigh(scores, weights, mapBase, qb, kA + 16, tokens, s11 * qkScale, kind, scale, storeMaps);
            ws[row1 + tx + 32] = weigh(scores, weights, mapBase, qb, kA + 32, tokens, s12 * qkScale, kind, scale, storeMaps);
            ws[row1 + tx + 48] = weigh(scores, weights, mapBase, qb, kA + 48, tokens, s13 * qkScale, kind, scale, storeMaps);
            ctx.localBarrier();
            for (int l = 0; l < 16; l++) {
                int idx = tid + l * 256;
                int j = idx / 64, d = idx % 64;
                int kj = k0 + j;
                float value = 0f;
                if (kj < tokens && d < headDim) value = v.get(base + kj * headDim + d);
                kv[j * 65 + d] = value;
            }
            ctx.localBarrier();
            for (int j = 0; j < 64; j++) {
                float w0 = ws[row0 + j], w1 = ws[row1 + j];
                int vj = j * 65 + tx;
                float v0 = kv[vj], v1 = kv[vj + 16], v2 = kv[vj + 32], v3 = kv[vj + 48];
                o00 += w0 * v0;
                o01 += w0 * v1;
                o02 += w0 * v2;
                o03 += w0 * v3;
                o10 += w1 * v0;
                o11 += w1 * v1;
                o12 += w1 * v2;
                o13 += w1 * v3;
            }
        }
        int qa = q0 + ty, qb = q0 + ty + 16;
        storeOutput(o, base, qa, tx, tokens, headDim, o00);
        storeOutput(o, base, qa, tx + 16, tokens, headDim, o01);
        storeOutput(o, base, qa, tx + 32, tokens, headDim, o02);
        storeOutput(o, base, qa, tx + 48, tokens, headDim, o03);
        storeOutput(o, base, qb, tx, tokens, headDim, o10);
        storeOutput(o, base, qb, tx + 16, tokens, headDim, o11);
        storeOutput(o, base, qb, tx + 32, tokens, headDim, o12);
        storeOutput(o, base, qb, tx + 48, tokens, headDim, o13);
    }

    /** φ of one score; keys past the end weigh nothing. Stores score and weight when the maps are kept. */
    private static float weigh(FloatArray scores, FloatArray weights, int mapBase, int query, int key, int tokens,
                               float s, int kind, float scale, int storeMaps) {
        float w = 0f;
        if (key < tokens) {
            w = scale * DeviceMath.activation(kind, s);
            if (storeMaps == 1 && query < tokens) {
                int at = mapBase + query * tokens + key;
                scores.set(at, s);
                weights.set(at, w);
            }
        }
        return w;
    }

    private static void storeOutput(FloatArray o, int base, int query, int d, int tokens, int headDim, float value) {
        if (query < tokens && d < headDim) o.set(base + query * headDim + d, value);
    }
}
