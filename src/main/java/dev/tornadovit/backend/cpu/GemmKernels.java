package dev.tornadovit.backend.cpu;

import static dev.tornadovit.backend.cpu.Gemm.NR;
import static dev.tornadovit.backend.cpu.Gemm.SPECIES;
import static dev.tornadovit.backend.cpu.Gemm.VL;

import jdk.incubator.vector.FloatVector;

/**
 * {@link Gemm}'s micro-kernels: the {@link Gemm#MR}×{@link Gemm#NR} tile of C that one panel of A and one packed B
 * panel make over a K block, in vector registers, and the write-back of a tile that could not go straight to C.
 * Static, and called directly from Gemm's task loop: no virtual call or lambda between the loop and the kernels.
 */
final class GemmKernels {

    private GemmKernels() {}

    /**
     * The MR×NR micro-kernel: out[MR][NR] = init + A·B over kc, for MR rows of A read in place,
     * A(r,k) = a[ai + r·aRowStride + k·aColStride], and a packed B panel laid out [kc][NR]. Row r
     * of init and of out start at {@code ii + r·initRowStride} and {@code oi + r·outRowStride}:
     * init is C (to accumulate), the bias (row stride 0) or null (zeros); out is C or a parked
     * tile. Rows past {@code rows} re-read the last live row of A, so the kernel never reads
     * outside A; their results only ever go to a tile.
     *
     * <p>The accumulators must stay locals of this one method: handing vectors to a helper that
     * is not inlined boxes them. The loop's shape decides C2's code: with A indexed as
     * {@code a[a0 + kk]} (unit stride, which C2's loop predication takes up) it ran at under half
     * the speed of {@code a[a0 + kk·aColStride]} (C2 then hoisted the four broadcasts together and spilled
     * accumulators to the stack; the range checks between them keep it from doing so).
     */
    static void kernel(int kc, float[] a, int ai, int aRowStride, int aColStride, int rows,
                       float[] pb, int bi, float[] init, int ii, int initRowStride,
                       float[] out, int oi, int outRowStride) {
        int last = rows - 1;
        int a0 = ai;
        int a1 = ai + Math.min(1, last) * aRowStride;
        int a2 = ai + Math.min(2, last) * aRowStride;
        int a3 = ai + Math.min(3, last) * aRowStride;
        FloatVector c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32;
        if (init == null) {
            c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 = FloatVector.zero(SPECIES);
        } else {
            int i1 = ii + initRowStride, i2 = i1 + initRowStride, i3 = i2 + initRowStride;
            c00 = FloatVector.fromArray(SPECIES, init, ii);
            c01 = FloatVector.fromArray(SPECIES, init, ii + VL);
            c02 = FloatVector.fromArray(SPECIES, init, ii + 2 * VL);
            c10 = FloatVector.fromArray(SPECIES, init, i1);
            c11 = FloatVector.fromArray(SPECIES, init, i1 + VL);
            c12 = FloatVector.fromArray(SPECIES, init, i1 + 2 * VL);
            c20 = FloatVector.fromArray(SPECIES, init, i2);
            c21 = FloatVector.fromArray(SPECIES, init, i2 + VL);
            c22 = FloatVector.fromArray(SPECIES, init, i2 + 2 * VL);
            c30 = FloatVector.fromArray(SPECIES, init, i3);
            c31 = FloatVector.fromArray(SPECIES, init, i3 + VL);
            c32 = FloatVector.fromArray(SPECIES, init, i3 + 2 * VL);
        }
        // Four k per iteration, written out: the loop's own work (index arithmetic, a stack reload or two, the
        // safepoint poll) is shared by 48 multiply-adds instead of 24; eight k would run out of registers and spill.
        int kk = 0;
        for (; kk + 3 < kc; kk += 4) {
            int ak = kk * aColStride;
            int bk = bi + kk * NR;
            FloatVector b0, b1, b2, av;
            b0 = FloatVector.fromArray(SPECIES, pb, bk);
            b1 = FloatVector.fromArray(SPECIES, pb, bk + VL);
            b2 = FloatVector.fromArray(SPECIES, pb, bk + 2 * VL);
            av = FloatVector.broadcast(SPECIES, a[a0 + ak]);
            c00 = av.fma(b0, c00); c01 = av.fma(b1, c01); c02 = av.fma(b2, c02);
            av = FloatVector.broadcast(SPECIES, a[a1 + ak]);
            c10 = av.fma(b0, c10); c11 = av.fma(b1, c11); c12 = av.fma(b2, c12);
            av = FloatVector.broadcast(SPECIES, a[a2 + ak]);
            c20 = av.fma(b0, c20); c21 = av.fma(b1, c21); c22 = av.fma(b2, c22);
            av = FloatVector.broadcast(SPECIES, a[a3 + ak]);
            c30 = av.fma(b0, c30); c31 = av.fma(b1, c31); c32 = av.fma(b2, c32);
            ak += aColStride;
            bk += NR;
            b0 = FloatVector.fromArray(SPECIES, pb, bk);
            b1 = FloatVector.fromArray(SPECIES, pb, bk + VL);
            b2 = FloatVector.fromArray(SPECIES, pb, bk + 2 * VL);
            av = FloatVector.broadcast(SPECIES, a[a0 + ak]);
            c00 = av.fma(b0, c00); c01 = av.fma(b1, c01); c02 = av.fma(b2, c02);
            av = FloatVector.broadcast(SPECIES, a[a1 + ak]);
            c10 = av.fma(b0, c10); c11 = av.fma(b1, c11); c12 = av.fma(b2, c12);
            av = FloatVector.broadcast(SPECIES, a[a2 + ak]);
            c20 = av.fma(b0, c20); c21 = av.fma(b1, c21); c22 = av.fma(b2, c22);
            av = FloatVector.broadcast(SPECIES, a[a3 + ak]);
            c30 = av.fma(b0, c30); c31 = av.fma(b1, c31); c32 = av.fma(b2, c32);
            ak += aColStride;
            bk += NR;
            b0 = FloatVector.fromArray(SPECIES, pb, bk);
            b1 = FloatVector.fromArray(SPECIES, pb, bk + VL);
            b2 = FloatVector.fromArray(SPECIES, pb, bk + 2 * VL);
            av = FloatVector.broadcast(SPECIES, a[a0 + ak]);
            c00 = av.fma(b0, c00); c01 = av.fma(b1, c01); c02 = av.fma(b2, c02);
            av = FloatVector.broadcast(SPECIES, a[a1 + ak]);
            c10 = av.fma(b0, c10); c11 = av.fma(b1, c11); c12 = av.fma(b2, c12);
            av = FloatVector.broadcast(SPECIES, a[a2 + ak]);
            c20 = av.fma(b0, c20); c21 = av.fma(b1, c21); c22 = av.fma(b2, c22);
            av = FloatVector.broadcast(SPECIES, a[a3 + ak]);
            c30 = av.fma(b0, c30); c31 = av.fma(b1, c31); c32 = av.fma(b2, c32);
            ak += aColStride;
            bk += NR;
            b0 = FloatVector.fromArray(SPECIES, pb, bk);
            b1 = FloatVector.fromArray(SPECIES, pb, bk + VL);
            b2 = FloatVector.fromArray(SPECIES, pb, bk + 2 * VL);
            av = FloatVector.broadcast(SPECIES, a[a0 + ak]);
            c00 = av.fma(b0, c00); c01 = av.fma(b1, c01); c02 = av.fma(b2, c02);
            av = FloatVector.broadcast(SPECIES, a[a1 + ak]);
            c10 = av.fma(b0, c10); c11 = av.fma(b1, c11); c12 = av.fma(b2, c12);
            av = FloatVector.broadcast(SPECIES, a[a2 + ak]);
            c20 = av.fma(b0, c20); c21 = av.fma(b1, c21); c22 = av.fma(b2, c22);
            av = FloatVector.broadcast(SPECIES, a[a3 + ak]);
            c30 = av.fma(b0, c30); c31 = av.fma(b1, c31); c32 = av.fma(b2, c32);
        }
        for (; kk < kc; kk++) {
            int ak = kk * aColStride;
            int bk = bi + kk * NR;
            FloatVector b0 = FloatVector.fromArray(SPECIES, pb, bk);
            FloatVector b1 = FloatVector.fromArray(SPECIES, pb, bk + VL);
            FloatVector b2 = FloatVector.fromArray(SPECIES, pb, bk + 2 * VL);
            FloatVector av = FloatVector.broadcast(SPECIES, a[a0 + ak]);
            c00 = av.fma(b0, c00); c01 = av.fma(b1, c01); c02 = av.fma(b2, c02);
            av = FloatVector.broadcast(SPECIES, a[a1 + ak]);
            c10 = av.fma(b0, c10); c11 = av.fma(b1, c11); c12 = av.fma(b2, c12);
            av = FloatVector.broadcast(SPECIES, a[a2 + ak]);
            c20 = av.fma(b0, c20); c21 = av.fma(b1, c21); c22 = av.fma(b2, c22);
            av = FloatVector.broadcast(SPECIES, a[a3 + ak]);
            c30 = av.fma(b0, c30); c31 = av.fma(b1, c31); c32 = av.fma(b2, c32);
        }
        int o1 = oi + outRowStride, o2 = o1 + outRowStride, o3 = o2 + outRowStride;
        c00.intoArray(out, oi); c01.intoArray(out, oi + VL); c02.intoArray(out, oi + 2 * VL);
        c10.intoArray(out, o1); c11.intoArray(out, o1 + VL); c12.intoArray(out, o1 + 2 * VL);
        c20.intoArray(out, o2); c21.intoArray(out, o2 + VL); c22.intoArray(out, o2 + 2 * VL);
        c30.intoArray(out, o3); c31.intoArray(out, o3 + VL); c32.intoArray(out, o3 + 2 * VL);
    }

