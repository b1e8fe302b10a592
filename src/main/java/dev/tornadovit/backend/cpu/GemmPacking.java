package dev.tornadovit.backend.cpu;

import static dev.tornadovit.backend.cpu.Gemm.MR;
import static dev.tornadovit.backend.cpu.Gemm.NR;
import static dev.tornadovit.backend.cpu.Gemm.SPECIES;
import static dev.tornadovit.backend.cpu.Gemm.VL;
import static dev.tornadovit.backend.cpu.Gemm.blockStart;
import static dev.tornadovit.backend.cpu.Gemm.ceilDiv;

import dev.tornadovit.tensor.Precision;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Gemm}'s packing of its operands into the layouts its micro-kernels ({@link GemmKernels}) read: op(B) in
 * NR-column panels, a transposed A in pairs of MR-row panels, K block by K block, zero-padded. On the way it adds up
 * the bias gradient's sums (column sums of B, row sums of a transposed A): packing reads every element once anyway.
 *
 * <p>In a reduced {@link Precision} (tf32, bf16) packing is also where the operands are rounded: every element of
 * op(A) and op(B) passes through here exactly once per product (an untransposed A, read in place in fp32, is then
 * packed row by row), so the products see rounded operands at no extra pass while the kernels, and their fp32
 * accumulation, stay as they are. The bias sums are of the operands as given, unrounded: they are sums, not
 * products. fp32 takes the original packing code, which rounds nothing.
 */
final class GemmPacking {

    /**
     * A packed transposed A holds its MR-row panels in pairs, PR = 2·MR rows laid out [kc][PR] (the kernel reads one
     * panel's MR floats of each k, stride PR), so that packing copies PR contiguous floats of each row of dy with one
     * 8-float vector, instead of swapping halves of vectors between two MR-row panels.
     */
    static final int PR = 2 * MR;

    /**
     * The packing's vector: PR = 8 floats. On hardware with narrower vectors (NEON) the 256-bit species would not be
     * intrinsified, so the element copies do it all there. Not a 128-bit vector per panel: C2 does not always
     * intrinsify those once inlined here, and then boxes every vector.
     */
    static final VectorSpecies<Float> PAIR_SPECIES = FloatVector.SPECIES_256;
    static final boolean PAIR_PACK =
            PR == PAIR_SPECIES.length() && SPECIES.vectorBitSize() >= PAIR_SPECIES.vectorBitSize();

    /**
     * A transposed A packed whole is split between threads in groups of this many panels (8·MR = 32 floats): each
     * thread then reads whole cache lines of A's rows and packs whole panel pairs (an even number: pairs never
     * straddle two threads' groups). One panel a chunk would read 16 bytes of each 64-byte line and pack element by
     * element.
     */
    static final int PACK_GROUP_PANELS = 8;

    private GemmPacking() {}

    /** {@link #packTransposedPanels} split over the pool. */
    static final class PackTransposedPanels extends ReusableLoops.Body {
        private Precision precision;
        private float[] a, packA, rowSums;
        private int aOff, lda, m, k, kBlocks, mPanels, rowSumsOff;

        void run(Precision precision, float[] a, int aOff, int lda, int m, int k, int kBlocks, int mPanels,
                 float[] packA, float[] rowSums, int rowSumsOff, int groups, int grain) {
            this.precision = precision;
            this.rowSums = rowSums;
            this.rowSumsOff = rowSumsOff;
            this.a = a;
            this.aOff = aOff;
            this.lda = lda;
            this.m = m;
            this.k = k;
            this.kBlocks = kBlocks;
            this.mPanels = mPanels;
            this.packA = packA;
            parallelFor(groups, grain);
        }

        @Override
        public void run(int g0, int g1) {
            packTransposedPanels(precision, a, aOff, lda, m, k, kBlocks, mPanels, packA, rowSums, rowSumsOff,
                    g0 * PACK_GROUP_PANELS, Math.min(mPanels, g1 * PACK_GROUP_PANELS));
        }

        @Override
        protected void clearInputs() {
            a = packA = rowSums = null;
        }
    }

    /** {@link #packPanels} split over the pool. */
    static final class PackPanels extends ReusableLoops.Body {
        private Precision precision;
        private boolean transB;
        private float[] b, packB, columnSums;
        private int bOff, ldb, k, kBlocks, col0, nc, nPanels, bBase, columnSumsOff;

