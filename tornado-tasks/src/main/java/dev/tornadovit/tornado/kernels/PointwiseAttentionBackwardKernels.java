package dev.tornadovit.tornado.kernels;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * Pointwise attention's backward in two kernels, from the output gradient dO, q, k, v and the kept scores
 * S = qkScale·q·kᵀ, with weights W = L^-α·h(S):
 * <pre>
 *   dW = dO·vᵀ     dS = L^-α·h'(S) ⊙ dW     dv = Wᵀ·dO     dk = qkScale·dSᵀ·q     dq = qkScale·dS·k
 * </pre>
 * The unfused backward writes dW and dS ([BH,T,T] each) and reads them back for three products; here each 64×64
 * block of dW, W and dS lives in registers and local memory only. Pointwise weights need no row statistics (softmax's
 * backward needs each row's Σ W·dW), so a block is finished as soon as its dW is.
 *
 * <p>{@link #keyValueGradients}: a work-group owns 64 keys of one (batch, head), their values held in local memory,
 * and walks the queries in tiles of 64, adding the tile's Wᵀ·dO and dSᵀ·q into registers: dv and dk need no other
 * work-group. {@link #queryGradients}: a work-group owns 64 queries, their output gradients held in local memory,
 * and walks the keys, adding dS·k. dW is computed in both (one of the five 64³ block products a tile pair is
 * repeated), which is what keeps every output to a single writer with no atomics. Both compute dS from the kept
 * scores, the first W too.
 *
 * <p>Same tiling as {@link AttentionKernels}: 16×16 threads, each a 4×4 block (rows ty + 16·r, columns tx + 16·c),
 * operands streamed through local memory 16 at a time, transposed local rows of 65 floats. A thread's scores are read
 * along keys, so consecutive threads read consecutive floats. Tiles past the last token are skipped; elements past it
 * weigh nothing (h(0) ≠ 0 for gelu, softplus and sigmoid, so they are zeroed, not computed). Local arrays are
 * only touched in the kernel bodies themselves: TornadoVM passes an array handed to a helper method as global memory.
 * Head dimension at most 64. Grid (16, ⌈T/64⌉·16, batch·heads), local (16, 16, 1); 37 KB of local memory.
 */
public final class PointwiseAttentionBackwardKernels {
    private PointwiseAttentionBackwardKernels() {
    }

    /**
     * dk (+)= qkScale·dSᵀ·q and dv (+)= Wᵀ·dO for the work-group's 64 keys; {@code accumulate} 1 adds into dk
     * and dv, 0 overwrites them.
     */
    public static void keyValueGradients(KernelContext ctx, FloatArray q, FloatArray dO, FloatArray v,
                                         FloatArray scores, FloatArray dk, FloatArray dv, int tokens, int headDim,
                                         float qkScale, int kind, float scale, int accumulate) {
        float[] vs = ctx.allocateFloatLocalArray(4160); // the keys' values, transposed: vs[d·65 + key]
        float[] tile = ctx.allocateFloatLocalArray(4160); // W, then dS, of a query tile: tile[query·65 + key]
        // 16 dims of dO (stage[dd·65 + query]), or 16 rows of dO or q (stage[qq·64 + d])
        float[] stage = ctx.allocateFloatLocalArray(1040);
        int tx = ctx.localIdx, ty = ctx.localIdy;
        int tid = ty * 16 + tx;
        int k0 = ctx.groupIdy * 64;
        int bh = ctx.groupIdz;
        int base = bh * tokens * headDim;
        int mapBase = bh * tokens * tokens;

        for (int l = 0; l < 16; l++) {
            int idx = tid + l * 256;
            int j = idx / 64, d = idx % 64;
            int kj = k0 + j;
            float value = 0f;
            if (kj < tokens && d < headDim) value = v.get(base + kj * headDim + d);
            vs[d * 65 + j] = value;
        }
        // dv and dk of keys ty + 16·r, dimensions tx + 16·c
        float v00 = 0f, v01 = 0f, v02 = 0f, v03 = 0f, v10 = 0f, v11 = 0f, v12 = 0f, v13 = 0f;
        float v20 = 0f, v21 = 0f, v22 = 0f, v23 = 0f, v30 = 0f, v31 = 0f, v32 = 0f, v33 = 0f;
        float k00 = 0f, k01 = 0f, k02 = 0f, k03 = 0f, k10 = 0f, k11 = 0f, k12 = 0f, k13 = 0f;
        float k20 = 0f, k21 = 0f, k22 = 0f, k23 = 0f, k30 = 0f, k31 = 0f, k32 = 0f, k33 = 0f;
        int kA = k0 + tx;

        for (int q0 = 0; q0 < tokens; q0 += 64) {
            int span = tokens - q0 > 64 ? 64 : tokens - q0;
            // dW[query ty + 16·r][key tx + 16·c] = Σ_d dO·v
            float g00 = 0f, g01 = 0f, g02 = 0f, g03 = 0f, g10 = 0f, g11 = 0f, g12 = 0f, g13 = 0f;
            float g20 = 0f, g21 = 0f, g22 = 0f, g23 = 0f, g30 = 0f, g31 = 0f, g32 = 0f, g33 = 0f;
            for (int d0 = 0; d0 < headDim; d0 += 16) {
                ctx.localBarrier();
                for (int l = 0; l < 4; l++) {
                    int idx = tid + l * 256;
                    int i = idx / 16, dd = idx % 16;
                    int qi = q0 + i, d = d0 + dd;
                    float value = 0f;
                    if (qi < tokens && d < headDim) value = dO.get(base + qi * headDim + d);
                    stage[dd * 65 + i] = value;
                }
                ctx.localBarrier();
                for (int dd = 0; dd < 16; dd++) {
                    int go = dd * 65 + ty, vo = (d0 + dd) * 65 + tx;
                    float a0 = stage[go], a1 = stage[go + 16], a2 = stage[go + 32], a3 = stage[go + 48];
                    float b0 = vs[vo], b1 = vs[vo + 16], b2 = vs[vo + 32], b3 = vs[vo + 48];
                    g00 += a0 * b0;
                    g01 += a0 * b1;
                    g02 += a0 * b2;
                    g03 += a0 * b3;
                    g10 += a1 * b0;
                    g11 += a1 * b1;
                    g12 += a1 * b2;
                    g13 += a1 * b3;
                    g20 += a2 * b0;
                    g21 += a2 * b1;
                    g22 += a2 * b2;
                    g23 += a2 * b3;
                    g30 += a3 * b0;
                    g31 += a3 * b1;
                    g32 += a3 * b2;
                    g33 += a3 * b3;
                }
            }
            int qa = q0 + ty;
            // dS of this thread's 16 elements into registers; W into the tile (the dW loop's barriers separate this
            // from the previous tile's readers)
            float d00 = slope(scores, mapBase, qa, kA, tokens, g00, kind, scale);
            float d01 = slope(scores, mapBase, qa, kA + 16, tokens, g01, kind, scale);
            float d02 = slope(scores, mapBase, qa, kA + 32, tokens, g02, kind, scale);
            float d03 = slope(scores, mapBase, qa, kA + 48, tokens, g03, kind, scale);
            float d10 = slope(scores, mapBase, qa + 16, kA, tokens, g10, kind, scale);
            float d11 = slope(scores, mapBase, qa + 16, kA + 16, tokens, g11, kind, scale);
            float d12 = slope(scores, mapBase, qa + 16, kA + 32, tokens, g12, kind, scale);
            float d13 = slope(scores, mapBase, qa + 16, kA + 48, tokens, g13, kind, scale);
            float d20 = slope(scores, mapBase, qa + 32, kA, tokens, g20, kind, scale);
            float d21 = slope(scores, mapBase, qa + 32, kA + 16, tokens, g21, kind, scale);
            float d22 = slope(scores, mapBase, qa + 32, kA + 32, tokens, g22, kind, scale);
            float d23 = slope(scores, mapBase, qa + 32, kA + 48, tokens, g23, kind, scale);
            float d30 = slope(scores, mapBase, qa + 48, kA, tokens, g30, kind, scale);
            float d31 = slope(scores, mapBase, qa + 48, kA + 16, tokens, g31, kind, scale);
            float d32 = slope(scores, mapBase, qa + 48, kA + 32, tokens, g32, kind, scale);
            float d33 = slope(scores, mapBase, qa + 48, kA + 48, tokens, g33, kind, scale);
            int t0 = ty * 65 + tx;
            tile[t0] = weight(scores, mapBase, qa, kA, tokens, kind, scale);
            tile[t0 + 16] = weight(scores, mapBase, qa, kA + 16, tokens, kind, scale);
            tile[t0 + 32] = weight(scores, mapBase, qa, kA + 32, tokens, kind, scale);
            tile[t0 + 48] = weight(scores, mapBase, qa, kA + 48, tokens, kind, scale);
            tile[t0 + 1040] = weight(scores, mapBase, qa + 16, kA, tokens, kind, scale);
            tile[t0 + 1056] = weight(scores, mapBase, qa + 16, kA + 16, tokens, kind, scale);
            tile[t0 + 1072] = weight(scores, mapBase, qa + 16, kA + 32, tokens, kind, scale);
            tile[t0 + 1088] = weight(scores, mapBase, qa + 16, kA + 48, tokens, kind, scale);
            tile[t0 + 2080] = weight(scores, mapBase, qa + 32, kA, tokens, kind, scale);
            tile[t0 + 2096] = weight(scores, mapBase, qa + 32, kA + 16, tokens, kind, scale);
            tile[t0 + 2112] = weight(scores, mapBase, qa + 32, kA + 32, tokens, kind, scale);
            tile[t0 + 2128] = weight(scores, mapBase, qa + 32, kA + 48, tokens, kind, scale);
            tile[t0 + 3120] = weight(scores, mapBase, qa + 48, kA, tokens, kind, scale);
            tile[t0 + 3136] = weight(scores, mapBase, qa + 48, kA + 16, tokens, kind, scale);
            tile[t0 + 3152] = weight(scores, mapBase, qa + 48, kA + 32, tokens, kind, scale);
            tile[t0 + 3168] = weight(scores, mapBase, qa + 48, kA + 48, tokens, kind, scale);
            // dv[key ty + 16·r][d tx + 16·c] += Σ_query W[query][key]·dO[query][d]
            for (int j0 = 0; j0 < span; j0 += 16) {
                ctx.localBarrier();
                for (int l = 0; l < 4; l++) { // rows q0 + j0.. into stage[row·64 + d], zero past the end
                    int idx = tid + l * 256;
                    int row = idx / 64, d = idx % 64;
                    int at = q0 + j0 + row;
                    float value = 0f;
                    if (at < tokens && d < headDim) value = dO.get(base + at * headDim + d);
                    stage[row * 64 + d] = value;
                }
                ctx.localBarrier();
                for (int qq = 0; qq < 16; qq++) {
                    int wo = (j0 + qq) * 65 + ty, go = qq * 64 + tx;
                    float a0 = tile[wo], a1 = tile[wo + 16], a2 = tile[wo + 32], a3 = tile[wo + 48];
                    float b0 = stage[go], b1 = stage[go + 16], b2 = stage[go + 32], b3 = stage[go + 48];
                    v00 += a0 * b0;
                    v01 += a0 * b1;
                    v02 += a0 * b2;
                    v03 += a0 * b3;
                    v10 += a1 * b0;
                    v11 += a1 * b1;
                    v12 += a1 * b2;
                    v13 += a1 * b3;
                    v20 += a2 * b0;
                    v21 += a2 * b1;
                    v22 += a2 * b2;
                    v23 += a2 * b3;
                    v30 += a3 * b0;
                    v31 += a3 * b1;
                    v32 += a3 * b2;
                    v33 += a3 * b3;
                }
            }
            ctx.localBarrier(); // every thread has read W before dS takes its place
            tile[t0] = d00;
            tile[t0 + 16] = d01;
            tile[t0 + 32] = d02;
            tile[t0 + 48] = d03;
            tile[t0 + 1040] = d10;
            tile[t0 + 1056] = d11;
            tile[t0 + 1072] = d12;
            tile[t0 + 1088] = d13;
            tile[t0 + 2080] = d20;
            tile[t0 + 2096] = d21;
            tile[t0 + 2112] = d22;
            tile[t0 + 2128] = d23;
            tile[t0 + 3120] = d30;
            tile[t0 + 3136] = d31;
            tile[t0 + 3152] = d32;
            tile[t0 + 3168] = d33;
            // dk[key ty + 16·r][d tx + 16·c] += Σ_query dS[query][key]·q[query][d]
            for (int j0 = 0; j0 < span; j0 += 16) {
                ctx.localBarrier();
                for (int l = 0; l < 4; l++) { // rows q0 + j0.. into stage[row·64 + d], zero past the end
                    int idx = tid + l * 256;
                    int row = idx / 64, d = idx % 64;
                    int at = q0 + j0 + row;
                    float value = 0f;
                    if (at < tokens && d < headDim) value = q.get(base + at * headDim + d);
                    stage[row * 64 + d] = value;
                }
                ctx.localBarrier();
                for (int qq = 0; qq < 16; qq++) {
                    int so = (j0 + qq) * 65 + ty, qo = qq * 64 + tx;
                    float a0 = tile[so], a1 = tile[so + 16], a2 = tile[so + 32], a3 = tile[so + 48];
                    float b0 = stage[qo], b1 = stage[qo + 16], b2 = stage[qo + 32], b3 = stage[qo + 48];
                    k00 += a0 * b0;
                    k01 += a0 * b1;
                    k02 += a0 * b2;
                    k03 += a0 * b3;
                    k10 += a1 * b0;
                    k11 += a1 * b1;
                    k12 += a1 * b2;
                    k13 += a1 * b3;
                    k20 += a2 * b0;
                    k21 += a2 * b1;
                    k22 += a2 * b2;
                    k23 += a2 * b3;
                    k30 += a3 * b0;
                    k31 += a3 * b1;
                    k32 += a3 * b2;
                    k33 += a3 * b3;
                }
            }
        }
        int ka = k0 + ty;
        store(dv, base, ka, tx, tokens, headDim, v00, 1f, accumulate);
        store(dv, base, ka, tx + 16, tokens, headDim, v01, 1f, accumulate);
        store(dv, base, ka, tx + 32, tokens, headDim, v02, 1f, accumulate);
        store(dv, base, ka, tx + 48, tokens, headDim, v03, 1f, accumulate);
        store(dv, base, ka + 16, tx, tokens, headDim, v10, 1f, accumulate);
        store(dv, base, ka + 16, tx + 16, tokens, headDim, v11, 1f, accumulate);
        store(dv, base, ka + 16, tx + 32, tokens, headDim, v12, 1f, accumulate);
        store(dv, base, ka + 16, tx + 48, tokens, headDim, v13, 1f, accumulate);
        store(dv, base, ka + 32, tx, tokens, headDim, v20, 1f, accumulate);
        store(dv, base, ka + 32, tx + 16, tokens, headDim, v21, 1f, accumulate);
        store(dv, base, ka + 32, tx + 32, tokens, headDim, v22, 1f, accumulate);
        store(dv, base, ka + 32, tx + 48, tokens, headDim, v23, 1f, accumulate);
        store(dv, base, ka + 48, tx, tokens, headDim, v30, 1f, accumulate);
        store(dv, base, ka + 48, tx + 16, tokens, headDim, v31, 1f, accumulate);
        store(dv, base, ka + 48, tx + 32, tokens, headDim, v32, 1f, accumulate);
        store(dv, base, ka + 48, tx + 48, tokens, headDim, v33, 1f, accumulate);
        store(dk, base, ka, tx, tokens, headDim, k00, qkScale, accumulate);
        store(dk, base, ka, tx + 16, tokens, headDim, k01, qkScale, accumulate);
        store(dk, base, ka, tx + 32, tokens, headDim, k02, qkScale, accumulate);
        store(dk, base, ka, tx + 48, tokens, headDim, k03, qkScale, accumulate);
        store(dk, base, ka + 16, tx, tokens, headDim, k10, qkScale, accumulate);
        store(dk, base, ka + 16, tx + 16, tokens, headDim, k11, qkScale, accumulate);
        store(dk, base, ka + 16, tx + 32, tokens, headDim, k12, qkScale, accumulate);
        store(dk, base, ka + 16, tx + 48, tokens, headDim, k13, qkScale, accumulate);
        store(dk, base, ka + 32, tx, tokens, headDim, k20, qkScale, accumulate);
        store(dk, base, ka + 32, tx + 16, tokens, headDim, k21, qkScale, accumulate);
        store(dk, base, ka + 32, tx + 32, tokens, headDim, k22, qkScale, accumulate);
        store(dk, base, ka + 32, tx + 48, tokens, headDim, k23, qkScale, accumulate);
        store(dk, base, ka + 48, tx, tokens, headDim, k30, qkScale, accumulate);
        store(dk, base, ka + 48, tx + 16, tokens, headDim, k31, qkScale, accumulate);
        store(dk, base, ka + 48, tx + 32, tokens, headDim, k32, qkScale, accumulate);
        store(dk, base, ka + 48, tx + 48, tokens, headDim, k33, qkScale, accumulate);
    }

    /** dq (+)= qkScale·dS·k for the work-group's 64 queries; {@code accumulate} 1 adds into dq, 0 overwrites it. */
    public static void queryGradients(KernelContext ctx, FloatArray dO, FloatArray k, FloatArray v, FloatArray scores,
                                      FloatArray dq, int tokens, int headDim, float qkScale, int kind, float scale,
                                      int accumulate) {
        float[] gs = ctx.allocateFloatLocalArray(4160); // the queries' output gradients, transposed: gs[d·65 + query]
        float[] ds = ctx.allocateFloatLocalArray(4160); // dS of a key tile, transposed: ds[key·65 + query]
        // 16 dims of v (stage[dd·65 + key]), or 16 rows of k (stage[kk·64 + d])
        float[] stage = ctx.allocateFloatLocalArray(1040);
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
            if (qi < tokens && d < headDim) value = dO.get(base + qi * headDim + d);
            gs[d * 65 + r] = value;
        }
        // dq of queries ty + 16·r, dimensions tx + 16·c
        float o00 = 0f, o01 = 0f, o02 = 0f, o03 = 0f, o10 = 0f, o11 = 0f, o12 = 0f, o13 = 0f;
        float o20 = 0f, o21 = 0f, o22 = 0f, o23 = 0f, o30 = 0f, o31 = 0f, o32 = 0f, o33 = 0f;
        int qa = q0 + ty;

        for (int k0 = 0; k0 < tokens; k0 += 64) {
            int span = tokens - k0 > 64 ? 64 : tokens - k0;
            // dW[query ty + 16·r][key tx + 16·c] = Σ_d dO·v
            float g00 = 0f, g01 = 0f, g02 = 0f, g03 = 0f, g10 = 0f, g11 = 0f, g12 = 0f, g13 = 0f;
            float g20 = 0f, g21 = 0f, g22 = 0f, g23 = 0f, g30 = 0f, g31 = 0f, g32 = 0f, g33 = 0f;
            for (int d0 = 0; d0 < headDim; d0 += 16) {
                ctx.localBarrier();
                for (int l = 0; l < 4; l++) {
                    int idx = tid + l * 256;
                    int j = idx / 16, dd = idx % 16;
                    int kj = k0 + j, d = d0 + dd;
                    float value = 0f;
                    if (kj < tokens && d < headDim) value = v.get(base + kj * headDim + d);
                    stage[dd * 65 + j] = value;
                }
                ctx.localBarrier();
                for (int dd = 0; dd < 16; dd++) {
                    int go = (d0 + dd) * 65 + ty, vo = dd * 65 + tx;
                    float a0 = gs[go], a1 = gs[go + 16], a2 = gs[go + 32], a3 = gs[go + 48];
                    float b0 = stage[vo], b1 = stage[vo + 16], b2 = stage[vo + 32], b3 = stage[vo + 48];
                    g00 += a0 * b0;
                    g01 += a0 * b1;
                    g02 += a0 * b2;
                    g03 += a0 * b3;
                    g10 += a1 * b0;
                    g11 += a1 * b1;
                    g12 += a1 * b2;
                    g13 += a1 * b3;
                    g20 += a2 * b0;
                    g21 += a2 * b1;
                    g22 += a2 * b2;
                    g23 += a2 * b3;
                    g30 += a3 * b0;
                    g31 += a3 * b1;
                    g32 += a3 * b2;
                    g33 += a3 * b3;
                }
            }
            int kA = k0 + tx;
            int s0 = tx * 65 + ty; // ds[key·65 + query]; the dW loop's barriers separate this from earlier readers
            ds[s0] = slope(scores, mapBase, qa, kA, tokens, g00, kind, scale);
            ds[s0 + 1040] = slope(scores, mapBase, qa, kA + 16, tokens, g01, kind, scale);
            ds[s0 + 2080] = slope(scores, mapBase, qa, kA + 32, tokens, g02, kind, scale);
            ds[s0 + 3120] = slope(scores, mapBase, qa, kA + 48, tokens, g03, kind, scale);
            ds[s0 + 16] = slope(scores, mapBase, qa + 16, kA, tokens, g10, kind, scale);
            ds[s0 + 1056] = slope(scores, mapBase, qa + 16, kA + 16, tokens, g11, kind, scale);
            ds[s0 + 2096] = slope(scores, mapBase, qa + 16, kA + 32, tokens, g12, kind, scale);
            ds[s0 + 3136] = slope(scores, mapBase, qa + 16, kA + 48, tokens, g13, kind, scale);
            ds[s0 + 32] = slope(scores, mapBase, qa + 32, kA, tokens, g20, kind, scale);
            ds[s0 + 1072] = slope(scores, mapBase, qa + 32, kA + 16, tokens, g21, kind, scale);
            ds[s0 + 2112] = slope(scores, mapBase, qa + 32, kA + 32, tokens, g22, kind, scale);
            ds[s0 + 3152] = slope(scores, mapBase, qa + 32, kA + 48, tokens, g23, kind, scale);
            ds[s0 + 48] = slope(scores, mapBase, qa + 48, kA, tokens, g30, kind, scale);
            ds[s0 + 1088] = slope(scores, mapBase, qa + 48, kA + 16, tokens, g31, kind, scale);
            ds[s0 + 2128] = slope(scores, mapBase, qa + 48, kA + 32, tokens, g32, kind, scale);
            ds[s0 + 3168] = slope(scores, mapBase, qa + 48, kA + 48, tokens, g33, kind, scale);
            // dq[query ty + 16·r][d tx + 16·c] += Σ_key dS[query][key]·k[key][d]
            for (int j0 = 0; j0 < span; j0 += 16) {
                ctx.localBarrier();
                for (int l = 0; l < 4; l++) { // rows k0 + j0.. into stage[row·64 + d], zero past the end
                    int idx = tid + l * 256;
                    int row = idx / 64, d = idx % 64;
                    int at = k0 + j0 + row;
                    float value = 0f;
                    if (at < tokens && d < headDim) value = k.get(base + at * headDim + d);
                    stage[row * 64 + d] = value;
                }
                ctx.localBarrier();
                for (int kk = 0; kk < 16; kk++) {
                    int so = (j0 + kk) * 65 + ty, ko = kk * 64 + tx;
                    float a0 = ds[so], a1 = ds[so + 16], a2 = ds[so + 32], a3 = ds[so + 48];
                    float b0 = stage[ko], b1 = stage[ko + 16], b2 = stage[ko + 32], b3 = stage[ko + 48];
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
        store(dq, base, qa, tx, tokens, headDim, o00, qkScale, accumulate);
        store(dq, base, qa, tx + 16, tokens, headDim, o01, qkScale, accumulate);
        store(dq, base, qa, tx + 32, tokens, headDim, o02, qkScale, accumulate);
        store(dq, base, qa, tx + 48, tokens, headDim, o03, qkScale, accumulate);
        store(dq, base, qa + 16, tx, tokens, headDim, o10, qkScale, accumulate);
        store(dq, base, qa + 16, tx + 16, tokens, headDim, o11, qkScale, accumulate);
        store(dq, base, qa + 16, tx + 32, tokens, headDim, o12, qkScale, accumulate);
        store(dq, base, qa + 16, tx + 48, tokens, headDim, o13, qkScale, accumulate);
        store(dq, base, qa + 32, tx, tokens, headDim, o20, qkScale, accumulate);
        store(dq, base, qa + 32, tx + 16, tokens, headDim, o21, qkScale, accumulate);
        store(dq, base, qa + 32, tx + 32, tokens, headDim, o22, qkScale, accumulate);
        store(dq, base, qa + 32, tx + 48, tokens, headDim, o23, qkScale, accumulate);
        store(dq, base, qa + 48, tx, tokens, headDim, o30, qkScale, accumulate);
        store(dq, base, qa + 48, tx + 16, tokens, headDim, o31, qkScale, accumulate);
        store(dq, base, qa + 48, tx + 32, tokens, headDim, o32, qkScale, accumulate);
        store(dq, base, qa + 48, tx + 48, tokens, headDim, o33, qkScale, accumulate);
    }

    /** W = L^-α·h(S) of one element; nothing past the last query or key. */
    private static float weight(FloatArray scores, int mapBase, int query, int key, int tokens, int kind, float scale) {
        float w = 0f;
        if (query < tokens && key < tokens) {
            w = scale * DeviceMath.activation(kind, scores.get(mapBase + query * tokens + key));
        }
        return w;
    }

    /** dS = L^-α·h'(S)·dW of one element; nothing past the last query or key. */
    private static float slope(FloatArray scores, int mapBase, int query, int key, int tokens, float dWeight, int kind,
                               float scale) {
        float g = 0f;
        if (query < tokens && key < tokens) {
            g = scale * DeviceMath.activationDerivative(kind, scores.get(mapBase + query * tokens + key)) * dWeight;
        }
        return g;
    }

    /** Writes (or adds) factor·value to one element of a [T, headDim] head, skipping the padding. */
    private static void store(FloatArray x, int base, int row, int d, int tokens, int headDim, float value,
                              float factor, int accumulate) {
        if (row < tokens && d < headDim) {
            int at = base + row * headDim + d;
            float result = factor * value;
            if (accumulate == 1) result += x.get(at);
            x.set(at, result);
        }
    }
}