    /** {@link #kernel} for a B panel at most two vectors wide: MR×2 vectors, from the first 2·VL columns of the panel. */
    static void kernel2(int kc, float[] a, int ai, int aRowStride, int aColStride, int rows,
                        float[] pb, int bi, float[] tile) {
        int last = rows - 1;
        int a0 = ai;
        int a1 = ai + Math.min(1, last) * aRowStride;
        int a2 = ai + Math.min(2, last) * aRowStride;
        int a3 = ai + Math.min(3, last) * aRowStride;
        FloatVector c00 = FloatVector.zero(SPECIES), c01 = FloatVector.zero(SPECIES);
        FloatVector c10 = FloatVector.zero(SPECIES), c11 = FloatVector.zero(SPECIES);
        FloatVector c20 = FloatVector.zero(SPECIES), c21 = FloatVector.zero(SPECIES);
        FloatVector c30 = FloatVector.zero(SPECIES), c31 = FloatVector.zero(SPECIES);
        for (int kk = 0; kk < kc; kk++) {
            int ak = kk * aColStride;
            int bk = bi + kk * NR;
            FloatVector b0 = FloatVector.fromArray(SPECIES, pb, bk);
            FloatVector b1 = FloatVector.fromArray(SPECIES, pb, bk + VL);
            FloatVector av = FloatVector.broadcast(SPECIES, a[a0 + ak]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(SPECIES, a[a1 + ak]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(SPECIES, a[a2 + ak]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(SPECIES, a[a3 + ak]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
        }
        c00.intoArray(tile, 0);
        c01.intoArray(tile, VL);
        c10.intoArray(tile, NR);
        c11.intoArray(tile, NR + VL);
        c20.intoArray(tile, 2 * NR);
        c21.intoArray(tile, 2 * NR + VL);
        c30.intoArray(tile, 3 * NR);
        c31.intoArray(tile, 3 * NR + VL);
    }

    /** {@link #kernel} for a B panel at most one vector wide: MR×1 vector, from the first VL columns of the panel. */
    static void kernel1(int kc, float[] a, int ai, int aRowStride, int aColStride, int rows,
                             float[] pb, int bi, float[] tile) {
        int last = rows - 1;
        int a0 = ai;
        int a1 = ai + Math.min(1, last) * aRowStride;
        int a2 = ai + Math.min(2, last) * aRowStride;
        int a3 = ai + Math.min(3, last) * aRowStride;
        FloatVector c0 = FloatVector.zero(SPECIES), c1 = FloatVector.zero(SPECIES);
        FloatVector c2 = FloatVector.zero(SPECIES), c3 = FloatVector.zero(SPECIES);
        for (int kk = 0; kk < kc; kk++) {
            int ak = kk * aColStride;
            FloatVector b0 = FloatVector.fromArray(SPECIES, pb, bi + kk * NR);
            c0 = FloatVector.broadcast(SPECIES, a[a0 + ak]).fma(b0, c0);
            c1 = FloatVector.broadcast(SPECIES, a[a1 + ak]).fma(b0, c1);
            c2 = FloatVector.broadcast(SPECIES, a[a2 + ak]).fma(b0, c2);
            c3 = FloatVector.broadcast(SPECIES, a[a3 + ak]).fma(b0, c3);
        }
        c0.intoArray(tile, 0);
        c1.intoArray(tile, NR);
        c2.intoArray(tile, 2 * NR);
        c3.intoArray(tile, 3 * NR);
    }

    /**
     * C = alpha·tile + bias (+ C) for the live rows × cols of a parked tile (row stride NR): whole
     * vectors where they fit, scalars after.
     */
    static void writeTile(float[] tile, float[] c, int ci, int ldc, int rows, int cols,
                                  float alpha, boolean addC, float[] bias, int biasIndex) {
        int vectorCols = cols - cols % VL;
        for (int r = 0; r < rows; r++) {
            int row = ci + r * ldc;
            int t = r * NR;
            int j = 0;
            for (; j < vectorCols; j += VL) {
                FloatVector v = FloatVector.fromArray(SPECIES, tile, t + j).mul(alpha);
                if (bias != null) {
                    v = v.add(FloatVector.fromArray(SPECIES, bias, biasIndex + j));
                }
                if (addC) {
                    v = v.add(FloatVector.fromArray(SPECIES, c, row + j));
                }
                v.intoArray(c, row + j);
            }
            for (; j < cols; j++) {
                float v = alpha * tile[t + j];
                if (bias != null) {
                    v += bias[biasIndex + j];
                }
                c[row + j] = addC ? c[row + j] + v : v;
            }
        }
    }
}