        void run(Precision precision, boolean transB, float[] b, int bOff, int ldb, int k, int kBlocks, int col0,
                 int nc, int nPanels, float[] packB, int bBase, float[] columnSums, int columnSumsOff, int grain) {
            this.precision = precision;
            this.bBase = bBase;
            this.columnSums = columnSums;
            this.columnSumsOff = columnSumsOff;
            this.transB = transB;
            this.b = b;
            this.bOff = bOff;
            this.ldb = ldb;
            this.k = k;
            this.kBlocks = kBlocks;
            this.col0 = col0;
            this.nc = nc;
            this.nPanels = nPanels;
            this.packB = packB;
            parallelFor(nPanels, grain);
        }

        @Override
        public void run(int p0, int p1) {
            packPanels(precision, transB, b, bOff, ldb, k, kBlocks, col0, nc, nPanels, packB, bBase, columnSums,
                    columnSumsOff, p0, p1);
        }

        @Override
        protected void clearInputs() {
            b = packB = columnSums = null;
        }
    }

    /** Packs B panels [p0, p1) of the slab starting at column col0, every K block. */
    static void packPanels(Precision precision, boolean transB, float[] b, int bOff, int ldb, int k, int kBlocks,
                           int col0, int nc, int nPanels, float[] packB, int bBase, float[] columnSums,
                           int columnSumsOff, int p0, int p1) {
        for (int kb = 0; kb < kBlocks; kb++) {
            int pc = blockStart(k, kBlocks, kb);
            int kc = blockStart(k, kBlocks, kb + 1) - pc;
            int blockBase = bBase + nPanels * NR * pc;
            for (int q = p0; q < p1; q++) {
                int col = col0 + q * NR, cols = Math.min(NR, nc - q * NR), base = blockBase + q * NR * kc;
                if (precision == Precision.FP32) {
                    packB(transB, b, bOff, ldb, pc, kc, col, cols, packB, base, columnSums, columnSumsOff);
                } else {
                    packBRounded(precision, transB, b, bOff, ldb, pc, kc, col, cols, packB, base, columnSums,
                            columnSumsOff);
                }
            }
        }
    }

    /**
     * Packs A panels [p0, p1) of a transposed A (p0 even: whole pairs), every K block: block kb's pairs start at
     * pairedRows(mPanels)·pc. rowSums (may be null) gets the rows' sums, from rowSumsOff for row 0.
     */
    static void packTransposedPanels(Precision precision, float[] a, int aOff, int lda, int m, int k, int kBlocks,
                                     int mPanels, float[] packA, float[] rowSums, int rowSumsOff, int p0, int p1) {
        for (int kb = 0; kb < kBlocks; kb++) {
            int pc = blockStart(k, kBlocks, kb);
            int kc = blockStart(k, kBlocks, kb + 1) - pc;
            int row0 = p0 * MR;
            packTransposedA(precision, a, aOff, lda, row0, Math.min(p1 * MR, m) - row0, pc, kc, packA,
                    pairedRows(mPanels) * pc + p0 / 2 * PR * kc, rowSums, rowSumsOff + row0);
        }
    }

    /**
     * Packs rows [row0, row0+rows) × k [pc, pc+kc) of a transposed A (A(i,k) = a[k·lda + i]) as
     * panel pairs of PR rows laid out [kc][PR], zero-padded. Read in place instead, each k of a panel would
     * sit on its own cache line lda floats from the last, and with lda a multiple of 1024 floats all kc of them fall
     * in one L1 set.
     *
     * <p>A full pair is one 8-float copy per k, its row sums added in K order (as the element path adds them); element
     * copies do the last, partial pair. A reduced precision rounds on the way ({@link #packTransposedARounded}).
     */
    static void packTransposedA(Precision precision, float[] a, int aOff, int lda, int row0, int rows, int pc, int kc,
                                float[] dst, int dstOff, float[] rowSums, int rowSumsOff) {
        if (precision != Precision.FP32) {
            packTransposedARounded(precision, a, aOff, lda, row0, rows, pc, kc, dst, dstOff, rowSums, rowSumsOff);
            return;
        }
        int pairStride = PR * kc;
        int fullRows = PAIR_PACK ? rows / PR * PR : 0;
        for (int r0 = 0; r0 < fullRows; r0 += PR) {
            int s = aOff + pc * lda + row0 + r0;
            int d = dstOff + r0 / PR * pairStride;
            if (rowSums != null) copyPairSumming(a, s, lda, kc, dst, d, rowSums, rowSumsOff + r0);
            else copyPair(a, s, lda, kc, dst, d);
        }
        for (int r0 = fullRows; r0 < rows; r0 += PR) {
            int live = Math.min(PR, rows - r0);
            int src = aOff + pc * lda + row0 + r0;
            for (int kk = 0, s = src, d = dstOff + r0 / PR * pairStride; kk < kc; kk++, s += lda, d += PR) {
                for (int r = 0; r < PR; r++) dst[d + r] = r < live ? a[s + r] : 0f;
            }
            if (rowSums != null) {
                for (int r = 0; r < live; r++) {
                    float sum = rowSums[rowSumsOff + r0 + r];
                    for (int kk = 0, s = src + r; kk < kc; kk++, s += lda) sum += a[s];
                    rowSums[rowSumsOff + r0 + r] = sum;
                }
            }
        }
    }

