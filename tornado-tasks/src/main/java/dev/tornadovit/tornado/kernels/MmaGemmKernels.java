package dev.tornadovit.tornado.kernels;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.enums.MMAShape;
import uk.ac.manchester.tornado.api.types.BFloat16;
import uk.ac.manchester.tornado.api.types.HalfFloat;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * The batched matrix product of {@link MatmulKernels} on the tensor cores: operands rounded to bfloat16, products
 * summed in fp32 by {@code mma.sync.m16n8k16.bf16} (TornadoVM's {@link KernelContext#mmaBF16}), the same contract
 * C[z] (+)= alpha · op(A[z]) · op(B[z]) (+ bias) on the same fp32 buffers, one kernel per layout: {@link #mmaNN},
 * {@link #mmaNT} (x·Wᵀ) and {@link #mmaTN} (dyᵀ·x). Any size works: edges are zero-padded.
 *
 * <p>Rounding: every operand is rounded to bf16 as it is staged into local memory, by
 * {@link BFloat16#bf16FromFloat}, which TornadoVM's CUDA backend compiles to round-to-nearest-even on the float's bit
 * pattern ({@code (u + 0x7FFF + ((u >> 16) & 1)) >> 16}): the same bits as {@code Precision.roundToBf16} for every
 * finite value and infinity (overflow rounds to infinity); a NaN becomes bf16's canonical quiet NaN, so a NaN operand
 * still makes its outputs NaN. The products of two bf16 values are exact in fp32, so the results differ from the CPU
 * backend's bf16 emulation only in the order of the fp32 sum. (TornadoVM's Java version of that method rounds ties
 * away from zero: it is not what runs on the GPU, and these kernels run nowhere else.)
 *
 * <p>Tiling: a work-group of 8 warps (256 threads, one-dimensional: the MMA intrinsics take the lane from threadIdx.x)
 * computes a 128×128 tile of C; warp w covers rows 32·(w / 2) and columns 64·(w % 2), as 2 × 8 accumulator fragments
 * of 16×8. K advances 32 at a time: the threads load a 128×32 slice of each operand (8 pairs of floats each), round
 * and pack every two neighbours along the fragment's contiguous axis into one int (low half first), store them in the
 * layouts TornadoVM's {@code ldmatrix} loads read, and after a barrier each warp makes 2 × 16 {@code mma.sync}.
 * <ul>
 *   <li>A slice: two 16-deep halves, each [128 rows][16 k] (32 bytes a row); fragment (i, half h) of warp row band
 *       wm starts at byte h·4096 + wm·1024 + i·512 ({@code mmaLoadA}'s x4 ldmatrix reads 16 rows of 32 bytes).</li>
 *   <li>B slice: two halves, each 16 panels of [16 k][8 columns] (16 bytes a row, 256 a panel); fragment (j, h) of
 *       warp column band wn starts at byte h·4096 + (8·wn + j)·256 ({@code mmaLoadB}: x2 ldmatrix, transposed).</li>
 * </ul>
 *
 * <p>Epilogue: TornadoVM's fragments are opaque (no element can be read in Java), and {@code mmaStore} writes a
 * fragment unscaled at (row, column) of a row-major matrix with no bounds. So each warp stores its fragments into this
 * work-group's own 128×128 block of a scratch matrix ({@code tiles}, one block per work-group of the launch, see
 * {@link #tilesSize}); after a barrier (CUDA's __syncthreads makes the block's global writes visible to the whole
 * block) the 256 threads read the block back row by row, coalesced, and write alpha·acc (+ bias) (+ C) where it lies
 * inside C. This costs one extra write and read of a C-sized block per tile, against 128·K multiply-adds per element.
 *
 * <p>Only TornadoVM's CUDA backend compiles these kernels, on compute capability 8.0 or newer; the OpenCL and PTX
 * backends refuse {@code mmaBF16}. Grid: (⌈N/128⌉·256, ⌈M/128⌉, batches), local (256, 1, 1).
 */
public final class MmaGemmKernels {
    private MmaGemmKernels() {
    }

    /** Tile edge of a work-group, K per slice, threads per work-group. */
    public static final int TILE = 128, DEPTH = 32, THREADS = 256;
    /** Ints in one operand's local slice: 128 × 32 bf16 values, two to an int. */
    private static final int SLICE_INTS = TILE * DEPTH / 2;
    /** Ints in one 16-deep half of a slice, and its size in bytes. */
    private static final int HALF_INTS = SLICE_INTS / 2, HALF_BYTES = 4 * HALF_INTS;
    /** Pairs of values each thread stages per operand and slice. */
    private static final int PAIRS = SLICE_INTS / THREADS;
    /** The m16n8k16 shape's K, and the bytes of one 16×16 A fragment and one 16×8 B panel in local memory. */
    private static final int MMA_K = 16, A_FRAGMENT_BYTES = 512, B_PANEL_BYTES = 256;

    /** Floats the scratch matrix {@code tiles} needs for an M×N product over {@code batches}. */
    public static long tilesSize(int m, int n, int batches) {
        return (long) ceil(m) * ceil(n) * batches * TILE * TILE;
    }

    private static int ceil(int extent) {
        return (extent + TILE - 1) / TILE;
    }

    /** C[z] (+)= alpha·A[z]·B[z] (+ bias): A [M,K], B [K,N] (dy·W, weights·v, dS·k). */
    public static void mmaNN(KernelContext ctx, FloatArray a, FloatArray b, FloatArray c, FloatArray bias,
                             FloatArray tiles, int m, int n, int k, int strideA, int strideB, int strideC, float alpha,
                             int accumulate, int hasBias) {
        int[] as = ctx.allocateIntLocalArray(SLICE_INTS);
        int[] bs = ctx.allocateIntLocalArray(SLICE_INTS);
        int t = ctx.localIdx, warp = t / 32, wm = warp / 2, wn = warp % 2;
        int row0 = ctx.groupIdy * TILE, col0 = ctx.groupIdx * TILE, z = ctx.groupIdz;
        int aBase = z * strideA, bBase = z * strideB;
        float[] c00 = ctx.mmaFragment(0f), c01 = ctx.mmaFragment(0f), c02 = ctx.mmaFragment(0f);
        float[] c03 = ctx.mmaFragment(0f), c04 = ctx.mmaFragment(0f), c05 = ctx.mmaFragment(0f);
        float[] c06 = ctx.mmaFragment(0f), c07 = ctx.mmaFragment(0f);
        float[] c10 = ctx.mmaFragment(0f), c11 = ctx.mmaFragment(0f), c12 = ctx.mmaFragment(0f);
        float[] c13 = ctx.mmaFragment(0f), c14 = ctx.mmaFragment(0f), c15 = ctx.mmaFragment(0f);
        float[] c16 = ctx.mmaFragment(0f), c17 = ctx.mmaFragment(0f);
        for (int k0 = 0; k0 < k; k0 += DEPTH) {
            for (int l = 0; l < PAIRS; l++) {
                int p = t + l * THREADS;
                // A [M,K], pairs along K, 16 threads to a row's 32 values: row r, values kk, kk + 1
                int r = p / 16, kp = p % 16, i = row0 + r, kk = k0 + 2 * kp, at = aBase + i * k + kk;
                as[aLocal(r, kp)] = pack(a, at, at + 1, i < m && kk < k, i < m && kk + 1 < k);
                // B [K,N], pairs along N, 64 threads to a row's 128 values: row kb, columns j, j + 1
                int kb = p / 64, jp = p % 64, j = col0 + 2 * jp, kx = k0 + kb, bt = bBase + kx * n + j;
                bs[bLocal(kb, jp)] = pack(b, bt, bt + 1, kx < k && j < n, kx < k && j + 1 < n);
            }
            ctx.localBarrier();
            // the slice's first 16-deep half, then its second; written out twice, not as a loop: TornadoVM's CUDA
            // backend carries fragments through one loop only
            int aOff = wm * 2 * A_FRAGMENT_BYTES, bOff = wn * 8 * B_PANEL_BYTES;
            HalfFloat[] a0 = ctx.mmaLoadA(as, MMA_K, aOff);
            HalfFloat[] a1 = ctx.mmaLoadA(as, MMA_K, aOff + A_FRAGMENT_BYTES);
            HalfFloat[] b0 = ctx.mmaLoadB(bs, MMA_K, bOff);
            HalfFloat[] b1 = ctx.mmaLoadB(bs, MMA_K, bOff + B_PANEL_BYTES);
            HalfFloat[] b2 = ctx.mmaLoadB(bs, MMA_K, bOff + 2 * B_PANEL_BYTES);
            HalfFloat[] b3 = ctx.mmaLoadB(bs, MMA_K, bOff + 3 * B_PANEL_BYTES);
            HalfFloat[] b4 = ctx.mmaLoadB(bs, MMA_K, bOff + 4 * B_PANEL_BYTES);
            HalfFloat[] b5 = ctx.mmaLoadB(bs, MMA_K, bOff + 5 * B_PANEL_BYTES);
            HalfFloat[] b6 = ctx.mmaLoadB(bs, MMA_K, bOff + 6 * B_PANEL_BYTES);
            HalfFloat[] b7 = ctx.mmaLoadB(bs, MMA_K, bOff + 7 * B_PANEL_BYTES);
            c00 = ctx.mmaBF16(a0, b0, c00, MMAShape.M16N8K16);
            c01 = ctx.mmaBF16(a0, b1, c01, MMAShape.M16N8K16);
            c02 = ctx.mmaBF16(a0, b2, c02, MMAShape.M16N8K16);
            c03 = ctx.mmaBF16(a0, b3, c03, MMAShape.M16N8K16);
            c04 = ctx.mmaBF16(a0, b4, c04, MMAShape.M16N8K16);
            c05 = ctx.mmaBF16(a0, b5, c05, MMAShape.M16N8K16);
            c06 = ctx.mmaBF16(a0, b6, c06, MMAShape.M16N8K16);
            c07 = ctx.mmaBF16(a0, b7, c07, MMAShape.M16N8K16);
            c10 = ctx.mmaBF16(a1, b0, c10, MMAShape.M16N8K16);
            c11 = ctx.mmaBF16(a1, b1, c11, MMAShape.M16N8K16);
            c12 = ctx.mmaBF16(a1, b2, c12, MMAShape.M16N8K16);
            c13 = ctx.mmaBF16(a1, b3, c13, MMAShape.M16N8K16);
            c14 = ctx.mmaBF16(a1, b4, c14, MMAShape.M16N8K16);
            c15 = ctx.mmaBF16(a1, b5, c15, MMAShape.M16N8K16);
            c16 = ctx.mmaBF16(a1, b6, c16, MMAShape.M16N8K16);
            c17 = ctx.mmaBF16(a1, b7, c17, MMAShape.M16N8K16);
            HalfFloat[] a0h = ctx.mmaLoadA(as, MMA_K, aOff + HALF_BYTES);
            HalfFloat[] a1h = ctx.mmaLoadA(as, MMA_K, aOff + HALF_BYTES + A_FRAGMENT_BYTES);
            HalfFloat[] b0h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES);
            HalfFloat[] b1h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + B_PANEL_BYTES);
            HalfFloat[] b2h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 2 * B_PANEL_BYTES);
            HalfFloat[] b3h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 3 * B_PANEL_BYTES);
            HalfFloat[] b4h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 4 * B_PANEL_BYTES);
            HalfFloat[] b5h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 5 * B_PANEL_BYTES);
            HalfFloat[] b6h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 6 * B_PANEL_BYTES);
            HalfFloat[] b7h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 7 * B_PANEL_BYTES);
            c00 = ctx.mmaBF16(a0h, b0h, c00, MMAShape.M16N8K16);
            c01 = ctx.mmaBF16(a0h, b1h, c01, MMAShape.M16N8K16);
            c02 = ctx.mmaBF16(a0h, b2h, c02, MMAShape.M16N8K16);
            c03 = ctx.mmaBF16(a0h, b3h, c03, MMAShape.M16N8K16);
            c04 = ctx.mmaBF16(a0h, b4h, c04, MMAShape.M16N8K16);
            c05 = ctx.mmaBF16(a0h, b5h, c05, MMAShape.M16N8K16);
            c06 = ctx.mmaBF16(a0h, b6h, c06, MMAShape.M16N8K16);
            c07 = ctx.mmaBF16(a0h, b7h, c07, MMAShape.M16N8K16);
            c10 = ctx.mmaBF16(a1h, b0h, c10, MMAShape.M16N8K16);
            c11 = ctx.mmaBF16(a1h, b1h, c11, MMAShape.M16N8K16);
            c12 = ctx.mmaBF16(a1h, b2h, c12, MMAShape.M16N8K16);
            c13 = ctx.mmaBF16(a1h, b3h, c13, MMAShape.M16N8K16);
            c14 = ctx.mmaBF16(a1h, b4h, c14, MMAShape.M16N8K16);
            c15 = ctx.mmaBF16(a1h, b5h, c15, MMAShape.M16N8K16);
            c16 = ctx.mmaBF16(a1h, b6h, c16, MMAShape.M16N8K16);
            c17 = ctx.mmaBF16(a1h, b7h, c17, MMAShape.M16N8K16);
            ctx.localBarrier();
        }
        int block = blockRow(m, n, z, ctx.groupIdy, ctx.groupIdx), r0 = block + wm * 32, q0 = wn * 64;
        ctx.mmaStore(c00, tiles, r0, q0, TILE);
        ctx.mmaStore(c01, tiles, r0, q0 + 8, TILE);
        ctx.mmaStore(c02, tiles, r0, q0 + 16, TILE);
        ctx.mmaStore(c03, tiles, r0, q0 + 24, TILE);
        ctx.mmaStore(c04, tiles, r0, q0 + 32, TILE);
        ctx.mmaStore(c05, tiles, r0, q0 + 40, TILE);
        ctx.mmaStore(c06, tiles, r0, q0 + 48, TILE);
        ctx.mmaStore(c07, tiles, r0, q0 + 56, TILE);
        ctx.mmaStore(c10, tiles, r0 + 16, q0, TILE);
        ctx.mmaStore(c11, tiles, r0 + 16, q0 + 8, TILE);
        ctx.mmaStore(c12, tiles, r0 + 16, q0 + 16, TILE);
        ctx.mmaStore(c13, tiles, r0 + 16, q0 + 24, TILE);
        ctx.mmaStore(c14, tiles, r0 + 16, q0 + 32, TILE);
        ctx.mmaStore(c15, tiles, r0 + 16, q0 + 40, TILE);
        ctx.mmaStore(c16, tiles, r0 + 16, q0 + 48, TILE);
        ctx.mmaStore(c17, tiles, r0 + 16, q0 + 56, TILE);
        ctx.localBarrier();
        int tileAt = block * TILE, cBase = z * strideC;
        for (int e = t; e < TILE * TILE; e += THREADS) {
            epilogue(tiles, c, bias, tileAt + e, cBase, row0 + e / TILE, col0 + e % TILE, m, n, alpha, accumulate,
                    hasBias);
        }
    }

    /** C[z] (+)= alpha·A[z]·B[z]ᵀ (+ bias): A [M,K], B stored [N,K] (x·Wᵀ + b, q·kᵀ). */
    public static void mmaNT(KernelContext ctx, FloatArray a, FloatArray b, FloatArray c, FloatArray bias,
                             FloatArray tiles, int m, int n, int k, int strideA, int strideB, int strideC, float alpha,
                             int accumulate, int hasBias) {
        int[] as = ctx.allocateIntLocalArray(SLICE_INTS);
        int[] bs = ctx.allocateIntLocalArray(SLICE_INTS);
        int t = ctx.localIdx, warp = t / 32, wm = warp / 2, wn = warp % 2;
        int row0 = ctx.groupIdy * TILE, col0 = ctx.groupIdx * TILE, z = ctx.groupIdz;
        int aBase = z * strideA, bBase = z * strideB;
        float[] c00 = ctx.mmaFragment(0f), c01 = ctx.mmaFragment(0f), c02 = ctx.mmaFragment(0f);
        float[] c03 = ctx.mmaFragment(0f), c04 = ctx.mmaFragment(0f), c05 = ctx.mmaFragment(0f);
        float[] c06 = ctx.mmaFragment(0f), c07 = ctx.mmaFragment(0f);
        float[] c10 = ctx.mmaFragment(0f), c11 = ctx.mmaFragment(0f), c12 = ctx.mmaFragment(0f);
        float[] c13 = ctx.mmaFragment(0f), c14 = ctx.mmaFragment(0f), c15 = ctx.mmaFragment(0f);
        float[] c16 = ctx.mmaFragment(0f), c17 = ctx.mmaFragment(0f);
        for (int k0 = 0; k0 < k; k0 += DEPTH) {
            for (int l = 0; l < PAIRS; l++) {
                int p = t + l * THREADS;
                // A [M,K], pairs along K, 16 threads to a row's 32 values: row r, values kk, kk + 1
                int r = p / 16, kp = p % 16, i = row0 + r, kk = k0 + 2 * kp, at = aBase + i * k + kk;
                as[aLocal(r, kp)] = pack(a, at, at + 1, i < m && kk < k, i < m && kk + 1 < k);
                // B stored [N,K], pairs along N (two rows of B), 32 threads along K so that a warp reads B's rows
                // j and j + 1 contiguously
                int kb = p % 32, jp = p / 32, j = col0 + 2 * jp, kx = k0 + kb, bt = bBase + j * k + kx;
                bs[bLocal(kb, jp)] = pack(b, bt, bt + k, kx < k && j < n, kx < k && j + 1 < n);
            }
            ctx.localBarrier();
            // the slice's first 16-deep half, then its second; written out twice, not as a loop: TornadoVM's CUDA
            // backend carries fragments through one loop only
            int aOff = wm * 2 * A_FRAGMENT_BYTES, bOff = wn * 8 * B_PANEL_BYTES;
            HalfFloat[] a0 = ctx.mmaLoadA(as, MMA_K, aOff);
            HalfFloat[] a1 = ctx.mmaLoadA(as, MMA_K, aOff + A_FRAGMENT_BYTES);
            HalfFloat[] b0 = ctx.mmaLoadB(bs, MMA_K, bOff);
            HalfFloat[] b1 = ctx.mmaLoadB(bs, MMA_K, bOff + B_PANEL_BYTES);
            HalfFloat[] b2 = ctx.mmaLoadB(bs, MMA_K, bOff + 2 * B_PANEL_BYTES);
            HalfFloat[] b3 = ctx.mmaLoadB(bs, MMA_K, bOff + 3 * B_PANEL_BYTES);
            HalfFloat[] b4 = ctx.mmaLoadB(bs, MMA_K, bOff + 4 * B_PANEL_BYTES);
            HalfFloat[] b5 = ctx.mmaLoadB(bs, MMA_K, bOff + 5 * B_PANEL_BYTES);
            HalfFloat[] b6 = ctx.mmaLoadB(bs, MMA_K, bOff + 6 * B_PANEL_BYTES);
            HalfFloat[] b7 = ctx.mmaLoadB(bs, MMA_K, bOff + 7 * B_PANEL_BYTES);
            c00 = ctx.mmaBF16(a0, b0, c00, MMAShape.M16N8K16);
            c01 = ctx.mmaBF16(a0, b1, c01, MMAShape.M16N8K16);
            c02 = ctx.mmaBF16(a0, b2, c02, MMAShape.M16N8K16);
            c03 = ctx.mmaBF16(a0, b3, c03, MMAShape.M16N8K16);
            c04 = ctx.mmaBF16(a0, b4, c04, MMAShape.M16N8K16);
            c05 = ctx.mmaBF16(a0, b5, c05, MMAShape.M16N8K16);
            c06 = ctx.mmaBF16(a0, b6, c06, MMAShape.M16N8K16);
            c07 = ctx.mmaBF16(a0, b7, c07, MMAShape.M16N8K16);
            c10 = ctx.mmaBF16(a1, b0, c10, MMAShape.M16N8K16);
            c11 = ctx.mmaBF16(a1, b1, c11, MMAShape.M16N8K16);
            c12 = ctx.mmaBF16(a1, b2, c12, MMAShape.M16N8K16);
            c13 = ctx.mmaBF16(a1, b3, c13, MMAShape.M16N8K16);
            c14 = ctx.mmaBF16(a1, b4, c14, MMAShape.M16N8K16);
            c15 = ctx.mmaBF16(a1, b5, c15, MMAShape.M16N8K16);
            c16 = ctx.mmaBF16(a1, b6, c16, MMAShape.M16N8K16);
            c17 = ctx.mmaBF16(a1, b7, c17, MMAShape.M16N8K16);
            HalfFloat[] a0h = ctx.mmaLoadA(as, MMA_K, aOff + HALF_BYTES);
            HalfFloat[] a1h = ctx.mmaLoadA(as, MMA_K, aOff + HALF_BYTES + A_FRAGMENT_BYTES);
            HalfFloat[] b0h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES);
            HalfFloat[] b1h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + B_PANEL_BYTES);
            HalfFloat[] b2h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 2 * B_PANEL_BYTES);
            HalfFloat[] b3h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 3 * B_PANEL_BYTES);
            HalfFloat[] b4h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 4 * B_PANEL_BYTES);
            HalfFloat[] b5h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 5 * B_PANEL_BYTES);
            HalfFloat[] b6h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 6 * B_PANEL_BYTES);
            HalfFloat[] b7h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 7 * B_PANEL_BYTES);
            c00 = ctx.mmaBF16(a0h, b0h, c00, MMAShape.M16N8K16);
            c01 = ctx.mmaBF16(a0h, b1h, c01, MMAShape.M16N8K16);
            c02 = ctx.mmaBF16(a0h, b2h, c02, MMAShape.M16N8K16);
            c03 = ctx.mmaBF16(a0h, b3h, c03, MMAShape.M16N8K16);
            c04 = ctx.mmaBF16(a0h, b4h, c04, MMAShape.M16N8K16);
            c05 = ctx.mmaBF16(a0h, b5h, c05, MMAShape.M16N8K16);
            c06 = ctx.mmaBF16(a0h, b6h, c06, MMAShape.M16N8K16);
            c07 = ctx.mmaBF16(a0h, b7h, c07, MMAShape.M16N8K16);
            c10 = ctx.mmaBF16(a1h, b0h, c10, MMAShape.M16N8K16);
            c11 = ctx.mmaBF16(a1h, b1h, c11, MMAShape.M16N8K16);
            c12 = ctx.mmaBF16(a1h, b2h, c12, MMAShape.M16N8K16);
            c13 = ctx.mmaBF16(a1h, b3h, c13, MMAShape.M16N8K16);
            c14 = ctx.mmaBF16(a1h, b4h, c14, MMAShape.M16N8K16);
            c15 = ctx.mmaBF16(a1h, b5h, c15, MMAShape.M16N8K16);
            c16 = ctx.mmaBF16(a1h, b6h, c16, MMAShape.M16N8K16);
            c17 = ctx.mmaBF16(a1h, b7h, c17, MMAShape.M16N8K16);
            ctx.localBarrier();
        }
        int block = blockRow(m, n, z, ctx.groupIdy, ctx.groupIdx), r0 = block + wm * 32, q0 = wn * 64;
        ctx.mmaStore(c00, tiles, r0, q0, TILE);
        ctx.mmaStore(c01, tiles, r0, q0 + 8, TILE);
        ctx.mmaStore(c02, tiles, r0, q0 + 16, TILE);
        ctx.mmaStore(c03, tiles, r0, q0 + 24, TILE);
        ctx.mmaStore(c04, tiles, r0, q0 + 32, TILE);
        ctx.mmaStore(c05, tiles, r0, q0 + 40, TILE);
        ctx.mmaStore(c06, tiles, r0, q0 + 48, TILE);
        ctx.mmaStore(c07, tiles, r0, q0 + 56, TILE);
        ctx.mmaStore(c10, tiles, r0 + 16, q0, TILE);
        ctx.mmaStore(c11, tiles, r0 + 16, q0 + 8, TILE);
        ctx.mmaStore(c12, tiles, r0 + 16, q0 + 16, TILE);
        ctx.mmaStore(c13, tiles, r0 + 16, q0 + 24, TILE);
        ctx.mmaStore(c14, tiles, r0 + 16, q0 + 32, TILE);
        ctx.mmaStore(c15, tiles, r0 + 16, q0 + 40, TILE);
        ctx.mmaStore(c16, tiles, r0 + 16, q0 + 48, TILE);
        ctx.mmaStore(c17, tiles, r0 + 16, q0 + 56, TILE);
        ctx.localBarrier();
        int tileAt = block * TILE, cBase = z * strideC;
        for (int e = t; e < TILE * TILE; e += THREADS) {
            epilogue(tiles, c, bias, tileAt + e, cBase, row0 + e / TILE, col0 + e % TILE, m, n, alpha, accumulate,
                    hasBias);
        }
    }

    /** C[z] (+)= alpha·A[z]ᵀ·B[z] (+ bias): A stored [K,M], B [K,N] (dyᵀ·x, dSᵀ·q). */
    public static void mmaTN(KernelContext ctx, FloatArray a, FloatArray b, FloatArray c, FloatArray bias,
                             FloatArray tiles, int m, int n, int k, int strideA, int strideB, int strideC, float alpha,
                             int accumulate, int hasBias) {
        int[] as = ctx.allocateIntLocalArray(SLICE_INTS);
        int[] bs = ctx.allocateIntLocalArray(SLICE_INTS);
        int t = ctx.localIdx, warp = t / 32, wm = warp / 2, wn = warp % 2;
        int row0 = ctx.groupIdy * TILE, col0 = ctx.groupIdx * TILE, z = ctx.groupIdz;
        int aBase = z * strideA, bBase = z * strideB;
        float[] c00 = ctx.mmaFragment(0f), c01 = ctx.mmaFragment(0f), c02 = ctx.mmaFragment(0f);
        float[] c03 = ctx.mmaFragment(0f), c04 = ctx.mmaFragment(0f), c05 = ctx.mmaFragment(0f);
        float[] c06 = ctx.mmaFragment(0f), c07 = ctx.mmaFragment(0f);
        float[] c10 = ctx.mmaFragment(0f), c11 = ctx.mmaFragment(0f), c12 = ctx.mmaFragment(0f);
        float[] c13 = ctx.mmaFragment(0f), c14 = ctx.mmaFragment(0f), c15 = ctx.mmaFragment(0f);
        float[] c16 = ctx.mmaFragment(0f), c17 = ctx.mmaFragment(0f);
        for (int k0 = 0; k0 < k; k0 += DEPTH) {
            for (int l = 0; l < PAIRS; l++) {
                int p = t + l * THREADS;
                // A stored [K,M], pairs along K (two rows of A), 128 threads along M so that a warp reads contiguously
                int r = p % TILE, kp = p / TILE, i = row0 + r, kk = k0 + 2 * kp, at = aBase + kk * m + i;
                as[aLocal(r, kp)] = pack(a, at, at + m, i < m && kk < k, i < m && kk + 1 < k);
                // B [K,N], pairs along N, 64 threads to a row's 128 values: row kb, columns j, j + 1
                int kb = p / 64, jp = p % 64, j = col0 + 2 * jp, kx = k0 + kb, bt = bBase + kx * n + j;
                bs[bLocal(kb, jp)] = pack(b, bt, bt + 1, kx < k && j < n, kx < k && j + 1 < n);
            }
            ctx.localBarrier();
            // the slice's first 16-deep half, then its second; written out twice, not as a loop: TornadoVM's CUDA
            // backend carries fragments through one loop only
            int aOff = wm * 2 * A_FRAGMENT_BYTES, bOff = wn * 8 * B_PANEL_BYTES;
            HalfFloat[] a0 = ctx.mmaLoadA(as, MMA_K, aOff);
            HalfFloat[] a1 = ctx.mmaLoadA(as, MMA_K, aOff + A_FRAGMENT_BYTES);
            HalfFloat[] b0 = ctx.mmaLoadB(bs, MMA_K, bOff);
            HalfFloat[] b1 = ctx.mmaLoadB(bs, MMA_K, bOff + B_PANEL_BYTES);
            HalfFloat[] b2 = ctx.mmaLoadB(bs, MMA_K, bOff + 2 * B_PANEL_BYTES);
            HalfFloat[] b3 = ctx.mmaLoadB(bs, MMA_K, bOff + 3 * B_PANEL_BYTES);
            HalfFloat[] b4 = ctx.mmaLoadB(bs, MMA_K, bOff + 4 * B_PANEL_BYTES);
            HalfFloat[] b5 = ctx.mmaLoadB(bs, MMA_K, bOff + 5 * B_PANEL_BYTES);
            HalfFloat[] b6 = ctx.mmaLoadB(bs, MMA_K, bOff + 6 * B_PANEL_BYTES);
            HalfFloat[] b7 = ctx.mmaLoadB(bs, MMA_K, bOff + 7 * B_PANEL_BYTES);
            c00 = ctx.mmaBF16(a0, b0, c00, MMAShape.M16N8K16);
            c01 = ctx.mmaBF16(a0, b1, c01, MMAShape.M16N8K16);
            c02 = ctx.mmaBF16(a0, b2, c02, MMAShape.M16N8K16);
            c03 = ctx.mmaBF16(a0, b3, c03, MMAShape.M16N8K16);
            c04 = ctx.mmaBF16(a0, b4, c04, MMAShape.M16N8K16);
            c05 = ctx.mmaBF16(a0, b5, c05, MMAShape.M16N8K16);
            c06 = ctx.mmaBF16(a0, b6, c06, MMAShape.M16N8K16);
            c07 = ctx.mmaBF16(a0, b7, c07, MMAShape.M16N8K16);
            c10 = ctx.mmaBF16(a1, b0, c10, MMAShape.M16N8K16);
            c11 = ctx.mmaBF16(a1, b1, c11, MMAShape.M16N8K16);
            c12 = ctx.mmaBF16(a1, b2, c12, MMAShape.M16N8K16);
            c13 = ctx.mmaBF16(a1, b3, c13, MMAShape.M16N8K16);
            c14 = ctx.mmaBF16(a1, b4, c14, MMAShape.M16N8K16);
            c15 = ctx.mmaBF16(a1, b5, c15, MMAShape.M16N8K16);
            c16 = ctx.mmaBF16(a1, b6, c16, MMAShape.M16N8K16);
            c17 = ctx.mmaBF16(a1, b7, c17, MMAShape.M16N8K16);
            HalfFloat[] a0h = ctx.mmaLoadA(as, MMA_K, aOff + HALF_BYTES);
            HalfFloat[] a1h = ctx.mmaLoadA(as, MMA_K, aOff + HALF_BYTES + A_FRAGMENT_BYTES);
            HalfFloat[] b0h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES);
            HalfFloat[] b1h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + B_PANEL_BYTES);
            HalfFloat[] b2h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 2 * B_PANEL_BYTES);
            HalfFloat[] b3h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 3 * B_PANEL_BYTES);
            HalfFloat[] b4h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 4 * B_PANEL_BYTES);
            HalfFloat[] b5h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 5 * B_PANEL_BYTES);
            HalfFloat[] b6h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 6 * B_PANEL_BYTES);
            HalfFloat[] b7h = ctx.mmaLoadB(bs, MMA_K, bOff + HALF_BYTES + 7 * B_PANEL_BYTES);
            c00 = ctx.mmaBF16(a0h, b0h, c00, MMAShape.M16N8K16);
            c01 = ctx.mmaBF16(a0h, b1h, c01, MMAShape.M16N8K16);
            c02 = ctx.mmaBF16(a0h, b2h, c02, MMAShape.M16N8K16);
            c03 = ctx.mmaBF16(a0h, b3h, c03, MMAShape.M16N8K16);
            c04 = ctx.mmaBF16(a0h, b4h, c04, MMAShape.M16N8K16);
            c05 = ctx.mmaBF16(a0h, b5h, c05, MMAShape.M16N8K16);
            c06 = ctx.mmaBF16(a0h, b6h, c06, MMAShape.M16N8K16);
            c07 = ctx.mmaBF16(a0h, b7h, c07, MMAShape.M16N8K16);
            c10 = ctx.mmaBF16(a1h, b0h, c10, MMAShape.M16N8K16);
            c11 = ctx.mmaBF16(a1h, b1h, c11, MMAShape.M16N8K16);
            c12 = ctx.mmaBF16(a1h, b2h, c12, MMAShape.M16N8K16);
            c13 = ctx.mmaBF16(a1h, b3h, c13, MMAShape.M16N8K16);
            c14 = ctx.mmaBF16(a1h, b4h, c14, MMAShape.M16N8K16);
            c15 = ctx.mmaBF16(a1h, b5h, c15, MMAShape.M16N8K16);
            c16 = ctx.mmaBF16(a1h, b6h, c16, MMAShape.M16N8K16);
            c17 = ctx.mmaBF16(a1h, b7h, c17, MMAShape.M16N8K16);
            ctx.localBarrier();
        }
        int block = blockRow(m, n, z, ctx.groupIdy, ctx.groupIdx), r0 = block + wm * 32, q0 = wn * 64;
        ctx.mmaStore(c00, tiles, r0, q0, TILE);
        ctx.mmaStore(c01, tiles, r0, q0 + 8, TILE);
        ctx.mmaStore(c02, tiles, r0, q0 + 16, TILE);
        ctx.mmaStore(c03, tiles, r0, q0 + 24, TILE);
        ctx.mmaStore(c04, tiles, r0, q0 + 32, TILE);
        ctx.mmaStore(c05, tiles, r0, q0 + 40, TILE);
        ctx.mmaStore(c06, tiles, r0, q0 + 48, TILE);
        ctx.mmaStore(c07, tiles, r0, q0 + 56, TILE);
        ctx.mmaStore(c10, tiles, r0 + 16, q0, TILE);
        ctx.mmaStore(c11, tiles, r0 + 16, q0 + 8, TILE);
        ctx.mmaStore(c12, tiles, r0 + 16, q0 + 16, TILE);
        ctx.mmaStore(c13, tiles, r0 + 16, q0 + 24, TILE);
        ctx.mmaStore(c14, tiles, r0 + 16, q0 + 32, TILE);
        ctx.mmaStore(c15, tiles, r0 + 16, q0 + 40, TILE);
        ctx.mmaStore(c16, tiles, r0 + 16, q0 + 48, TILE);
        ctx.mmaStore(c17, tiles, r0 + 16, q0 + 56, TILE);
        ctx.localBarrier();
        int tileAt = block * TILE, cBase = z * strideC;
        for (int e = t; e < TILE * TILE; e += THREADS) {
            epilogue(tiles, c, bias, tileAt + e, cBase, row0 + e / TILE, col0 + e % TILE, m, n, alpha, accumulate,
                    hasBias);
        }
    }

    /**
     * Where the pair (row r, values 2·kp and 2·kp + 1 of the slice) of A goes: half kp / 8, then 8 ints a row. So the
     * 16 rows of one A fragment are 512 contiguous bytes, as {@code ldmatrix} (rows of 32 bytes) reads them.
     */
    private static int aLocal(int r, int kp) {
        return kp / 8 * HALF_INTS + r * 8 + kp % 8;
    }

    /**
     * Where the pair (K row kb of the slice, columns 2·jp and 2·jp + 1) of B goes: half kb / 16, then panel jp / 4 of
     * eight columns (64 ints), then 4 ints a K row. A panel is the 16×8 B fragment {@code ldmatrix .trans} reads.
     */
    private static int bLocal(int kb, int jp) {
        return kb / 16 * HALF_INTS + jp / 4 * 64 + kb % 16 * 4 + jp % 4;
    }

    /** The bf16 patterns of x[lo] and x[hi] (0 outside the matrix) in one int, x[lo] in the low half. */
    private static int pack(FloatArray x, int lo, int hi, boolean loInside, boolean hiInside) {
        // widened to long before masking: TornadoVM's CUDA backend types bf16FromFloat's result as a C short and keeps
        // "short & 0xFFFF" a short, so an int mask would sign-extend a negative low half into 0xFFFF, a bf16 NaN
        long low = loInside ? BFloat16.bf16FromFloat(x.get(lo)) & 0xFFFFL : 0L;
        long high = hiInside ? BFloat16.bf16FromFloat(x.get(hi)) & 0xFFFFL : 0L;
        return (int) (low | (high << 16));
    }

    /** The first row, in the scratch matrix of 128-wide rows, of the work-group (z, tile row, tile column)'s block. */
    private static int blockRow(int m, int n, int z, int tileRow, int tileCol) {
        return ((z * ceil(m) + tileRow) * ceil(n) + tileCol) * TILE;
    }

    /** C[cBase + i·N + j] (+)= alpha·tiles[at] (+ bias[j]), where (i, j) lies inside C. */
    private static void epilogue(FloatArray tiles, FloatArray c, FloatArray bias, int at, int cBase, int i, int j,
                                 int m, int n, float alpha, int accumulate, int hasBias) {
        if (i < m && j < n) {
            int idx = cBase + i * n + j;
            float v = alpha * tiles.get(at);
            if (hasBias == 1) v += bias.get(j);
            if (accumulate == 1) v += c.get(idx);
            c.set(idx, v);
        }
    }
}
