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
 * <p>A work-group of 16×16 threads owns 64 queries of one (batch, head), held in local memory for the whole kernel,
 * and walks the keys in tiles of 64. Each thread computes a 4×4 block of scores (queries ty + 16·r, keys tx + 16·c,
 * interleaved as in {@link MatmulKernels}) from keys streamed through local memory 16 dimensions at a time, applies
 * φ, writes the weights to local memory (and, with {@code storeMaps}, scores and weights to global memory for the
 * backward pass and attention-map readers), then streams the values 16 keys at a time and adds its 4×4 block of
 * weights·values (queries ty + 16·r, dimensions tx + 16·c) into registers. Four loads per sixteen multiply-adds in
 * both products; an earlier 2×4 version (six loads per eight) was slower than the three unfused kernels on an H100.
 * Transposed local arrays have rows of 65 floats so that consecutive threads hit different banks.
 * Head dimension at most 64. Grid (16, ⌈T/64⌉·16, batch·heads), local (16, 16, 1); 37 KB of local memory.
 */
public final class AttentionKernels {
    private AttentionKernels() {
    }

    public static final int QUERIES = 64, KEYS = 64, MAX_HEAD_DIM = 64;

    public static void pointwiseAttention(KernelContext ctx, FloatArray q, FloatArray k, FloatArray v, FloatArray scores,
                                          FloatArray weights, FloatArray o, int tokens, int headDim, float qkScale,
                                          int kind, float scale, int storeMaps) {
        float[] qs = ctx.allocateFloatLocalArray(4160); // queries, transposed: qs[d·65 + query]
        float[] ws = ctx.allocateFloatLocalArray(4160); // weights, transposed: ws[key·65 + query]
        float[] kv = ctx.allocateFloatLocalArray(1040); // 16 dims of keys (kv[dd·65 + key]) or 16 keys of values (kv[kk·64 + d])
        int tx = ctx.localIdx, ty = ctx.localIdy;
        int tid = ty * 16 + tx;
        int q0 = ctx.groupIdy * 64;
        int bh = ctx.groupIdz;
        int base = bh * tokens * headDim;
        int mapBase = bh * tokens * tokens;

        for (int l = 0; l < 16; l++) {
            int idx = tid + l * 256;
            int r = idx / 64, d = idx % 64;
            int qi = q0 + r;
            float value = 0f;
            if (qi < tokens && d < headDim) value = q.get(base + qi * headDim + d);
            qs[d * 65 + r] = value;
        }
        float o00 = 0f, o01 = 0f, o02 = 0f, o03 = 0f;
        float o10 = 0f, o11 = 0f, o12 = 0f, o13 = 0f;
        float o20 = 0f, o21 = 0f, o22 = 0f, o23 = 0f;
        float o30 = 0f, o31 = 0f, o32 = 0f, o33 = 0f;
        int qa = q0 + ty;

        for (int k0 = 0; k0 < tokens; k0 += 64) {
            float s00 = 0f, s01 = 0f, s02 = 0f, s03 = 0f;
            float s10 = 0f, s11 = 0f, s12 = 0f, s13 = 0f;
            float s20 = 0f, s21 = 0f, s22 = 0f, s23 = 0f;
            float s30 = 0f, s31 = 0f, s32 = 0f, s33 = 0f;
            for (int d0 = 0; d0 < headDim; d0 += 16) {
                ctx.localBarrier();
                for (int l = 0; l < 4; l++) {
                    int idx = tid + l * 256;
                    int j = idx / 16, dd = idx % 16;
                    int kj = k0 + j, d = d0 + dd;
                    float value = 0f;
                    if (kj < tokens && d < headDim) value = k.get(base + kj * headDim + d);
                    kv[dd * 65 + j] = value;
                }
                ctx.localBarrier();
                for (int dd = 0; dd < 16; dd++) {
                    int qo = (d0 + dd) * 65 + ty, ko = dd * 65 + tx;
                    float a0 = qs[qo], a1 = qs[qo + 16], a2 = qs[qo + 32], a3 = qs[qo + 48];
                    float b0 = kv[ko], b1 = kv[ko + 16], b2 = kv[ko + 32], b3 = kv[ko + 48];
                    s00 += a0 * b0;
                    s01 += a0 * b1;
                    s02 += a0 * b2;
                    s03 += a0 * b3;
                    s10 += a1 * b0;
                    s11 += a1 * b1;
                    s12 += a1 * b2;
                    s13 += a1 * b3;
                    s20 += a2 * b0;
                    s21 += a2 * b1;
                    s22 += a2 * b2;
                    s23 += a2 * b3;
                    s30 += a3 * b0;
                    s31 += a3 * b1;
                    s32 += a3 * b2;
                    s33 += a3 * b3;
                }
            }
            int kA = k0 + tx;
            int w0 = tx * 65 + ty;
            ws[w0] = weigh(scores, weights, mapBase, qa, kA, tokens, s00 * qkScale, kind, scale, storeMaps);
            ws[w0 + 1040] = weigh(scores, weights, mapBase, qa, kA + 16, tokens, s01 * qkScale, kind, scale, storeMaps);
            ws[w0 + 2080] = weigh(scores, weights, mapBase, qa, kA + 32, tokens, s02 * qkScale, kind, scale, storeMaps);
            ws[w0 + 3120] = weigh(scores, weights, mapBase, qa, kA + 48, tokens, s03 * qkScale, kind, scale, storeMaps);
            ws[w0 + 16] = weigh(scores, weights, mapBase, qa + 16, kA, tokens, s10 * qkScale, kind, scale, storeMaps);
            ws[w0 + 1056] = weigh(scores, weights, mapBase, qa + 16, kA + 16, tokens, s11 * qkScale, kind, scale, storeMaps);
            ws[w0 + 2096] = weigh(scores, weights, mapBase, qa + 16, kA + 32, tokens, s12 * qkScale, kind, scale, storeMaps);
            ws[w0 + 3136] = weigh(scores, weights, mapBase, qa + 16, kA + 48, tokens, s13 * qkScale, kind, scale, storeMaps);
            ws[w0 + 32] = weigh(scores, weights, mapBase, qa + 32, kA, tokens, s20 * qkScale, kind, scale, storeMaps);
            ws[w0 + 1072] = weigh(scores, weights, mapBase, qa + 32, kA + 16, tokens, s21 * qkScale, kind, scale, storeMaps);
            ws[w0 + 2112] = weigh(scores, weights, mapBase, qa + 32, kA + 32, tokens, s22 * qkScale, kind, scale, storeMaps);
            ws[w0 + 3152] = weigh(scores, weights, mapBase, qa + 32, kA + 48, tokens, s23 * qkScale, kind, scale, storeMaps);
            ws[w0 + 48] = weigh(scores, weights, mapBase, qa + 48, kA, tokens, s30 * qkScale, kind, scale, storeMaps);
            ws[w0 + 1088] = weigh(scores, weights, mapBase, qa + 48, kA + 16, tokens, s31 * qkScale, kind, scale, storeMaps);
            ws[w0 + 2128] = weigh(scores, weights, mapBase, qa + 48, kA + 32, tokens, s32 * qkScale, kind, scale, storeMaps);
            ws[w0 + 3168] = weigh(scores, weights, mapBase, qa + 48, kA + 48, tokens, s33 * qkScale, kind, scale, storeMaps);
            for (int j0 = 0; j0 < 64; j0 += 16) {
                ctx.localBarrier();
                for (int l = 0; l < 4; l++) {
                    int idx = tid + l * 256;
                    int kk = idx / 64, d = idx % 64;
                    int kj = k0 + j0 + kk;
                    float value = 0f;
                    if (kj < tokens && d < headDim) value = v.get(base + kj * headDim + d);
                    kv[kk * 64 + d] = value;
                }
                ctx.localBarrier();
                for (int kk = 0; kk < 16; kk++) {
                    int wo = (j0 + kk) * 65 + ty, vo = kk * 64 + tx;
                    float a0 = ws[wo], a1 = ws[wo + 16], a2 = ws[wo + 32], a3 = ws[wo + 48];
                    float b0 = kv[vo], b1 = kv[vo + 16], b2 = kv[vo + 32], b3 = kv[vo + 48];
                    o00 += a0 * b0;
                    o01 += a0 * b1;
                    o02 += a0 * b2;
                    o03 += a0 * b3;
                    o10 += a1 * b0;
                    o11 += a1 * b1;
                    o12 += a1 * b2;
                    o13 += a1 * b3;
                    o20 += a2 * b0;
                    o21 += a2 * b1;
                    o22 += a2 * b2;
                    o23 += a2 * b3;
                    o30 += a3 * b0;
                    o31 += a3 * b1;
                    o32 += a3 * b2;
                    o33 += a3 * b3;
                }
            }
        }
        storeOutput(o, base, qa, tx, tokens, headDim, o00);
        storeOutput(o, base, qa, tx + 16, tokens, headDim, o01);
        storeOutput(o, base, qa, tx + 32, tokens, headDim, o02);
        storeOutput(o, base, qa, tx + 48, tokens, headDim, o03);
        storeOutput(o, base, qa + 16, tx, tokens, headDim, o10);
        storeOutput(o, base, qa + 16, tx + 16, tokens, headDim, o11);
        storeOutput(o, base, qa + 16, tx + 32, tokens, headDim, o12);
        storeOutput(o, base, qa + 16, tx + 48, tokens, headDim, o13);
        storeOutput(o, base, qa + 32, tx, tokens, headDim, o20);
        storeOutput(o, base, qa + 32, tx + 16, tokens, headDim, o21);
        storeOutput(o, base, qa + 32, tx + 32, tokens, headDim, o22);
        storeOutput(o, base, qa + 32, tx + 48, tokens, headDim, o23);
        storeOutput(o, base, qa + 48, tx, tokens, headDim, o30);
        storeOutput(o, base, qa + 48, tx + 16, tokens, headDim, o31);
        storeOutput(o, base, qa + 48, tx + 32, tokens, headDim, o32);
        storeOutput(o, base, qa + 48, tx + 48, tokens, headDim, o33);
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

    /** Writes one output element of a tile, skipping the padding past the last query or head element. */
    static void storeOutput(FloatArray o, int base, int query, int d, int tokens, int headDim, float value) {
        if (query < tokens && d < headDim) o.set(base + query * headDim + d, value);
    }
}