    /*
     * A full pair's copies, each a method of its own: inlined into packTransposedA, whose size C2 judged too large in
     * some JVMs (and in every one on a 512-bit machine packing ViT-S/16's weight gradients), the vector calls went
     * uncompiled and every 8-float vector was a new array, gigabytes a step. Alone they are small enough for C2 to
     * compile with the intrinsics in any caller.
     *
     * Sums here call lanewise(ADD, ...) rather than add(...): add's own call of lanewise is one call site for the
     * whole JVM, whose type profile mixes this file's 256-bit pairs with 512-bit panels on a 512-bit machine, and
     * with a mixed profile C2 compiled the panels' sums to the vector API's Java fallback, an array a vector. A
     * lanewise call here has a profile of its own, of one vector class.
     */

    /** dst[d + kk·PR ..] = the PR floats of a at s + kk·lda, for kk < kc. */
    private static void copyPair(float[] a, int s, int lda, int kc, float[] dst, int d) {
        for (int kk = 0; kk < kc; kk++, s += lda, d += PR) {
            FloatVector.fromArray(PAIR_SPECIES, a, s).intoArray(dst, d);
        }
    }

    /** {@link #copyPair}, adding the PR rows' values into rowSums[o ..] in K order. */
    private static void copyPairSumming(float[] a, int s, int lda, int kc, float[] dst, int d, float[] rowSums, int o) {
        FloatVector sum = FloatVector.fromArray(PAIR_SPECIES, rowSums, o);
        for (int kk = 0; kk < kc; kk++, s += lda, d += PR) {
            FloatVector v = FloatVector.fromArray(PAIR_SPECIES, a, s);
            v.intoArray(dst, d);
            sum = sum.lanewise(VectorOperators.ADD, v);
        }
        sum.intoArray(rowSums, o);
    }

    /** Packs k [pc, pc+kc) × columns [col, col+cols) of op(B) as one NR-wide panel laid out [kc][NR], zero-padded. */
    static void packB(boolean transB, float[] b, int bOff, int ldb, int pc, int kc, int col, int cols,
                              float[] dst, int base, float[] columnSums, int columnSumsOff) {
        if (!transB) {
            // B(k,j) = b[k·ldb + j]: rows of the panel are contiguous in b.
            int src = bOff + pc * ldb + col;
            if (cols == NR && columnSums == null) {
                copyPanel(b, src, ldb, kc, dst, base);
            } else if (cols == NR) {
                copyPanelSumming(b, src, ldb, kc, dst, base, columnSums, columnSumsOff + col);
            } else {
                for (int kk = 0; kk < kc; kk++, src += ldb) {
                    int d = base + kk * NR;
                    int j = 0;
                    for (; j < cols; j++) {
                        dst[d + j] = b[src + j];
                    }
                    for (; j < NR; j++) {
                        dst[d + j] = 0f;
                    }
                }
                if (columnSums != null) {
                    for (int j = 0; j < cols; j++) {
                        float sum = 0f;
                        for (int kk = 0, sIdx = bOff + pc * ldb + col + j; kk < kc; kk++, sIdx += ldb) sum += b[sIdx];
                        columnSums[columnSumsOff + col + j] += sum;
                    }
                }
            }
        } else {
            // B(k,j) = b[j·ldb + k]: read each column of the panel contiguously, write it with stride NR.
            for (int j = 0; j < NR; j++) {
                if (j < cols) {
                    int src = bOff + (col + j) * ldb + pc;
                    for (int kk = 0; kk < kc; kk++) {
                        dst[base + kk * NR + j] = b[src + kk];
                    }
                } else {
                    for (int kk = 0; kk < kc; kk++) {
                        dst[base + kk * NR + j] = 0f;
                    }
                }
            }
        }
    }

