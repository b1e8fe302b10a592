package dev.tornadovit.tornado.kernels;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * Fused softmax attention: o = softmax(scale_qk · q·kᵀ) · v in one kernel, the [BH,T,T] scores never in memory.
 *
 * <p>The tiling is {@link AttentionKernels}'s: a work-group of 16×16 threads owns 64 queries of one (batch, head),
 * held transposed in local memory, and walks the keys in tiles of 64; each thread computes a 4×4 block of scores
 * (queries ty + 16·r, keys tx + 16·c) from keys streamed through local memory 16 dimensions at a time, and a 4×4
 * block of the output (queries ty + 16·r, dimensions tx + 16·c) from values streamed 16 keys at a time. A query row
 * is thus shared by the 16 threads of one ty, which is what the row statistics have to be reduced over.
 *
 * <p>{@link #softmaxAttention} (inference, output only) is FlashAttention-2's forward: an online softmax over the
 * key tiles. Per tile the 16 threads' partial maxima of a row meet in local memory and one thread per row (64 of
 * the 256) folds them into the running maximum m and the factor exp(m_old − m_new) by which every thread rescales
 * its output block; the row sum is kept per thread (each thread's part over its own keys, rescaled by the same
 * factor) and reduced once, after the last tile. Two extra barriers per tile, sixteen exps per thread per tile.
 *
 * <p>{@link #softmaxAttentionWithWeights} (training) also writes the normalised weights, which softmax's backward
 * and the attention-map readers need (the scores are not needed: softmax's backward reads only the weights). It
 * makes two passes over the keys: the first computes the scores and keeps a running (maximum, sum) per thread and
 * row, with no cross-thread traffic until one reduction at the end; the second recomputes the scores, writes
 * exp(s − m)/l and multiplies exactly those weights by v. This costs what the alternative of an online first pass
 * (scores and ·V, with per-tile reductions and rescaling) followed by a weight-writing second pass costs in
 * multiply-adds (scores twice, ·V once) but without its per-tile reductions; writing unnormalised weights in one
 * pass and rescaling them afterwards would read and write the whole map a second time. The output is then the
 * stored weights times v, as the unfused path computes it.
 *
 * <p>Keys past the end score {@link #MASKED}, far below any real score, so their exp is 0 while all arithmetic stays
 * finite (every tile has at least one real key, so every row maximum is a real score). Transposed local arrays have
 * rows of 65 floats, the row-statistics scratch rows of 17, so that consecutive threads hit different banks; the
 * scratch lives in the weights' local array while that is free. Head dimension at most 64. Grid
 * (16, ⌈T/64⌉·16, batch·heads), local (16, 16, 1); 38 KB of local memory.
 */
public final class SoftmaxAttentionKernels {
    private SoftmaxAttentionKernels() {
    }

    public static final int QUERIES = 64, MAX_HEAD_DIM = 64;
    /** The score of a key past the end: exp(MASKED − m) is 0 for any real row maximum m. */
    static final float MASKED = -1e30f;
    /** Offset, in the row-statistics scratch, between the rows ty + 16·r of one thread: 16 rows of 17. */
    private static final int STATS_ROWS = 272;

    /** Output only: o [BH,T,hd] = softmax(qkScale·q·kᵀ)·v, online over the key tiles. */
    public static void softmaxAttention(KernelContext ctx, FloatArray q, FloatArray k, FloatArray v, FloatArray o,
                                        int tokens, int headDim, float qkScale) {
        float[] qs = ctx.allocateFloatLocalArray(4160); // queries, transposed: qs[d·65 + query]
        // exp(s − m), transposed: ws[key·65 + query]; before that, each tile's partial row maxima [row·17 + tx]
        float[] ws = ctx.allocateFloatLocalArray(4160);
        float[] kv = ctx.allocateFloatLocalArray(1040); // 16 dims of keys (kv[dd·65 + key]) or 16 keys of values (kv[kk·64 + d])
        float[] rows = ctx.allocateFloatLocalArray(128); // per row: running maximum [row], then rescale factor or 1/l [64 + row]
        int tx = ctx.localIdx, ty = ctx.localIdy;
        int tid = ty * 16 + tx;
        int q0 = ctx.groupIdy * 64;
        int bh = ctx.groupIdz;
        int base = bh * tokens * headDim;
        int stat = ty * 17 + tx;

        for (int l = 0; l < 16; l++) {
            int idx = tid + l * 256;
            int r = idx / 64, d = idx % 64;
            int qi = q0 + r;
            float value = 0f;
            if (qi < tokens && d < headDim) value = q.get(base + qi * headDim + d);
            qs[d * 65 + r] = value;
        }
        if (tid < 64) rows[tid] = MASKED;
        float o00 = 0f, o01 = 0f, o02 = 0f, o03 = 0f;
        float o10 = 0f, o11 = 0f, o12 = 0f, o13 = 0f;
        float o20 = 0f, o21 = 0f, o22 = 0f, o23 = 0f;
        float o30 = 0f, o31 = 0f, o32 = 0f, o33 = 0f;
        float l0 = 0f, l1 = 0f, l2 = 0f, l3 = 0f;
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
            s00 = masked(s00, kA, tokens, qkScale);
            s01 = masked(s01, kA + 16, tokens, qkScale);
            s02 = masked(s02, kA + 32, tokens, qkScale);
            s03 = masked(s03, kA + 48, tokens, qkScale);
            s10 = masked(s10, kA, tokens, qkScale);
            s11 = masked(s11, kA + 16, tokens, qkScale);
            s12 = masked(s12, kA + 32, tokens, qkScale);
            s13 = masked(s13, kA + 48, tokens, qkScale);
            s20 = masked(s20, kA, tokens, qkScale);
            s21 = masked(s21, kA + 16, tokens, qkScale);
            s22 = masked(s22, kA + 32, tokens, qkScale);
            s23 = masked(s23, kA + 48, tokens, qkScale);
            s30 = masked(s30, kA, tokens, qkScale);
            s31 = masked(s31, kA + 16, tokens, qkScale);
            s32 = masked(s32, kA + 32, tokens, qkScale);
            s33 = masked(s33, kA + 48, tokens, qkScale);
            ws[stat] = max4(s00, s01, s02, s03);
            ws[stat + STATS_ROWS] = max4(s10, s11, s12, s13);
            ws[stat + 2 * STATS_ROWS] = max4(s20, s21, s22, s23);
            ws[stat + 3 * STATS_ROWS] = max4(s30, s31, s32, s33);
            ctx.localBarrier();
            if (tid < 64) {
                float tileMax = ws[tid * 17];
                for (int j = 1; j < 16; j++) tileMax = TornadoMath.max(tileMax, ws[tid * 17 + j]);
                float before = rows[tid];
                float after = TornadoMath.max(before, tileMax);
                rows[tid] = after;
                rows[64 + tid] = TornadoMath.exp(before - after);
            }
            ctx.localBarrier();
            float m0 = rows[ty], m1 = rows[ty + 16], m2 = rows[ty + 32], m3 = rows[ty + 48];
            float f0 = rows[64 + ty], f1 = rows[80 + ty], f2 = rows[96 + ty], f3 = rows[112 + ty];
            o00 *= f0;
            o01 *= f0;
            o02 *= f0;
            o03 *= f0;
            o10 *= f1;
            o11 *= f1;
            o12 *= f1;
            o13 *= f1;
            o20 *= f2;
            o21 *= f2;
            o22 *= f2;
            o23 *= f2;
            o30 *= f3;
            o31 *= f3;
            o32 *= f3;
            o33 *= f3;
            s00 = TornadoMath.exp(s00 - m0);
            s01 = TornadoMath.exp(s01 - m0);
            s02 = TornadoMath.exp(s02 - m0);
            s03 = TornadoMath.exp(s03 - m0);
            s10 = TornadoMath.exp(s10 - m1);
            s11 = TornadoMath.exp(s11 - m1);
            s12 = TornadoMath.exp(s12 - m1);
            s13 = TornadoMath.exp(s13 - m1);
            s20 = TornadoMath.exp(s20 - m2);
            s21 = TornadoMath.exp(s21 - m2);
            s22 = TornadoMath.exp(s22 - m2);
            s23 = TornadoMath.exp(s23 - m2);
            s30 = TornadoMath.exp(s30 - m3);
            s31 = TornadoMath.exp(s31 - m3);
            s32 = TornadoMath.exp(s32 - m3);
            s33 = TornadoMath.exp(s33 - m3);
            l0 = l0 * f0 + s00 + s01 + s02 + s03;
            l1 = l1 * f1 + s10 + s11 + s12 + s13;
            l2 = l2 * f2 + s20 + s21 + s22 + s23;
            l3 = l3 * f3 + s30 + s31 + s32 + s33;
            int w0 = tx * 65 + ty;
            ws[w0] = s00;
            ws[w0 + 1040] = s01;
            ws[w0 + 2080] = s02;
            ws[w0 + 3120] = s03;
            ws[w0 + 16] = s10;
            ws[w0 + 1056] = s11;
            ws[w0 + 2096] = s12;
            ws[w0 + 3136] = s13;
            ws[w0 + 32] = s20;
            ws[w0 + 1072] = s21;
            ws[w0 + 2112] = s22;
            ws[w0 + 3152] = s23;
            ws[w0 + 48] = s30;
            ws[w0 + 1088] = s31;
            ws[w0 + 2128] = s32;
            ws[w0 + 3168] = s33;
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
        // the row sums: the 16 threads' parts of each row, reduced once
        ctx.localBarrier();
        ws[stat] = l0;
        ws[stat + STATS_ROWS] = l1;
        ws[stat + 2 * STATS_ROWS] = l2;
        ws[stat + 3 * STATS_ROWS] = l3;
        ctx.localBarrier();
        if (tid < 64) {
            float sum = 0f;
            for (int j = 0; j < 16; j++) sum += ws[tid * 17 + j];
            rows[64 + tid] = 1f / sum;
        }
        ctx.localBarrier();
        float i0 = rows[64 + ty], i1 = rows[80 + ty], i2 = rows[96 + ty], i3 = rows[112 + ty];
        AttentionKernels.storeOutput(o, base, qa, tx, tokens, headDim, o00 * i0);
        AttentionKernels.storeOutput(o, base, qa, tx + 16, tokens, headDim, o01 * i0);
        AttentionKernels.storeOutput(o, base, qa, tx + 32, tokens, headDim, o02 * i0);
        AttentionKernels.storeOutput(o, base, qa, tx + 48, tokens, headDim, o03 * i0);
        AttentionKernels.storeOutput(o, base, qa + 16, tx, tokens, headDim, o10 * i1);
        AttentionKernels.storeOutput(o, base, qa + 16, tx + 16, tokens, headDim, o11 * i1);
        AttentionKernels.storeOutput(o, base, qa + 16, tx + 32, tokens, headDim, o12 * i1);
        AttentionKernels.storeOutput(o, base, qa + 16, tx + 48, tokens, headDim, o13 * i1);
        AttentionKernels.storeOutput(o, base, qa + 32, tx, tokens, headDim, o20 * i2);
        AttentionKernels.storeOutput(o, base, qa + 32, tx + 16, tokens, headDim, o21 * i2);
        AttentionKernels.storeOutput(o, base, qa + 32, tx + 32, tokens, headDim, o22 * i2);
        AttentionKernels.storeOutput(o, base, qa + 32, tx + 48, tokens, headDim, o23 * i2);
        AttentionKernels.storeOutput(o, base, qa + 48, tx, tokens, headDim, o30 * i3);
        AttentionKernels.storeOutput(o, base, qa + 48, tx + 16, tokens, headDim, o31 * i3);
        AttentionKernels.storeOutput(o, base, qa + 48, tx + 32, tokens, headDim, o32 * i3);
        AttentionKernels.storeOutput(o, base, qa + 48, tx + 48, tokens, headDim, o33 * i3);
    }

    /**
     * o [BH,T,hd] = softmax(qkScale·q·kᵀ)·v, writing the weights [BH,T,T]: row statistics in a first pass over the
     * keys, exact weights and the output in a second (see the class comment for why two passes).
     */
    public static void softmaxAttentionWithWeights(KernelContext ctx, FloatArray q, FloatArray k, FloatArray v,
                                                   FloatArray weights, FloatArray o, int tokens, int headDim,
                                                   float qkScale) {
        float[] qs = ctx.allocateFloatLocalArray(4160); // queries, transposed: qs[d·65 + query]
        // weights, transposed: ws[key·65 + query]; between the passes, the threads' row maxima and sums [row·17 + tx]
        float[] ws = ctx.allocateFloatLocalArray(4160);
        float[] kv = ctx.allocateFloatLocalArray(1040); // 16 dims of keys (kv[dd·65 + key]) or 16 keys of values (kv[kk·64 + d])
        float[] rows = ctx.allocateFloatLocalArray(128); // per row: maximum [row], 1/sum [64 + row]
        int tx = ctx.localIdx, ty = ctx.localIdy;
        int tid = ty * 16 + tx;
        int q0 = ctx.groupIdy * 64;
        int bh = ctx.groupIdz;
        int base = bh * tokens * headDim;
        int mapBase = bh * tokens * tokens;
        int stat = ty * 17 + tx;

        for (int l = 0; l < 16; l++) {
            int idx = tid + l * 256;
            int r = idx / 64, d = idx % 64;
            int qi = q0 + r;
            float value = 0f;
            if (qi < tokens && d < headDim) value = q.get(base + qi * headDim + d);
            qs[d * 65 + r] = value;
        }
        // pass 1: each thread's running maximum and sum over its own keys, per row
        float m0 = MASKED, m1 = MASKED, m2 = MASKED, m3 = MASKED;
        float l0 = 0f, l1 = 0f, l2 = 0f, l3 = 0f;
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
            s00 = masked(s00, kA, tokens, qkScale);
            s01 = masked(s01, kA + 16, tokens, qkScale);
            s02 = masked(s02, kA + 32, tokens, qkScale);
            s03 = masked(s03, kA + 48, tokens, qkScale);
            s10 = masked(s10, kA, tokens, qkScale);
            s11 = masked(s11, kA + 16, tokens, qkScale);
            s12 = masked(s12, kA + 32, tokens, qkScale);
            s13 = masked(s13, kA + 48, tokens, qkScale);
            s20 = masked(s20, kA, tokens, qkScale);
            s21 = masked(s21, kA + 16, tokens, qkScale);
            s22 = masked(s22, kA + 32, tokens, qkScale);
            s23 = masked(s23, kA + 48, tokens, qkScale);
            s30 = masked(s30, kA, tokens, qkScale);
            s31 = masked(s31, kA + 16, tokens, qkScale);
            s32 = masked(s32, kA + 32, tokens, qkScale);
            s33 = masked(s33, kA + 48, tokens, qkScale);
            float n0 = TornadoMath.max(m0, max4(s00, s01, s02, s03));
            l0 = l0 * TornadoMath.exp(m0 - n0) + TornadoMath.exp(s00 - n0) + TornadoMath.exp(s01 - n0)
                    + TornadoMath.exp(s02 - n0) + TornadoMath.exp(s03 - n0);
            m0 = n0;
            float n1 = TornadoMath.max(m1, max4(s10, s11, s12, s13));
            l1 = l1 * TornadoMath.exp(m1 - n1) + TornadoMath.exp(s10 - n1) + TornadoMath.exp(s11 - n1)
                    + TornadoMath.exp(s12 - n1) + TornadoMath.exp(s13 - n1);
            m1 = n1;
            float n2 = TornadoMath.max(m2, max4(s20, s21, s22, s23));
            l2 = l2 * TornadoMath.exp(m2 - n2) + TornadoMath.exp(s20 - n2) + TornadoMath.exp(s21 - n2)
                    + TornadoMath.exp(s22 - n2) + TornadoMath.exp(s23 - n2);
            m2 = n2;
            float n3 = TornadoMath.max(m3, max4(s30, s31, s32, s33));
            l3 = l3 * TornadoMath.exp(m3 - n3) + TornadoMath.exp(s30 - n3) + TornadoMath.exp(s31 - n3)
                    + TornadoMath.exp(s32 - n3) + TornadoMath.exp(s33 - n3);
            m3 = n3;
        }
        // the 16 threads' (maximum, sum) of each row, combined once
        ws[stat] = m0;
        ws[stat + STATS_ROWS] = m1;
        ws[stat + 2 * STATS_ROWS] = m2;
        ws[stat + 3 * STATS_ROWS] = m3;
        ws[stat + 4 * STATS_ROWS] = l0;
        ws[stat + 5 * STATS_ROWS] = l1;
        ws[stat + 6 * STATS_ROWS] = l2;
        ws[stat + 7 * STATS_ROWS] = l3;
        ctx.localBarrier();
        if (tid < 64) {
            int at = tid * 17; // row ty + 16·r = tid: its threads wrote (ty + 16·r)·17 + tx = stat + r·STATS_ROWS
            float rowMax = ws[at];
            for (int j = 1; j < 16; j++) rowMax = TornadoMath.max(rowMax, ws[at + j]);
            float sum = 0f;
            for (int j = 0; j < 16; j++) sum += ws[at + 4 * STATS_ROWS + j] * TornadoMath.exp(ws[at + j] - rowMax);
            rows[tid] = rowMax;
            rows[64 + tid] = 1f / sum;
        }
        ctx.localBarrier();
        m0 = rows[ty];
        m1 = rows[ty + 16];
        m2 = rows[ty + 32];
        m3 = rows[ty + 48];
        float i0 = rows[64 + ty], i1 = rows[80 + ty], i2 = rows[96 + ty], i3 = rows[112 + ty];

        // pass 2: the exact weights, written out and applied to the values
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
            s00 = masked(s00, kA, tokens, qkScale);
            s01 = masked(s01, kA + 16, tokens, qkScale);
            s02 = masked(s02, kA + 32, tokens, qkScale);
            s03 = masked(s03, kA + 48, tokens, qkScale);
            s10 = masked(s10, kA, tokens, qkScale);
            s11 = masked(s11, kA + 16, tokens, qkScale);
            s12 = masked(s12, kA + 32, tokens, qkScale);
            s13 = masked(s13, kA + 48, tokens, qkScale);
            s20 = masked(s20, kA, tokens, qkScale);
            s21 = masked(s21, kA + 16, tokens, qkScale);
            s22 = masked(s22, kA + 32, tokens, qkScale);
            s23 = masked(s23, kA + 48, tokens, qkScale);
            s30 = masked(s30, kA, tokens, qkScale);
            s31 = masked(s31, kA + 16, tokens, qkScale);
            s32 = masked(s32, kA + 32, tokens, qkScale);
            s33 = masked(s33, kA + 48, tokens, qkScale);
            s00 = TornadoMath.exp(s00 - m0) * i0;
            s01 = TornadoMath.exp(s01 - m0) * i0;
            s02 = TornadoMath.exp(s02 - m0) * i0;
            s03 = TornadoMath.exp(s03 - m0) * i0;
            s10 = TornadoMath.exp(s10 - m1) * i1;
            s11 = TornadoMath.exp(s11 - m1) * i1;
            s12 = TornadoMath.exp(s12 - m1) * i1;
            s13 = TornadoMath.exp(s13 - m1) * i1;
            s20 = TornadoMath.exp(s20 - m2) * i2;
            s21 = TornadoMath.exp(s21 - m2) * i2;
            s22 = TornadoMath.exp(s22 - m2) * i2;
            s23 = TornadoMath.exp(s23 - m2) * i2;
            s30 = TornadoMath.exp(s30 - m3) * i3;
            s31 = TornadoMath.exp(s31 - m3) * i3;
            s32 = TornadoMath.exp(s32 - m3) * i3;
            s33 = TornadoMath.exp(s33 - m3) * i3;
            storeWeight(weights, mapBase, qa, kA, tokens, s00);
            storeWeight(weights, mapBase, qa, kA + 16, tokens, s01);
            storeWeight(weights, mapBase, qa, kA + 32, tokens, s02);
            storeWeight(weights, mapBase, qa, kA + 48, tokens, s03);
            storeWeight(weights, mapBase, qa + 16, kA, tokens, s10);
            storeWeight(weights, mapBase, qa + 16, kA + 16, tokens, s11);
            storeWeight(weights, mapBase, qa + 16, kA + 32, tokens, s12);
            storeWeight(weights, mapBase, qa + 16, kA + 48, tokens, s13);
            storeWeight(weights, mapBase, qa + 32, kA, tokens, s20);
            storeWeight(weights, mapBase, qa + 32, kA + 16, tokens, s21);
            storeWeight(weights, mapBase, qa + 32, kA + 32, tokens, s22);
            storeWeight(weights, mapBase, qa + 32, kA + 48, tokens, s23);
            storeWeight(weights, mapBase, qa + 48, kA, tokens, s30);
            storeWeight(weights, mapBase, qa + 48, kA + 16, tokens, s31);
            storeWeight(weights, mapBase, qa + 48, kA + 32, tokens, s32);
            storeWeight(weights, mapBase, qa + 48, kA + 48, tokens, s33);
            int w0 = tx * 65 + ty;
            ws[w0] = s00;
            ws[w0 + 1040] = s01;
            ws[w0 + 2080] = s02;
            ws[w0 + 3120] = s03;
            ws[w0 + 16] = s10;
            ws[w0 + 1056] = s11;
            ws[w0 + 2096] = s12;
            ws[w0 + 3136] = s13;
            ws[w0 + 32] = s20;
            ws[w0 + 1072] = s21;
            ws[w0 + 2112] = s22;
            ws[w0 + 3152] = s23;
            ws[w0 + 48] = s30;
            ws[w0 + 1088] = s31;
            ws[w0 + 2128] = s32;
            ws[w0 + 3168] = s33;
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
        AttentionKernels.storeOutput(o, base, qa, tx, tokens, headDim, o00);
        AttentionKernels.storeOutput(o, base, qa, tx + 16, tokens, headDim, o01);
        AttentionKernels.storeOutput(o, base, qa, tx + 32, tokens, headDim, o02);
        AttentionKernels.storeOutput(o, base, qa, tx + 48, tokens, headDim, o03);
        AttentionKernels.storeOutput(o, base, qa + 16, tx, tokens, headDim, o10);
        AttentionKernels.storeOutput(o, base, qa + 16, tx + 16, tokens, headDim, o11);
        AttentionKernels.storeOutput(o, base, qa + 16, tx + 32, tokens, headDim, o12);
        AttentionKernels.storeOutput(o, base, qa + 16, tx + 48, tokens, headDim, o13);
        AttentionKernels.storeOutput(o, base, qa + 32, tx, tokens, headDim, o20);
        AttentionKernels.storeOutput(o, base, qa + 32, tx + 16, tokens, headDim, o21);
        AttentionKernels.storeOutput(o, base, qa + 32, tx + 32, tokens, headDim, o22);
        AttentionKernels.storeOutput(o, base, qa + 32, tx + 48, tokens, headDim, o23);
        AttentionKernels.storeOutput(o, base, qa + 48, tx, tokens, headDim, o30);
        AttentionKernels.storeOutput(o, base, qa + 48, tx + 16, tokens, headDim, o31);
        AttentionKernels.storeOutput(o, base, qa + 48, tx + 32, tokens, headDim, o32);
        AttentionKernels.storeOutput(o, base, qa + 48, tx + 48, tokens, headDim, o33);
    }

    /** A scaled score, or {@link #MASKED} for a key past the end. */
    private static float masked(float s, int key, int tokens, float qkScale) {
        return key < tokens ? s * qkScale : MASKED;
    }

    private static float max4(float a, float b, float c, float d) {
        return TornadoMath.max(TornadoMath.max(a, b), TornadoMath.max(c, d));
    }

    private static void storeWeight(FloatArray weights, int mapBase, int query, int key, int tokens, float w) {
        if (query < tokens && key < tokens) weights.set(mapBase + query * tokens + key, w);
    }
}
