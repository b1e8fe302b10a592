package dev.tornadovit.tornado.kernels;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * One batched matrix product for every linear layer and attention product, forward and backward:
 * C[z] (+)= alpha · op(A[z]) · op(B[z]) (+ bias), op = identity or transpose.
 *
 * <p>Layouts: A is [M,K] row-major, or stored [K,M] when {@code transA} is 1; B is [K,N], or stored [N,K] when
 * {@code transB} is 1; C is [M,N]. Batch z starts at z·stride in each array (stride 0: shared).
 *
 * <p>Tiling: a work-group of 16×16 threads computes a 64×64 tile of C, each thread a 4×4 block at rows
 * ty + 16·r and columns tx + 16·c (interleaved, so that neighbouring threads touch neighbouring addresses both in local
 * memory and in C). K advances in steps of 16 through two 16×64 tiles in local memory; the loads are laid out along
 * the contiguous axis of each operand. Edges are zero-padded, so any size works. Rows of the local tiles are 66
 * floats apart, not 64: a warp storing a tile read along K (16 threads per row of A or of a transposed B) then hits 32
 * different banks instead of one bank 16 times (on an H100 this took ViT-S/16 inference from 1054 to 1309 img/s).
 * A 128×128-tile variant (8×8 per thread, 120 registers) was slower on 8 of the 10 ViT-S/16 linear products there:
 * two work-groups per multiprocessor hid too little of the global-load latency.
 * Grid: (⌈N/64⌉·16, ⌈M/64⌉·16, batches), local (16, 16, 1).
 */
public final class MatmulKernels {
    private MatmulKernels() {
    }

    public static final int TILE = 64, THREADS = 16, DEPTH = 16;

    public static void gemm(KernelContext ctx, FloatArray a, FloatArray b, FloatArray c, FloatArray bias, int m, int n,
                            int k, int strideA, int strideB, int strideC, int transA, int transB, float alpha,
                            int accumulate, int hasBias) {
        float[] as = ctx.allocateFloatLocalArray(1056); // [DEPTH][66]: as[kk·66 + i]
        float[] bs = ctx.allocateFloatLocalArray(1056); // [DEPTH][66]: bs[kk·66 + j]
        int tx = ctx.localIdx, ty = ctx.localIdy;
        int tid = ty * 16 + tx;
        int col0 = ctx.groupIdx * 64, row0 = ctx.groupIdy * 64;
        int z = ctx.groupIdz;
        int aBase = z * strideA, bBase = z * strideB, cBase = z * strideC;

        float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f;
        float c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f;
        float c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f;
        float c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f;

        for (int k0 = 0; k0 < k; k0 += 16) {
            for (int l = 0; l < 4; l++) {
                int idx = tid + l * 256;
                // A tile
                int ai, ak;
                if (transA == 0) {
                    ai = idx / 16;
                    ak = idx % 16;
                } else {
                    ak = idx / 64;
                    ai = idx % 64;
                }
                int gi = row0 + ai, gk = k0 + ak;
                float va = 0f;
                if (gi < m && gk < k) va = transA == 0 ? a.get(aBase + gi * k + gk) : a.get(aBase + gk * m + gi);
                as[ak * 66 + ai] = va;
                // B tile
                int bj, bk;
                if (transB == 0) {
                    bk = idx / 64;
                    bj = idx % 64;
                } else {
                    bj = idx / 16;
                    bk = idx % 16;
                }
                int gj = col0 + bj, gk2 = k0 + bk;
                float vb = 0f;
                if (gj < n && gk2 < k) vb = transB == 0 ? b.get(bBase + gk2 * n + gj) : b.get(bBase + gj * k + gk2);
                bs[bk * 66 + bj] = vb;
            }
            ctx.localBarrier();
            for (int kk = 0; kk < 16; kk++) {
                int ao = kk * 66 + ty, bo = kk * 66 + tx;
                float a0 = as[ao], a1 = as[ao + 16], a2 = as[ao + 32], a3 = as[ao + 48];
                float b0 = bs[bo], b1 = bs[bo + 16], b2 = bs[bo + 32], b3 = bs[bo + 48];
                c00 += a0 * b0;
                c01 += a0 * b1;
                c02 += a0 * b2;
                c03 += a0 * b3;
                c10 += a1 * b0;
                c11 += a1 * b1;
                c12 += a1 * b2;
                c13 += a1 * b3;
                c20 += a2 * b0;
                c21 += a2 * b1;
                c22 += a2 * b2;
                c23 += a2 * b3;
                c30 += a3 * b0;
                c31 += a3 * b1;
                c32 += a3 * b2;
                c33 += a3 * b3;
            }
            ctx.localBarrier();
        }
        int r0 = row0 + ty, j0 = col0 + tx;
        store(c, bias, cBase, r0, j0, m, n, c00, alpha, accumulate, hasBias);
        store(c, bias, cBase, r0, j0 + 16, m, n, c01, alpha, accumulate, hasBias);
        store(c, bias, cBase, r0, j0 + 32, m, n, c02, alpha, accumulate, hasBias);
        store(c, bias, cBase, r0, j0 + 48, m, n, c03, alpha, accumulate, hasBias);
        store(c, bias, cBase, r0 + 16, j0, m, n, c10, alpha, accumulate, hasBias);
        store(c, bias, cBase, r0 + 16, j0 + 16, m, n, c11, alpha, accumulate, hasBias);
        store(c, bias, cBase, r0 + 16, j0 + 32, m, n, c12, alpha, accumulate, hasBias);
        store(c, bias, cBase, r0 + 16, j0 + 48, m, n, c13, alpha, accumulate, hasBias);
        store(c, bias, cBase, r0 + 32, j0, m, n, c20, alpha, accumulate, hasBias);
        store(c, bias, cBase, r0 + 32, j0 + 16, m, n, c21, alpha, accumulate, hasBias);
        store(c, bias, cBase, r0 + 32, j0 + 32, m, n, c22, alpha, accumulate, hasBias);
        store(c, bias, cBase, r0 + 32, j0 + 48, m, n, c23, alpha, accumulate, hasBias);
        store(c, bias, cBase, r0 + 48, j0, m, n, c30, alpha, accumulate, hasBias);
        store(c, bias, cBase, r0 + 48, j0 + 16, m, n, c31, alpha, accumulate, hasBias);
        store(c, bias, cBase, r0 + 48, j0 + 32, m, n, c32, alpha, accumulate, hasBias);
        store(c, bias, cBase, r0 + 48, j0 + 48, m, n, c33, alpha, accumulate, hasBias);
    }

    private static void store(FloatArray c, FloatArray bias, int cBase, int i, int j, int m, int n, float acc,
                              float alpha, int accumulate, int hasBias) {
        if (i < m && j < n) {
            int idx = cBase + i * n + j;
            float v = alpha * acc;
            if (hasBias == 1) v += bias.get(j);
            if (accumulate == 1) v += c.get(idx);
            c.set(idx, v);
        }
    }
}