    /* A full panel's copies, methods of their own for the reasons given at copyPair. */

    /** dst[base + kk·NR ..] = the NR floats of b at src + kk·ldb, for kk < kc: NV = 3 vectors a row. */
    private static void copyPanel(float[] b, int src, int ldb, int kc, float[] dst, int base) {
        for (int kk = 0; kk < kc; kk++, src += ldb) {
            int d = base + kk * NR;
            FloatVector.fromArray(SPECIES, b, src).intoArray(dst, d);
            FloatVector.fromArray(SPECIES, b, src + VL).intoArray(dst, d + VL);
            FloatVector.fromArray(SPECIES, b, src + 2 * VL).intoArray(dst, d + 2 * VL);
        }
    }

    /** {@link #copyPanel}, adding each column's values in K order into columnSums[o ..]; the sums stay in registers. */
    private static void copyPanelSumming(float[] b, int src, int ldb, int kc, float[] dst, int base,
                                         float[] columnSums, int o) {
        FloatVector sum0 = FloatVector.zero(SPECIES), sum1 = FloatVector.zero(SPECIES);
        FloatVector sum2 = FloatVector.zero(SPECIES);
        for (int kk = 0; kk < kc; kk++, src += ldb) {
            int d = base + kk * NR;
            FloatVector v0 = FloatVector.fromArray(SPECIES, b, src);
            FloatVector v1 = FloatVector.fromArray(SPECIES, b, src + VL);
            FloatVector v2 = FloatVector.fromArray(SPECIES, b, src + 2 * VL);
            v0.intoArray(dst, d);
            v1.intoArray(dst, d + VL);
            v2.intoArray(dst, d + 2 * VL);
            sum0 = sum0.lanewise(VectorOperators.ADD, v0);
            sum1 = sum1.lanewise(VectorOperators.ADD, v1);
            sum2 = sum2.lanewise(VectorOperators.ADD, v2);
        }
        addPanelSums(columnSums, o, sum0, sum1, sum2);
    }

    /** {@link #packTransposedA} with every element rounded to {@code precision}; the row sums are of A as given. */
    private static void packTransposedARounded(Precision precision, float[] a, int aOff, int lda, int row0, int rows,
                                               int pc, int kc, float[] dst, int dstOff, float[] rowSums,
                                               int rowSumsOff) {
        int pairStride = PR * kc;
        int fullRows = PAIR_PACK ? rows / PR * PR : 0;
        for (int r0 = 0; r0 < fullRows; r0 += PR) {
            int s = aOff + pc * lda + row0 + r0;
            int d = dstOff + r0 / PR * pairStride;
            int o = rowSumsOff + r0;
            FloatVector sum = rowSums != null ? FloatVector.fromArray(PAIR_SPECIES, rowSums, o) : null;
            for (int kk = 0; kk < kc; kk++, s += lda, d += PR) {
                FloatVector v = FloatVector.fromArray(PAIR_SPECIES, a, s);
                round(v, precision).intoArray(dst, d);
                if (sum != null) sum = sum.lanewise(VectorOperators.ADD, v);
            }
            if (sum != null) sum.intoArray(rowSums, o);
        }
        for (int r0 = fullRows; r0 < rows; r0 += PR) {
            int live = Math.min(PR, rows - r0);
            int src = aOff + pc * lda + row0 + r0;
            for (int kk = 0, s = src, d = dstOff + r0 / PR * pairStride; kk < kc; kk++, s += lda, d += PR) {
                for (int r = 0; r < PR; r++) dst[d + r] = r < live ? precision.round(a[s + r]) : 0f;
            }
            if (rowSums != null) {
                for (int r = 0; r < live; r++) {
                    float sum = rowSums[rowSumsOff + r0 + r];
                    for (int kk = 0, s = src + r; kk < kc; kk++, s += lda) sum += a[s];
                    rowSums[rowSumsOff + r0 + r] = sum;
                }
            }
        }
    }

