package dev.tornadovit.tornado.kernels;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * The batched matrix product of every linear layer and attention product, forward and backward:
 * C[z] (+)= alpha · op(A[z]) · op(B[z]) (+ bias), one kernel per layout so that no load decides at run time which
 * axis of its operand is contiguous: {@link #gemmNN} (A [M,K], B [K,N]), {@link #gemmNT} (B stored [N,K]: x·Wᵀ, the
 * forward of a linear layer) and {@link #gemmTN} (A stored [K,M]: the weight gradient dyᵀ·x). C is [M,N]; batch z
 * starts at z·stride in each array (stride 0: shared). Edges are zero-padded, so any size works.
 *
 * <p>Tiling: a work-group of 8×8 threads computes a 64×64 tile of C, each thread an 8×8 block at rows ty + 8·r and
 * columns tx + 8·c (interleaved, so that neighbouring threads touch neighbouring addresses in local memory and a warp
 * stores whole 32-byte sectors of C). K advances in slices of 16 through two 16×64 tiles in local memory, each loaded
 * along the contiguous axis of its operand (16 threads along K, or 64 along M or N). Per step of K a thread makes 16
 * local loads for 64 multiply-adds (a 4×4 block makes 8 for 16), about what an SM's shared memory can serve beside
 * its FMA units, where 4×4 blocks left half of them idle.
 *
 * <p>Double buffering: the local tiles have two halves. While a thread multiplies the slice in one half, the next
 * slice's 32 values it loads are already on their way into registers; it stores them into the other half after its
 * multiply-adds, and one barrier per slice separates both (the half being written was last read two slices before,
 * ahead of the previous barrier). Rows of the local tiles are 66 floats apart, not 64: a warp storing a tile read
 * along K (16 threads per row) then hits 32 different banks instead of one bank 16 times (on an H100 this took
 * ViT-S/16 inference from 1054 to 1309 img/s with the earlier 4×4 kernel).
 *
 * <p>Occupancy on an H100 (65 536 registers and 228 KB of shared memory per SM, at most 32 work-groups): a thread
 * holds 64 accumulators, 16 operands of the current step, 32 prefetched values and about 15 indices, ≈ 130 registers,
 * so a 64-thread group takes ≈ 8 300 registers and 7–8 groups fit; even at the 255-register maximum 64·255 = 16 320
 * lets 4 fit. The local tiles take 2 halves × 2 operands × 16 × 66 × 4 B = 16.9 KB, room for 12 groups. So at least
 * 3 groups (4–8) share each SM, against 2 for an earlier 128×128-tile variant (256 threads, 8×8 each, 120 registers)
 * that was slower than 4×4 per thread on 8 of the 10 ViT-S/16 linear products: too little global-load latency hidden.
 * In warps the two are alike (8–16 per SM); here the latency is covered by the prefetch, which no barrier waits on
 * before the next slice, and by more groups reaching their barriers independently. A
 * 128×64 tile with 8×4 per thread on 256 threads would keep 3 groups only below 85 registers (65 536 / 768), and its
 * 32 accumulators, 12 operands, 12 prefetched values and indices come to 70–90: not a promise one can make unmeasured.
 *
 * <p>Loads are scalar: TornadoVM's FloatArray has only get and set, and its vector types (Float4 and the like) read
 * from VectorFloat4-style collections, not from the FloatArray every device tensor is. The kernels are written out
 * in full rather than sharing one body: TornadoVM refuses to inline a helper of more than twice Graal's
 * MaximumInliningSize nodes, and no helper can hand back 64 accumulators; the loads and the epilogue use small
 * static helpers, which it inlines.
 *
 * <p>Measured on an H100 (CUDA backend, ViT-S/16's twelve linear-layer products at batch 128): 52–87 % of cuBLASLt in
 * the same run, 66 % on average (docs/gpu.md).
 * Grid: (⌈N/64⌉·8, ⌈M/64⌉·8, batches), local (8, 8, 1).
 */
public final class MatmulKernels {
    private MatmulKernels() {
    }

    /** The epilogues: C alone; C and GELU(C) ({@link #gemmNT}); C ⊙ GELU'(other) ({@link #gemmNN}). */
    public static final int NONE = 0, GELU = 1, GELU_BACKWARD = 2;

    /** Tile edge, threads per tile edge (each computing TILE / THREADS outputs along it), K per slice. */
    public static final int TILE = 64, THREADS = 8, DEPTH = 16;
    /** A local tile's row (a padded TILE) and one half of a local tile. */
    private static final int ROW = 66, SLICE = DEPTH * ROW;

    /**
     * C[z] (+)= alpha·A[z]·B[z] (+ bias): A [M,K], B [K,N] (dy·W, weights·v, dS·k). With {@code activation}
     * {@link #GELU_BACKWARD} each product is multiplied by GELU'({@code other}) at its place before it is stored: the
     * gradient of an MLP's hidden layer straight from fc2's input-gradient product; {@link #NONE} leaves
     * {@code other} unread.
     */
    public static void gemmNN(KernelContext ctx, FloatArray a, FloatArray b, FloatArray c, FloatArray bias,
                              FloatArray other, int m, int n, int k, int strideA, int strideB, int strideC,
                              float alpha, int accumulate, int hasBias, int activation) {
        float[] as = ctx.allocateFloatLocalArray(2 * SLICE); // two halves of [DEPTH][ROW]: as[half + kk·ROW + i]
        float[] bs = ctx.allocateFloatLocalArray(2 * SLICE); // two halves of [DEPTH][ROW]: bs[half + kk·ROW + j]
        int tx = ctx.localIdx, ty = ctx.localIdy, t = ty * THREADS + tx;
        int row0 = ctx.groupIdy * TILE, col0 = ctx.groupIdx * TILE, z = ctx.groupIdz;
        // A [M,K], read along K: row row0 + t/16 + 4l, column k0 + t%16 of the slice, for l = 0..15
        int aRowsLeft = m - row0 - t / DEPTH, aStep = 4 * k;
        int aIndex = z * strideA + (row0 + t / DEPTH) * k + t % DEPTH, aLocal = t % DEPTH * ROW + t / DEPTH;
        // B [K,N], read along N: row k0 + l of the slice, column col0 + t, for l = 0..15
        boolean bColIn = col0 + t < n;
        int bIndex = z * strideB + col0 + t;
        float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f, c04 = 0f, c05 = 0f, c06 = 0f, c07 = 0f;
        float c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f, c14 = 0f, c15 = 0f, c16 = 0f, c17 = 0f;
        float c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f, c24 = 0f, c25 = 0f, c26 = 0f, c27 = 0f;
        float c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f, c34 = 0f, c35 = 0f, c36 = 0f, c37 = 0f;
        float c40 = 0f, c41 = 0f, c42 = 0f, c43 = 0f, c44 = 0f, c45 = 0f, c46 = 0f, c47 = 0f;
        float c50 = 0f, c51 = 0f, c52 = 0f, c53 = 0f, c54 = 0f, c55 = 0f, c56 = 0f, c57 = 0f;
        float c60 = 0f, c61 = 0f, c62 = 0f, c63 = 0f, c64 = 0f, c65 = 0f, c66 = 0f, c67 = 0f;
        float c70 = 0f, c71 = 0f, c72 = 0f, c73 = 0f, c74 = 0f, c75 = 0f, c76 = 0f, c77 = 0f;
        // the next slice's values, loaded while the current one is multiplied
        float pa0 = 0f, pa1 = 0f, pa2 = 0f, pa3 = 0f, pa4 = 0f, pa5 = 0f, pa6 = 0f, pa7 = 0f;
        float pa8 = 0f, pa9 = 0f, pa10 = 0f, pa11 = 0f, pa12 = 0f, pa13 = 0f, pa14 = 0f, pa15 = 0f;
        float pb0 = 0f, pb1 = 0f, pb2 = 0f, pb3 = 0f, pb4 = 0f, pb5 = 0f, pb6 = 0f, pb7 = 0f;
        float pb8 = 0f, pb9 = 0f, pb10 = 0f, pb11 = 0f, pb12 = 0f, pb13 = 0f, pb14 = 0f, pb15 = 0f;
        for (int k0 = 0; k0 < k + DEPTH; k0 += DEPTH) {
            // store slice k0 - DEPTH (zeros at k0 = 0) into this step's half: the last reads of that half were two
            // steps ago, before the previous step's barrier
            int half = (k0 & DEPTH) * ROW;
            int at = half + aLocal;
            as[at] = pa0; as[at + 4] = pa1;
            as[at + 8] = pa2; as[at + 12] = pa3;
            as[at + 16] = pa4; as[at + 20] = pa5;
            as[at + 24] = pa6; as[at + 28] = pa7;
            as[at + 32] = pa8; as[at + 36] = pa9;
            as[at + 40] = pa10; as[at + 44] = pa11;
            as[at + 48] = pa12; as[at + 52] = pa13;
            as[at + 56] = pa14; as[at + 60] = pa15;
            int bt = half + t;
            bs[bt] = pb0; bs[bt + ROW] = pb1;
            bs[bt + 2 * ROW] = pb2; bs[bt + 3 * ROW] = pb3;
            bs[bt + 4 * ROW] = pb4; bs[bt + 5 * ROW] = pb5;
            bs[bt + 6 * ROW] = pb6; bs[bt + 7 * ROW] = pb7;
            bs[bt + 8 * ROW] = pb8; bs[bt + 9 * ROW] = pb9;
            bs[bt + 10 * ROW] = pb10; bs[bt + 11 * ROW] = pb11;
            bs[bt + 12 * ROW] = pb12; bs[bt + 13 * ROW] = pb13;
            bs[bt + 14 * ROW] = pb14; bs[bt + 15 * ROW] = pb15;
            ctx.localBarrier();
            // load slice k0 (zeros past K) into registers
            boolean aKIn = k0 + t % DEPTH < k;
            int ai = aIndex + k0;
            pa0 = fetch(a, ai, aKIn && 0 < aRowsLeft);
            pa1 = fetch(a, ai + aStep, aKIn && 4 < aRowsLeft);
            pa2 = fetch(a, ai + 2 * aStep, aKIn && 8 < aRowsLeft);
            pa3 = fetch(a, ai + 3 * aStep, aKIn && 12 < aRowsLeft);
            pa4 = fetch(a, ai + 4 * aStep, aKIn && 16 < aRowsLeft);
            pa5 = fetch(a, ai + 5 * aStep, aKIn && 20 < aRowsLeft);
            pa6 = fetch(a, ai + 6 * aStep, aKIn && 24 < aRowsLeft);
            pa7 = fetch(a, ai + 7 * aStep, aKIn && 28 < aRowsLeft);
            pa8 = fetch(a, ai + 8 * aStep, aKIn && 32 < aRowsLeft);
            pa9 = fetch(a, ai + 9 * aStep, aKIn && 36 < aRowsLeft);
            pa10 = fetch(a, ai + 10 * aStep, aKIn && 40 < aRowsLeft);
            pa11 = fetch(a, ai + 11 * aStep, aKIn && 44 < aRowsLeft);
            pa12 = fetch(a, ai + 12 * aStep, aKIn && 48 < aRowsLeft);
            pa13 = fetch(a, ai + 13 * aStep, aKIn && 52 < aRowsLeft);
            pa14 = fetch(a, ai + 14 * aStep, aKIn && 56 < aRowsLeft);
            pa15 = fetch(a, ai + 15 * aStep, aKIn && 60 < aRowsLeft);
            int bi = bIndex + k0 * n, kLeft = k - k0;
            pb0 = fetch(b, bi, bColIn && 0 < kLeft);
            pb1 = fetch(b, bi + n, bColIn && 1 < kLeft);
            pb2 = fetch(b, bi + 2 * n, bColIn && 2 < kLeft);
            pb3 = fetch(b, bi + 3 * n, bColIn && 3 < kLeft);
            pb4 = fetch(b, bi + 4 * n, bColIn && 4 < kLeft);
            pb5 = fetch(b, bi + 5 * n, bColIn && 5 < kLeft);
            pb6 = fetch(b, bi + 6 * n, bColIn && 6 < kLeft);
            pb7 = fetch(b, bi + 7 * n, bColIn && 7 < kLeft);
            pb8 = fetch(b, bi + 8 * n, bColIn && 8 < kLeft);
            pb9 = fetch(b, bi + 9 * n, bColIn && 9 < kLeft);
            pb10 = fetch(b, bi + 10 * n, bColIn && 10 < kLeft);
            pb11 = fetch(b, bi + 11 * n, bColIn && 11 < kLeft);
            pb12 = fetch(b, bi + 12 * n, bColIn && 12 < kLeft);
            pb13 = fetch(b, bi + 13 * n, bColIn && 13 < kLeft);
            pb14 = fetch(b, bi + 14 * n, bColIn && 14 < kLeft);
            pb15 = fetch(b, bi + 15 * n, bColIn && 15 < kLeft);
            if (k0 > 0) { // the slice stored above, k0 - 16
                for (int kk = 0; kk < DEPTH; kk++) {
                    int ao = half + kk * ROW + ty, bo = half + kk * ROW + tx;
                    float a0 = as[ao], a1 = as[ao + 8], a2 = as[ao + 16], a3 = as[ao + 24];
                    float a4 = as[ao + 32], a5 = as[ao + 40], a6 = as[ao + 48], a7 = as[ao + 56];
                    float b0 = bs[bo], b1 = bs[bo + 8], b2 = bs[bo + 16], b3 = bs[bo + 24];
                    float b4 = bs[bo + 32], b5 = bs[bo + 40], b6 = bs[bo + 48], b7 = bs[bo + 56];
                    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                    c04 += a0 * b4; c05 += a0 * b5; c06 += a0 * b6; c07 += a0 * b7;
                    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                    c14 += a1 * b4; c15 += a1 * b5; c16 += a1 * b6; c17 += a1 * b7;
                    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                    c24 += a2 * b4; c25 += a2 * b5; c26 += a2 * b6; c27 += a2 * b7;
                    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
                    c34 += a3 * b4; c35 += a3 * b5; c36 += a3 * b6; c37 += a3 * b7;
                    c40 += a4 * b0; c41 += a4 * b1; c42 += a4 * b2; c43 += a4 * b3;
                    c44 += a4 * b4; c45 += a4 * b5; c46 += a4 * b6; c47 += a4 * b7;
                    c50 += a5 * b0; c51 += a5 * b1; c52 += a5 * b2; c53 += a5 * b3;
                    c54 += a5 * b4; c55 += a5 * b5; c56 += a5 * b6; c57 += a5 * b7;
                    c60 += a6 * b0; c61 += a6 * b1; c62 += a6 * b2; c63 += a6 * b3;
                    c64 += a6 * b4; c65 += a6 * b5; c66 += a6 * b6; c67 += a6 * b7;
                    c70 += a7 * b0; c71 += a7 * b1; c72 += a7 * b2; c73 += a7 * b3;
                    c74 += a7 * b4; c75 += a7 * b5; c76 += a7 * b6; c77 += a7 * b7;
                }
            }
        }
        int cBase = z * strideC, i0 = row0 + ty, j0 = col0 + tx;
        storeTwoOfGradient(c, bias, other, cBase, i0, j0, m, n, alpha, accumulate, hasBias, activation,
                c00, c01);
        storeTwoOfGradient(c, bias, other, cBase, i0, j0 + 16, m, n, alpha, accumulate, hasBias, activation,
                c02, c03);
        storeTwoOfGradient(c, bias, other, cBase, i0, j0 + 32, m, n, alpha, accumulate, hasBias, activation,
                c04, c05);
        storeTwoOfGradient(c, bias, other, cBase, i0, j0 + 48, m, n, alpha, accumulate, hasBias, activation,
                c06, c07);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 8, j0, m, n, alpha, accumulate, hasBias, activation,
                c10, c11);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 8, j0 + 16, m, n, alpha, accumulate, hasBias, activation,
                c12, c13);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 8, j0 + 32, m, n, alpha, accumulate, hasBias, activation,
                c14, c15);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 8, j0 + 48, m, n, alpha, accumulate, hasBias, activation,
                c16, c17);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 16, j0, m, n, alpha, accumulate, hasBias, activation,
                c20, c21);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 16, j0 + 16, m, n, alpha, accumulate, hasBias, activation,
                c22, c23);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 16, j0 + 32, m, n, alpha, accumulate, hasBias, activation,
                c24, c25);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 16, j0 + 48, m, n, alpha, accumulate, hasBias, activation,
                c26, c27);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 24, j0, m, n, alpha, accumulate, hasBias, activation,
                c30, c31);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 24, j0 + 16, m, n, alpha, accumulate, hasBias, activation,
                c32, c33);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 24, j0 + 32, m, n, alpha, accumulate, hasBias, activation,
                c34, c35);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 24, j0 + 48, m, n, alpha, accumulate, hasBias, activation,
                c36, c37);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 32, j0, m, n, alpha, accumulate, hasBias, activation,
                c40, c41);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 32, j0 + 16, m, n, alpha, accumulate, hasBias, activation,
                c42, c43);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 32, j0 + 32, m, n, alpha, accumulate, hasBias, activation,
                c44, c45);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 32, j0 + 48, m, n, alpha, accumulate, hasBias, activation,
                c46, c47);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 40, j0, m, n, alpha, accumulate, hasBias, activation,
                c50, c51);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 40, j0 + 16, m, n, alpha, accumulate, hasBias, activation,
                c52, c53);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 40, j0 + 32, m, n, alpha, accumulate, hasBias, activation,
                c54, c55);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 40, j0 + 48, m, n, alpha, accumulate, hasBias, activation,
                c56, c57);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 48, j0, m, n, alpha, accumulate, hasBias, activation,
                c60, c61);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 48, j0 + 16, m, n, alpha, accumulate, hasBias, activation,
                c62, c63);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 48, j0 + 32, m, n, alpha, accumulate, hasBias, activation,
                c64, c65);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 48, j0 + 48, m, n, alpha, accumulate, hasBias, activation,
                c66, c67);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 56, j0, m, n, alpha, accumulate, hasBias, activation,
                c70, c71);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 56, j0 + 16, m, n, alpha, accumulate, hasBias, activation,
                c72, c73);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 56, j0 + 32, m, n, alpha, accumulate, hasBias, activation,
                c74, c75);
        storeTwoOfGradient(c, bias, other, cBase, i0 + 56, j0 + 48, m, n, alpha, accumulate, hasBias, activation,
                c76, c77);
    }

    /**
     * C[z] (+)= alpha·A[z]·B[z]ᵀ (+ bias): A [M,K], B stored [N,K] (x·Wᵀ + b, q·kᵀ). With {@code activation}
     * {@link #GELU} the epilogue also writes GELU(C) into {@code activated} (the MLP's fc1 and its activation in one
     * pass over the hidden values instead of a write, a read and a write); {@link #NONE} leaves {@code activated}
     * alone.
     */
    public static void gemmNT(KernelContext ctx, FloatArray a, FloatArray b, FloatArray c, FloatArray bias,
                              FloatArray activated, int m, int n, int k, int strideA, int strideB, int strideC,
                              float alpha, int accumulate, int hasBias, int activation) {
        float[] as = ctx.allocateFloatLocalArray(2 * SLICE); // two halves of [DEPTH][ROW]: as[half + kk·ROW + i]
        float[] bs = ctx.allocateFloatLocalArray(2 * SLICE); // two halves of [DEPTH][ROW]: bs[half + kk·ROW + j]
        int tx = ctx.localIdx, ty = ctx.localIdy, t = ty * THREADS + tx;
        int row0 = ctx.groupIdy * TILE, col0 = ctx.groupIdx * TILE, z = ctx.groupIdz;
        // A [M,K], read along K: row row0 + t/16 + 4l, column k0 + t%16 of the slice, for l = 0..15
        int aRowsLeft = m - row0 - t / DEPTH, aStep = 4 * k;
        int aIndex = z * strideA + (row0 + t / DEPTH) * k + t % DEPTH, aLocal = t % DEPTH * ROW + t / DEPTH;
        // B stored [N,K], read along K: row col0 + t/16 + 4l, column k0 + t%16 of the slice, for l = 0..15
        int bColsLeft = n - col0 - t / DEPTH, bStep = 4 * k;
        int bIndex = z * strideB + (col0 + t / DEPTH) * k + t % DEPTH, bLocal = t % DEPTH * ROW + t / DEPTH;
        float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f, c04 = 0f, c05 = 0f, c06 = 0f, c07 = 0f;
        float c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f, c14 = 0f, c15 = 0f, c16 = 0f, c17 = 0f;
        float c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f, c24 = 0f, c25 = 0f, c26 = 0f, c27 = 0f;
        float c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f, c34 = 0f, c35 = 0f, c36 = 0f, c37 = 0f;
        float c40 = 0f, c41 = 0f, c42 = 0f, c43 = 0f, c44 = 0f, c45 = 0f, c46 = 0f, c47 = 0f;
        float c50 = 0f, c51 = 0f, c52 = 0f, c53 = 0f, c54 = 0f, c55 = 0f, c56 = 0f, c57 = 0f;
        float c60 = 0f, c61 = 0f, c62 = 0f, c63 = 0f, c64 = 0f, c65 = 0f, c66 = 0f, c67 = 0f;
        float c70 = 0f, c71 = 0f, c72 = 0f, c73 = 0f, c74 = 0f, c75 = 0f, c76 = 0f, c77 = 0f;
        // the next slice's values, loaded while the current one is multiplied
        float pa0 = 0f, pa1 = 0f, pa2 = 0f, pa3 = 0f, pa4 = 0f, pa5 = 0f, pa6 = 0f, pa7 = 0f;
        float pa8 = 0f, pa9 = 0f, pa10 = 0f, pa11 = 0f, pa12 = 0f, pa13 = 0f, pa14 = 0f, pa15 = 0f;
        float pb0 = 0f, pb1 = 0f, pb2 = 0f, pb3 = 0f, pb4 = 0f, pb5 = 0f, pb6 = 0f, pb7 = 0f;
        float pb8 = 0f, pb9 = 0f, pb10 = 0f, pb11 = 0f, pb12 = 0f, pb13 = 0f, pb14 = 0f, pb15 = 0f;
        for (int k0 = 0; k0 < k + DEPTH; k0 += DEPTH) {
            // store slice k0 - DEPTH (zeros at k0 = 0) into this step's half: the last reads of that half were two
            // steps ago, before the previous step's barrier
            int half = (k0 & DEPTH) * ROW;
            int at = half + aLocal;
            as[at] = pa0; as[at + 4] = pa1;
            as[at + 8] = pa2; as[at + 12] = pa3;
            as[at + 16] = pa4; as[at + 20] = pa5;
            as[at + 24] = pa6; as[at + 28] = pa7;
            as[at + 32] = pa8; as[at + 36] = pa9;
            as[at + 40] = pa10; as[at + 44] = pa11;
            as[at + 48] = pa12; as[at + 52] = pa13;
            as[at + 56] = pa14; as[at + 60] = pa15;
            int bt = half + bLocal;
            bs[bt] = pb0; bs[bt + 4] = pb1;
            bs[bt + 8] = pb2; bs[bt + 12] = pb3;
            bs[bt + 16] = pb4; bs[bt + 20] = pb5;
            bs[bt + 24] = pb6; bs[bt + 28] = pb7;
            bs[bt + 32] = pb8; bs[bt + 36] = pb9;
            bs[bt + 40] = pb10; bs[bt + 44] = pb11;
            bs[bt + 48] = pb12; bs[bt + 52] = pb13;
            bs[bt + 56] = pb14; bs[bt + 60] = pb15;
            ctx.localBarrier();
            // load slice k0 (zeros past K) into registers
            boolean aKIn = k0 + t % DEPTH < k;
            int ai = aIndex + k0;
            pa0 = fetch(a, ai, aKIn && 0 < aRowsLeft);
            pa1 = fetch(a, ai + aStep, aKIn && 4 < aRowsLeft);
            pa2 = fetch(a, ai + 2 * aStep, aKIn && 8 < aRowsLeft);
            pa3 = fetch(a, ai + 3 * aStep, aKIn && 12 < aRowsLeft);
            pa4 = fetch(a, ai + 4 * aStep, aKIn && 16 < aRowsLeft);
            pa5 = fetch(a, ai + 5 * aStep, aKIn && 20 < aRowsLeft);
            pa6 = fetch(a, ai + 6 * aStep, aKIn && 24 < aRowsLeft);
            pa7 = fetch(a, ai + 7 * aStep, aKIn && 28 < aRowsLeft);
            pa8 = fetch(a, ai + 8 * aStep, aKIn && 32 < aRowsLeft);
            pa9 = fetch(a, ai + 9 * aStep, aKIn && 36 < aRowsLeft);
            pa10 = fetch(a, ai + 10 * aStep, aKIn && 40 < aRowsLeft);
            pa11 = fetch(a, ai + 11 * aStep, aKIn && 44 < aRowsLeft);
            pa12 = fetch(a, ai + 12 * aStep, aKIn && 48 < aRowsLeft);
            pa13 = fetch(a, ai + 13 * aStep, aKIn && 52 < aRowsLeft);
            pa14 = fetch(a, ai + 14 * aStep, aKIn && 56 < aRowsLeft);
            pa15 = fetch(a, ai + 15 * aStep, aKIn && 60 < aRowsLeft);
            boolean bKIn = k0 + t % DEPTH < k;
            int bi = bIndex + k0;
            pb0 = fetch(b, bi, bKIn && 0 < bColsLeft);
            pb1 = fetch(b, bi + bStep, bKIn && 4 < bColsLeft);
            pb2 = fetch(b, bi + 2 * bStep, bKIn && 8 < bColsLeft);
            pb3 = fetch(b, bi + 3 * bStep, bKIn && 12 < bColsLeft);
            pb4 = fetch(b, bi + 4 * bStep, bKIn && 16 < bColsLeft);
            pb5 = fetch(b, bi + 5 * bStep, bKIn && 20 < bColsLeft);
            pb6 = fetch(b, bi + 6 * bStep, bKIn && 24 < bColsLeft);
            pb7 = fetch(b, bi + 7 * bStep, bKIn && 28 < bColsLeft);
            pb8 = fetch(b, bi + 8 * bStep, bKIn && 32 < bColsLeft);
            pb9 = fetch(b, bi + 9 * bStep, bKIn && 36 < bColsLeft);
            pb10 = fetch(b, bi + 10 * bStep, bKIn && 40 < bColsLeft);
            pb11 = fetch(b, bi + 11 * bStep, bKIn && 44 < bColsLeft);
            pb12 = fetch(b, bi + 12 * bStep, bKIn && 48 < bColsLeft);
            pb13 = fetch(b, bi + 13 * bStep, bKIn && 52 < bColsLeft);
            pb14 = fetch(b, bi + 14 * bStep, bKIn && 56 < bColsLeft);
            pb15 = fetch(b, bi + 15 * bStep, bKIn && 60 < bColsLeft);
            if (k0 > 0) { // the slice stored above, k0 - 16
                for (int kk = 0; kk < DEPTH; kk++) {
                    int ao = half + kk * ROW + ty, bo = half + kk * ROW + tx;
                    float a0 = as[ao], a1 = as[ao + 8], a2 = as[ao + 16], a3 = as[ao + 24];
                    float a4 = as[ao + 32], a5 = as[ao + 40], a6 = as[ao + 48], a7 = as[ao + 56];
                    float b0 = bs[bo], b1 = bs[bo + 8], b2 = bs[bo + 16], b3 = bs[bo + 24];
                    float b4 = bs[bo + 32], b5 = bs[bo + 40], b6 = bs[bo + 48], b7 = bs[bo + 56];
                    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                    c04 += a0 * b4; c05 += a0 * b5; c06 += a0 * b6; c07 += a0 * b7;
                    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                    c14 += a1 * b4; c15 += a1 * b5; c16 += a1 * b6; c17 += a1 * b7;
                    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                    c24 += a2 * b4; c25 += a2 * b5; c26 += a2 * b6; c27 += a2 * b7;
                    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
                    c34 += a3 * b4; c35 += a3 * b5; c36 += a3 * b6; c37 += a3 * b7;
                    c40 += a4 * b0; c41 += a4 * b1; c42 += a4 * b2; c43 += a4 * b3;
                    c44 += a4 * b4; c45 += a4 * b5; c46 += a4 * b6; c47 += a4 * b7;
                    c50 += a5 * b0; c51 += a5 * b1; c52 += a5 * b2; c53 += a5 * b3;
                    c54 += a5 * b4; c55 += a5 * b5; c56 += a5 * b6; c57 += a5 * b7;
                    c60 += a6 * b0; c61 += a6 * b1; c62 += a6 * b2; c63 += a6 * b3;
                    c64 += a6 * b4; c65 += a6 * b5; c66 += a6 * b6; c67 += a6 * b7;
                    c70 += a7 * b0; c71 += a7 * b1; c72 += a7 * b2; c73 += a7 * b3;
                    c74 += a7 * b4; c75 += a7 * b5; c76 += a7 * b6; c77 += a7 * b7;
                }
            }
        }
        int cBase = z * strideC, i0 = row0 + ty, j0 = col0 + tx;
        storeFour(c, bias, activated, cBase, i0, j0, m, n, alpha, accumulate, hasBias, activation, c00, c01, c02, c03);
        storeFour(c, bias, activated, cBase, i0, j0 + 32, m, n, alpha, accumulate, hasBias, activation,
                c04, c05, c06, c07);
        storeFour(c, bias, activated, cBase, i0 + 8, j0, m, n, alpha, accumulate, hasBias, activation,
                c10, c11, c12, c13);
        storeFour(c, bias, activated, cBase, i0 + 8, j0 + 32, m, n, alpha, accumulate, hasBias, activation,
                c14, c15, c16, c17);
        storeFour(c, bias, activated, cBase, i0 + 16, j0, m, n, alpha, accumulate, hasBias, activation,
                c20, c21, c22, c23);
        storeFour(c, bias, activated, cBase, i0 + 16, j0 + 32, m, n, alpha, accumulate, hasBias, activation,
                c24, c25, c26, c27);
        storeFour(c, bias, activated, cBase, i0 + 24, j0, m, n, alpha, accumulate, hasBias, activation,
                c30, c31, c32, c33);
        storeFour(c, bias, activated, cBase, i0 + 24, j0 + 32, m, n, alpha, accumulate, hasBias, activation,
                c34, c35, c36, c37);
        storeFour(c, bias, activated, cBase, i0 + 32, j0, m, n, alpha, accumulate, hasBias, activation,
                c40, c41, c42, c43);
        storeFour(c, bias, activated, cBase, i0 + 32, j0 + 32, m, n, alpha, accumulate, hasBias, activation,
                c44, c45, c46, c47);
        storeFour(c, bias, activated, cBase, i0 + 40, j0, m, n, alpha, accumulate, hasBias, activation,
                c50, c51, c52, c53);
        storeFour(c, bias, activated, cBase, i0 + 40, j0 + 32, m, n, alpha, accumulate, hasBias, activation,
                c54, c55, c56, c57);
        storeFour(c, bias, activated, cBase, i0 + 48, j0, m, n, alpha, accumulate, hasBias, activation,
                c60, c61, c62, c63);
        storeFour(c, bias, activated, cBase, i0 + 48, j0 + 32, m, n, alpha, accumulate, hasBias, activation,
                c64, c65, c66, c67);
        storeFour(c, bias, activated, cBase, i0 + 56, j0, m, n, alpha, accumulate, hasBias, activation,
                c70, c71, c72, c73);
        storeFour(c, bias, activated, cBase, i0 + 56, j0 + 32, m, n, alpha, accumulate, hasBias, activation,
                c74, c75, c76, c77);
    }

    /** C[z] (+)= alpha·A[z]ᵀ·B[z] (+ bias): A stored [K,M], B [K,N] (dyᵀ·x, dSᵀ·q). */
    public static void gemmTN(KernelContext ctx, FloatArray a, FloatArray b, FloatArray c, FloatArray bias,
                              int m, int n, int k, int strideA, int strideB, int strideC, float alpha,
                              int accumulate, int hasBias) {
        float[] as = ctx.allocateFloatLocalArray(2 * SLICE); // two halves of [DEPTH][ROW]: as[half + kk·ROW + i]
        float[] bs = ctx.allocateFloatLocalArray(2 * SLICE); // two halves of [DEPTH][ROW]: bs[half + kk·ROW + j]
        int tx = ctx.localIdx, ty = ctx.localIdy, t = ty * THREADS + tx;
        int row0 = ctx.groupIdy * TILE, col0 = ctx.groupIdx * TILE, z = ctx.groupIdz;
        // A stored [K,M], read along M: row k0 + l of the slice, column row0 + t, for l = 0..15
        boolean aRowIn = row0 + t < m;
        int aIndex = z * strideA + row0 + t;
        // B [K,N], read along N: row k0 + l of the slice, column col0 + t, for l = 0..15
        boolean bColIn = col0 + t < n;
        int bIndex = z * strideB + col0 + t;
        float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f, c04 = 0f, c05 = 0f, c06 = 0f, c07 = 0f;
        float c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f, c14 = 0f, c15 = 0f, c16 = 0f, c17 = 0f;
        float c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f, c24 = 0f, c25 = 0f, c26 = 0f, c27 = 0f;
        float c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f, c34 = 0f, c35 = 0f, c36 = 0f, c37 = 0f;
        float c40 = 0f, c41 = 0f, c42 = 0f, c43 = 0f, c44 = 0f, c45 = 0f, c46 = 0f, c47 = 0f;
        float c50 = 0f, c51 = 0f, c52 = 0f, c53 = 0f, c54 = 0f, c55 = 0f, c56 = 0f, c57 = 0f;
        float c60 = 0f, c61 = 0f, c62 = 0f, c63 = 0f, c64 = 0f, c65 = 0f, c66 = 0f, c67 = 0f;
        float c70 = 0f, c71 = 0f, c72 = 0f, c73 = 0f, c74 = 0f, c75 = 0f, c76 = 0f, c77 = 0f;
        // the next slice's values, loaded while the current one is multiplied
        float pa0 = 0f, pa1 = 0f, pa2 = 0f, pa3 = 0f, pa4 = 0f, pa5 = 0f, pa6 = 0f, pa7 = 0f;
        float pa8 = 0f, pa9 = 0f, pa10 = 0f, pa11 = 0f, pa12 = 0f, pa13 = 0f, pa14 = 0f, pa15 = 0f;
        float pb0 = 0f, pb1 = 0f, pb2 = 0f, pb3 = 0f, pb4 = 0f, pb5 = 0f, pb6 = 0f, pb7 = 0f;
        float pb8 = 0f, pb9 = 0f, pb10 = 0f, pb11 = 0f, pb12 = 0f, pb13 = 0f, pb14 = 0f, pb15 = 0f;
        for (int k0 = 0; k0 < k + DEPTH; k0 += DEPTH) {
            // store slice k0 - DEPTH (zeros at k0 = 0) into this step's half: the last reads of that half were two
            // steps ago, before the previous step's barrier
            int half = (k0 & DEPTH) * ROW;
            int at = half + t;
            as[at] = pa0; as[at + ROW] = pa1;
            as[at + 2 * ROW] = pa2; as[at + 3 * ROW] = pa3;
            as[at + 4 * ROW] = pa4; as[at + 5 * ROW] = pa5;
            as[at + 6 * ROW] = pa6; as[at + 7 * ROW] = pa7;
            as[at + 8 * ROW] = pa8; as[at + 9 * ROW] = pa9;
            as[at + 10 * ROW] = pa10; as[at + 11 * ROW] = pa11;
            as[at + 12 * ROW] = pa12; as[at + 13 * ROW] = pa13;
            as[at + 14 * ROW] = pa14; as[at + 15 * ROW] = pa15;
            int bt = half + t;
            bs[bt] = pb0; bs[bt + ROW] = pb1;
            bs[bt + 2 * ROW] = pb2; bs[bt + 3 * ROW] = pb3;
            bs[bt + 4 * ROW] = pb4; bs[bt + 5 * ROW] = pb5;
            bs[bt + 6 * ROW] = pb6; bs[bt + 7 * ROW] = pb7;
            bs[bt + 8 * ROW] = pb8; bs[bt + 9 * ROW] = pb9;
            bs[bt + 10 * ROW] = pb10; bs[bt + 11 * ROW] = pb11;
            bs[bt + 12 * ROW] = pb12; bs[bt + 13 * ROW] = pb13;
            bs[bt + 14 * ROW] = pb14; bs[bt + 15 * ROW] = pb15;
            ctx.localBarrier();
            // load slice k0 (zeros past K) into registers
            int ai = aIndex + k0 * m, kLeft = k - k0;
            pa0 = fetch(a, ai, aRowIn && 0 < kLeft);
            pa1 = fetch(a, ai + m, aRowIn && 1 < kLeft);
            pa2 = fetch(a, ai + 2 * m, aRowIn && 2 < kLeft);
            pa3 = fetch(a, ai + 3 * m, aRowIn && 3 < kLeft);
            pa4 = fetch(a, ai + 4 * m, aRowIn && 4 < kLeft);
            pa5 = fetch(a, ai + 5 * m, aRowIn && 5 < kLeft);
            pa6 = fetch(a, ai + 6 * m, aRowIn && 6 < kLeft);
            pa7 = fetch(a, ai + 7 * m, aRowIn && 7 < kLeft);
            pa8 = fetch(a, ai + 8 * m, aRowIn && 8 < kLeft);
            pa9 = fetch(a, ai + 9 * m, aRowIn && 9 < kLeft);
            pa10 = fetch(a, ai + 10 * m, aRowIn && 10 < kLeft);
            pa11 = fetch(a, ai + 11 * m, aRowIn && 11 < kLeft);
            pa12 = fetch(a, ai + 12 * m, aRowIn && 12 < kLeft);
            pa13 = fetch(a, ai + 13 * m, aRowIn && 13 < kLeft);
            pa14 = fetch(a, ai + 14 * m, aRowIn && 14 < kLeft);
            pa15 = fetch(a, ai + 15 * m, aRowIn && 15 < kLeft);
            int bi = bIndex + k0 * n;
            pb0 = fetch(b, bi, bColIn && 0 < kLeft);
            pb1 = fetch(b, bi + n, bColIn && 1 < kLeft);
            pb2 = fetch(b, bi + 2 * n, bColIn && 2 < kLeft);
            pb3 = fetch(b, bi + 3 * n, bColIn && 3 < kLeft);
            pb4 = fetch(b, bi + 4 * n, bColIn && 4 < kLeft);
            pb5 = fetch(b, bi + 5 * n, bColIn && 5 < kLeft);
            pb6 = fetch(b, bi + 6 * n, bColIn && 6 < kLeft);
            pb7 = fetch(b, bi + 7 * n, bColIn && 7 < kLeft);
            pb8 = fetch(b, bi + 8 * n, bColIn && 8 < kLeft);
            pb9 = fetch(b, bi + 9 * n, bColIn && 9 < kLeft);
            pb10 = fetch(b, bi + 10 * n, bColIn && 10 < kLeft);
            pb11 = fetch(b, bi + 11 * n, bColIn && 11 < kLeft);
            pb12 = fetch(b, bi + 12 * n, bColIn && 12 < kLeft);
            pb13 = fetch(b, bi + 13 * n, bColIn && 13 < kLeft);
            pb14 = fetch(b, bi + 14 * n, bColIn && 14 < kLeft);
            pb15 = fetch(b, bi + 15 * n, bColIn && 15 < kLeft);
            if (k0 > 0) { // the slice stored above, k0 - 16
                for (int kk = 0; kk < DEPTH; kk++) {
                    int ao = half + kk * ROW + ty, bo = half + kk * ROW + tx;
                    float a0 = as[ao], a1 = as[ao + 8], a2 = as[ao + 16], a3 = as[ao + 24];
                    float a4 = as[ao + 32], a5 = as[ao + 40], a6 = as[ao + 48], a7 = as[ao + 56];
                    float b0 = bs[bo], b1 = bs[bo + 8], b2 = bs[bo + 16], b3 = bs[bo + 24];
                    float b4 = bs[bo + 32], b5 = bs[bo + 40], b6 = bs[bo + 48], b7 = bs[bo + 56];
                    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                    c04 += a0 * b4; c05 += a0 * b5; c06 += a0 * b6; c07 += a0 * b7;
                    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                    c14 += a1 * b4; c15 += a1 * b5; c16 += a1 * b6; c17 += a1 * b7;
                    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                    c24 += a2 * b4; c25 += a2 * b5; c26 += a2 * b6; c27 += a2 * b7;
                    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
                    c34 += a3 * b4; c35 += a3 * b5; c36 += a3 * b6; c37 += a3 * b7;
                    c40 += a4 * b0; c41 += a4 * b1; c42 += a4 * b2; c43 += a4 * b3;
                    c44 += a4 * b4; c45 += a4 * b5; c46 += a4 * b6; c47 += a4 * b7;
                    c50 += a5 * b0; c51 += a5 * b1; c52 += a5 * b2; c53 += a5 * b3;
                    c54 += a5 * b4; c55 += a5 * b5; c56 += a5 * b6; c57 += a5 * b7;
                    c60 += a6 * b0; c61 += a6 * b1; c62 += a6 * b2; c63 += a6 * b3;
                    c64 += a6 * b4; c65 += a6 * b5; c66 += a6 * b6; c67 += a6 * b7;
                    c70 += a7 * b0; c71 += a7 * b1; c72 += a7 * b2; c73 += a7 * b3;
                    c74 += a7 * b4; c75 += a7 * b5; c76 += a7 * b6; c77 += a7 * b7;
                }
            }
        }
        int cBase = z * strideC, i0 = row0 + ty, j0 = col0 + tx;
        storeFour(c, bias, c, cBase, i0, j0, m, n, alpha, accumulate, hasBias, NONE, c00, c01, c02, c03);
        storeFour(c, bias, c, cBase, i0, j0 + 32, m, n, alpha, accumulate, hasBias, NONE, c04, c05, c06, c07);
        storeFour(c, bias, c, cBase, i0 + 8, j0, m, n, alpha, accumulate, hasBias, NONE, c10, c11, c12, c13);
        storeFour(c, bias, c, cBase, i0 + 8, j0 + 32, m, n, alpha, accumulate, hasBias, NONE, c14, c15, c16, c17);
        storeFour(c, bias, c, cBase, i0 + 16, j0, m, n, alpha, accumulate, hasBias, NONE, c20, c21, c22, c23);
        storeFour(c, bias, c, cBase, i0 + 16, j0 + 32, m, n, alpha, accumulate, hasBias, NONE, c24, c25, c26, c27);
        storeFour(c, bias, c, cBase, i0 + 24, j0, m, n, alpha, accumulate, hasBias, NONE, c30, c31, c32, c33);
        storeFour(c, bias, c, cBase, i0 + 24, j0 + 32, m, n, alpha, accumulate, hasBias, NONE, c34, c35, c36, c37);
        storeFour(c, bias, c, cBase, i0 + 32, j0, m, n, alpha, accumulate, hasBias, NONE, c40, c41, c42, c43);
        storeFour(c, bias, c, cBase, i0 + 32, j0 + 32, m, n, alpha, accumulate, hasBias, NONE, c44, c45, c46, c47);
        storeFour(c, bias, c, cBase, i0 + 40, j0, m, n, alpha, accumulate, hasBias, NONE, c50, c51, c52, c53);
        storeFour(c, bias, c, cBase, i0 + 40, j0 + 32, m, n, alpha, accumulate, hasBias, NONE, c54, c55, c56, c57);
        storeFour(c, bias, c, cBase, i0 + 48, j0, m, n, alpha, accumulate, hasBias, NONE, c60, c61, c62, c63);
        storeFour(c, bias, c, cBase, i0 + 48, j0 + 32, m, n, alpha, accumulate, hasBias, NONE, c64, c65, c66, c67);
        storeFour(c, bias, c, cBase, i0 + 56, j0, m, n, alpha, accumulate, hasBias, NONE, c70, c71, c72, c73);
        storeFour(c, bias, c, cBase, i0 + 56, j0 + 32, m, n, alpha, accumulate, hasBias, NONE, c74, c75, c76, c77);
    }

    /**
     * Two of a thread's outputs of {@link #gemmNN}, in row i at columns j and j + 8, whose epilogue may multiply each
     * by GELU' of {@code other} at its place ({@link #GELU_BACKWARD}): two, not four, since GELU' inlined four times
     * exceeds the size of a method TornadoVM inlines.
     */
    private static void storeTwoOfGradient(FloatArray c, FloatArray bias, FloatArray other, int cBase, int i, int j,
                                           int m, int n, float alpha, int accumulate, int hasBias, int activation,
                                           float v0, float v1) {
        if (i < m) {
            int rowAt = cBase + i * n;
            storeOfGradient(c, bias, other, rowAt, j, n, v0, alpha, accumulate, hasBias, activation);
            storeOfGradient(c, bias, other, rowAt, j + 8, n, v1, alpha, accumulate, hasBias, activation);
        }
    }

    private static void storeOfGradient(FloatArray c, FloatArray bias, FloatArray other, int rowAt, int j, int n,
                                        float acc, float alpha, int accumulate, int hasBias, int activation) {
        if (j < n) {
            int idx = rowAt + j;
            float v = alpha * acc;
            if (hasBias == 1) v += bias.get(j);
            if (activation == GELU_BACKWARD) v *= DeviceMath.geluDerivative(other.get(idx));
            if (accumulate == 1) v += c.get(idx);
            c.set(idx, v);
        }
    }

    /** x[index], or 0 outside the matrix (the zero-padding of an edge tile). */
    private static float fetch(FloatArray x, int index, boolean inside) {
        return inside ? x.get(index) : 0f;
    }

    /**
     * Writes four of a thread's outputs, in row i of C at columns j, j + 8, j + 16, j + 24, skipping the padding, and
     * with {@code activation} {@link #GELU} their GELU into {@code activated}. Four, not a row's eight: with GELU's erf
     * inlined, eight stores exceed the size of a method TornadoVM inlines.
     */
    private static void storeFour(FloatArray c, FloatArray bias, FloatArray activated, int cBase, int i, int j, int m,
                                  int n, float alpha, int accumulate, int hasBias, int activation, float v0, float v1,
                                  float v2, float v3) {
        if (i < m) {
            int rowAt = cBase + i * n;
            store(c, bias, activated, rowAt, j, n, v0, alpha, accumulate, hasBias, activation);
            store(c, bias, activated, rowAt, j + 8, n, v1, alpha, accumulate, hasBias, activation);
            store(c, bias, activated, rowAt, j + 16, n, v2, alpha, accumulate, hasBias, activation);
            store(c, bias, activated, rowAt, j + 24, n, v3, alpha, accumulate, hasBias, activation);
        }
    }

    private static void store(FloatArray c, FloatArray bias, FloatArray activated, int rowAt, int j, int n, float acc,
                              float alpha, int accumulate, int hasBias, int activation) {
        if (j < n) {
            int idx = rowAt + j;
            float v = alpha * acc;
            if (hasBias == 1) v += bias.get(j);
            if (accumulate == 1) v += c.get(idx);
            c.set(idx, v);
            if (activation == GELU) activated.set(idx, DeviceMath.gelu(v));
        }
    }
}