    /** {@link #packB} with every element rounded to {@code precision}; the column sums are of B as given. */
    private static void packBRounded(Precision precision, boolean transB, float[] b, int bOff, int ldb, int pc, int kc,
                                     int col, int cols, float[] dst, int base, float[] columnSums, int columnSumsOff) {
        if (!transB && cols == NR) {
            FloatVector sum0 = FloatVector.zero(SPECIES), sum1 = FloatVector.zero(SPECIES);
            FloatVector sum2 = FloatVector.zero(SPECIES);
            for (int kk = 0, src = bOff + pc * ldb + col; kk < kc; kk++, src += ldb) {
                int d = base + kk * NR;
                FloatVector v0 = FloatVector.fromArray(SPECIES, b, src);
                FloatVector v1 = FloatVector.fromArray(SPECIES, b, src + VL);
                FloatVector v2 = FloatVector.fromArray(SPECIES, b, src + 2 * VL);
                round(v0, precision).intoArray(dst, d);
                round(v1, precision).intoArray(dst, d + VL);
                round(v2, precision).intoArray(dst, d + 2 * VL);
                sum0 = sum0.lanewise(VectorOperators.ADD, v0);
                sum1 = sum1.lanewise(VectorOperators.ADD, v1);
                sum2 = sum2.lanewise(VectorOperators.ADD, v2);
            }
            if (columnSums != null) addPanelSums(columnSums, columnSumsOff + col, sum0, sum1, sum2);
            return;
        }
        for (int j = 0; j < NR; j++) {
            for (int kk = 0; kk < kc; kk++) {
                // B(k,j): b[k·ldb + j], or b[j·ldb + k] when transposed.
                int src = transB ? bOff + (col + j) * ldb + pc + kk : bOff + (pc + kk) * ldb + col + j;
                dst[base + kk * NR + j] = j < cols ? precision.round(b[src]) : 0f;
            }
        }
        if (columnSums != null) {
            for (int j = 0; j < cols; j++) {
                float sum = 0f;
                for (int kk = 0, sIdx = bOff + pc * ldb + col + j; kk < kc; kk++, sIdx += ldb) sum += b[sIdx];
                columnSums[columnSumsOff + col + j] += sum;
            }
        }
    }

    /**
     * Rows [row0, row0+rows) × k [pc, pc+kc) of an untransposed A, A(i,k) = a[aOff + i·lda + k], rounded to
     * {@code precision} into dst row by row, kc floats a row: the kernel reads it as it reads A in place.
     */
    static void packRoundedRows(Precision precision, float[] a, int aOff, int lda, int row0, int rows, int pc, int kc,
                                float[] dst) {
        int vectorEnd = kc - kc % VL;
        for (int r = 0; r < rows; r++) {
            int src = aOff + (row0 + r) * lda + pc, d = r * kc;
            int kk = 0;
            for (; kk < vectorEnd; kk += VL) {
                round(FloatVector.fromArray(SPECIES, a, src + kk), precision).intoArray(dst, d + kk);
            }
            for (; kk < kc; kk++) dst[d + kk] = precision.round(a[src + kk]);
        }
    }

    /**
     * {@link Precision#round} lane by lane: the dropped bits rounded to the nearest, ties to even, with a NaN kept a
     * (quiet) NaN, exactly as the scalar rounding does. {@code precision} is not fp32.
     */
    static FloatVector round(FloatVector v, Precision precision) {
        int dropped = precision.droppedBits(), keep = -1 << dropped;
        IntVector bits = v.reinterpretAsInts();
        IntVector lastKept = bits.lanewise(VectorOperators.LSHR, dropped).and(1);
        FloatVector rounded = bits.add(lastKept.add((1 << (dropped - 1)) - 1)).and(keep).reinterpretAsFloats();
        FloatVector quietNan = bits.or(QUIET_NAN_BIT).and(keep).reinterpretAsFloats();
        return rounded.blend(quietNan, v.test(VectorOperators.IS_NAN));
    }

    /** The top significand bit: set in a NaN it keeps the NaN quiet and a NaN once its low bits are dropped. */
    private static final int QUIET_NAN_BIT = 1 << 22;

    /** Rows that a transposed A of this many MR-row panels takes once packed: whole PR-row pairs. */
    static int pairedRows(int panels) {
        return ceilDiv(panels, 2) * PR;
    }

    /** columnSums[o, o + 3·VL) += one panel's three vector lanes of column sums. */
    private static void addPanelSums(float[] columnSums, int o, FloatVector sum0, FloatVector sum1, FloatVector sum2) {
        FloatVector.fromArray(SPECIES, columnSums, o).lanewise(VectorOperators.ADD, sum0)
                .intoArray(columnSums, o);
        FloatVector.fromArray(SPECIES, columnSums, o + VL).lanewise(VectorOperators.ADD, sum1)
                .intoArray(columnSums, o + VL);
        FloatVector.fromArray(SPECIES, columnSums, o + 2 * VL).lanewise(VectorOperators.ADD, sum2)
                .intoArray(columnSums, o + 2 * VL);
    }
}
