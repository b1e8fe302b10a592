package dev.tornadovit.tornado.kernels;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.annotations.Parallel;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.BFloat16;
import uk.ac.manchester.tornado.api.types.arrays.ByteArray;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;

/**
 * Kernels where every output element is computed on its own: one @Parallel loop each, TornadoVM picks the grid.
 * Backward kernels add into their gradients ({@code +=}), as the Backend contract asks. Flags are ints (0/1) because
 * kernels take no booleans.
 */
public final class ElementwiseKernels {
    private ElementwiseKernels() {
    }

    /**
     * Reads and rewrites element 0 of each array: a task that makes TornadoVM allocate and upload a group of tensors
     * (an owner graph), since it only allocates arrays that some task uses.
     */
    public static void touch(FloatArray a0, FloatArray a1, FloatArray a2, FloatArray a3, FloatArray a4, FloatArray a5,
                             FloatArray a6, FloatArray a7, FloatArray a8, FloatArray a9, FloatArray a10, FloatArray a11) {
        for (@Parallel int i = 0; i < 1; i++) {
            a0.set(0, a0.get(0));
            a1.set(0, a1.get(0));
            a2.set(0, a2.get(0));
            a3.set(0, a3.get(0));
            a4.set(0, a4.get(0));
            a5.set(0, a5.get(0));
            a6.set(0, a6.get(0));
            a7.set(0, a7.get(0));
            a8.set(0, a8.get(0));
            a9.set(0, a9.get(0));
            a10.set(0, a10.get(0));
            a11.set(0, a11.get(0));
        }
    }

    /** {@link #touch} for bf16 buffers. */
    public static void touchHalves(ShortArray a0, ShortArray a1, ShortArray a2, ShortArray a3, ShortArray a4,
                                   ShortArray a5, ShortArray a6, ShortArray a7, ShortArray a8, ShortArray a9,
                                   ShortArray a10, ShortArray a11) {
        for (@Parallel int i = 0; i < 1; i++) {
            a0.set(0, a0.get(0));
            a1.set(0, a1.get(0));
            a2.set(0, a2.get(0));
            a3.set(0, a3.get(0));
            a4.set(0, a4.get(0));
            a5.set(0, a5.get(0));
            a6.set(0, a6.get(0));
            a7.set(0, a7.get(0));
            a8.set(0, a8.get(0));
            a9.set(0, a9.get(0));
            a10.set(0, a10.get(0));
            a11.set(0, a11.get(0));
        }
    }

    /**
     * dst[offset + i] = src[i] rounded to bf16, for i < n: a matrix product's fp32 operand stored as bf16, starting
     * {@code offset} values into its buffer (see {@code Bf16Operands} for why). TornadoVM's CUDA backend compiles
     * {@link BFloat16#bf16FromFloat} to the hardware's round-to-nearest-even conversion; elsewhere its Java body
     * rounds exact ties away from zero (one bf16 step from the CPU's emulation on those values only) and writes -0 as
     * +0; a device that flushes subnormals to zero (NVIDIA's OpenCL) writes zero for them.
     */
    public static void roundToBf16(FloatArray src, ShortArray dst, int n, int offset) {
        for (@Parallel int i = 0; i < n; i++) dst.set(offset + i, BFloat16.bf16FromFloat(src.get(i)));
    }

    /**
     * out[i] = table[c·256 + pixel] for the 8-bit pixel pixels[i] of channel c = (i / planeSize) mod channels, for
     * i < count[0]: a batch of CHW images through a PixelTable, a lookup rather than arithmetic so that every device
     * gives the host's floats. The count is an array, sent with the pixels, so that one compiled kernel serves a full
     * batch and a smaller last one; out past the count keeps its values.
     */
    public static void pixelsToFloats(ByteArray pixels, FloatArray table, IntArray count, FloatArray out, int planeSize,
                                      int channels, int capacity) {
        for (@Parallel int i = 0; i < capacity; i++) {
            if (i < count.get(0)) {
                int channel = (i / planeSize) % channels;
                out.set(i, table.get(channel * 256 + (pixels.get(i) & 0xFF)));
            }
        }
    }

    public static void zero(FloatArray x, int n) {
        for (@Parallel int i = 0; i < n; i++) x.set(i, 0f);
    }

    /** y[i, j] = bias[j] for y [total / n, n]: a bias under a product that then adds into y. */
    public static void broadcastRows(FloatArray bias, FloatArray y, int total, int n) {
        for (@Parallel int i = 0; i < total; i++) y.set(i, bias.get(i % n));
    }

    public static void copy(FloatArray src, FloatArray dst, int n) {
        for (@Parallel int i = 0; i < n; i++) dst.set(i, src.get(i));
    }

    public static void add(FloatArray a, FloatArray b, FloatArray out, int n) {
        for (@Parallel int i = 0; i < n; i++) out.set(i, a.get(i) + b.get(i));
    }

    public static void accumulate(FloatArray dst, FloatArray src, int n) {
        for (@Parallel int i = 0; i < n; i++) dst.set(i, dst.get(i) + src.get(i));
    }

    public static void gelu(FloatArray x, FloatArray y, int n) {
        for (@Parallel int i = 0; i < n; i++) y.set(i, DeviceMath.gelu(x.get(i)));
    }

    /** dx (+)= dy ⊙ GELU'(x): added with {@code accumulate} 1, overwritten with 0. */
    public static void geluBackward(FloatArray x, FloatArray dy, FloatArray dx, int n, int accumulate) {
        for (@Parallel int i = 0; i < n; i++) {
            float old = accumulate == 1 ? dx.get(i) : 0f;
            dx.set(i, old + dy.get(i) * DeviceMath.geluDerivative(x.get(i)));
        }
    }

    /**
     * Elements a thread in the wide forms of copy, GELU and GELU's backward: thread i takes i, i + q, i + 2q and i + 3q
     * (q = {@link #wideThreads}(n)), so each of its loads is coalesced across a warp, and it issues all of them before
     * its first store: four loads in flight a thread where the @Parallel loops above have one (a GPU needs several to
     * cover its memory latency at full bandwidth). Each element's arithmetic is the same as above. Grid: one thread per
     * i < q ({@code Launches.parallelGrid}).
     */
    public static final int WIDE = 4;

    /** Threads of a wide kernel over n elements. */
    public static int wideThreads(int n) {
        return (n + WIDE - 1) / WIDE;
    }

    /** {@link #copy}, {@link #WIDE} elements a thread. */
    public static void copyWide(KernelContext ctx, FloatArray src, FloatArray dst, int n, int q) {
        int i0 = ctx.globalIdx;
        if (i0 < q) {
            int i1 = i0 + q, i2 = i1 + q, i3 = i2 + q;
            float v0 = src.get(i0);
            float v1 = i1 < n ? src.get(i1) : 0f;
            float v2 = i2 < n ? src.get(i2) : 0f;
            float v3 = i3 < n ? src.get(i3) : 0f;
            dst.set(i0, v0);
            if (i1 < n) dst.set(i1, v1);
            if (i2 < n) dst.set(i2, v2);
            if (i3 < n) dst.set(i3, v3);
        }
    }

    /** {@link #gelu}, {@link #WIDE} elements a thread. */
    public static void geluWide(KernelContext ctx, FloatArray x, FloatArray y, int n, int q) {
        int i0 = ctx.globalIdx;
        if (i0 < q) {
            int i1 = i0 + q, i2 = i1 + q, i3 = i2 + q;
            float v0 = x.get(i0);
            float v1 = i1 < n ? x.get(i1) : 0f;
            float v2 = i2 < n ? x.get(i2) : 0f;
            float v3 = i3 < n ? x.get(i3) : 0f;
            y.set(i0, DeviceMath.gelu(v0));
            if (i1 < n) y.set(i1, DeviceMath.gelu(v1));
            if (i2 < n) y.set(i2, DeviceMath.gelu(v2));
            if (i3 < n) y.set(i3, DeviceMath.gelu(v3));
        }
    }

    /** {@link #geluBackward}, {@link #WIDE} elements a thread. */
    public static void geluBackwardWide(KernelContext ctx, FloatArray x, FloatArray dy, FloatArray dx, int n, int q,
                                        int accumulate) {
        int i0 = ctx.globalIdx;
        if (i0 < q) {
            int i1 = i0 + q, i2 = i1 + q, i3 = i2 + q;
            boolean in1 = i1 < n, in2 = i2 < n, in3 = i3 < n;
            float x0 = x.get(i0), g0 = dy.get(i0), o0 = accumulate == 1 ? dx.get(i0) : 0f;
            float x1 = in1 ? x.get(i1) : 0f, g1 = in1 ? dy.get(i1) : 0f, o1 = in1 && accumulate == 1 ? dx.get(i1) : 0f;
            float x2 = in2 ? x.get(i2) : 0f, g2 = in2 ? dy.get(i2) : 0f, o2 = in2 && accumulate == 1 ? dx.get(i2) : 0f;
            float x3 = in3 ? x.get(i3) : 0f, g3 = in3 ? dy.get(i3) : 0f, o3 = in3 && accumulate == 1 ? dx.get(i3) : 0f;
            dx.set(i0, o0 + g0 * DeviceMath.geluDerivative(x0));
            if (in1) dx.set(i1, o1 + g1 * DeviceMath.geluDerivative(x1));
            if (in2) dx.set(i2, o2 + g2 * DeviceMath.geluDerivative(x2));
            if (in3) dx.set(i3, o3 + g3 * DeviceMath.geluDerivative(x3));
        }
    }

    public static void sigmoidGate(FloatArray gatePre, FloatArray o, FloatArray out, int n) {
        for (@Parallel int i = 0; i < n; i++) out.set(i, o.get(i) * DeviceMath.sigmoid(gatePre.get(i)));
    }

    public static void sigmoidGateBackward(FloatArray gatePre, FloatArray o, FloatArray dOut, FloatArray dGatePre,
                                           FloatArray dO, int n) {
        for (@Parallel int i = 0; i < n; i++) {
            float sg = DeviceMath.sigmoid(gatePre.get(i));
            float g = dOut.get(i);
            dO.set(i, dO.get(i) + g * sg);
            dGatePre.set(i, dGatePre.get(i) + g * o.get(i) * sg * (1f - sg));
        }
    }

    /** images [B,C,H,W] → patches [B·N, C·p·p], one thread per patch element. */
    public static void im2col(FloatArray images, FloatArray patches, int batch, int channels, int height, int width,
                              int patch) {
        int gh = height / patch, gw = width / patch, rowLen = channels * patch * patch;
        int total = batch * gh * gw * rowLen;
        for (@Parallel int e = 0; e < total; e++) {
            int row = e / rowLen, within = e % rowLen;
            int c = within / (patch * patch), dy = (within / patch) % patch, dx = within % patch;
            int b = row / (gh * gw), cell = row % (gh * gw), py = cell / gw, px = cell % gw;
            patches.set(e, images.get(((b * channels + c) * height + py * patch + dy) * width + px * patch + dx));
        }
    }

    /** tokens [B,T,D]: optional cls first, patch embeddings, plus learned pos [T,D] and/or fixed pos [N,D]. */
    public static void assembleTokens(FloatArray patchEmbeddings, FloatArray cls, FloatArray pos, FloatArray fixedPos,
                                      FloatArray tokens, int batch, int patches, int dim, int hasCls, int hasPos,
                                      int hasFixedPos) {
        int tokenCount = patches + hasCls;
        int total = batch * tokenCount * dim;
        for (@Parallel int e = 0; e < total; e++) {
            int i = e % dim, bt = e / dim, b = bt / tokenCount, t = bt % tokenCount;
            float v;
            if (t < hasCls) {
                v = cls.get(i);
            } else {
                v = patchEmbeddings.get((b * patches + t - hasCls) * dim + i);
                if (hasFixedPos == 1) v += fixedPos.get((t - hasCls) * dim + i);
            }
            if (hasPos == 1) v += pos.get(t * dim + i);
            tokens.set(e, v);
        }
    }

    public static void assembleTokensBackwardPatches(FloatArray dTokens, FloatArray dPatchEmbeddings, int batch,
                                                     int patches, int dim, int hasCls) {
        int tokenCount = patches + hasCls;
        int total = batch * patches * dim;
        for (@Parallel int e = 0; e < total; e++) {
            int i = e % dim, bp = e / dim, b = bp / patches, t = bp % patches + hasCls;
            dPatchEmbeddings.set(e, dPatchEmbeddings.get(e) + dTokens.get((b * tokenCount + t) * dim + i));
        }
    }

    /** dPos [T,D] and dCls [D]: sums over the batch, one thread per (token, feature), batch summed in order. */
    public static void assembleTokensBackwardShared(FloatArray dTokens, FloatArray dCls, FloatArray dPos, int batch,
                                                    int patches, int dim, int hasCls, int wantCls, int wantPos) {
        int tokenCount = patches + hasCls;
        int total = tokenCount * dim;
        for (@Parallel int e = 0; e < total; e++) {
            int t = e / dim, i = e % dim;
            float sum = 0f;
            for (int b = 0; b < batch; b++) sum += dTokens.get((b * tokenCount + t) * dim + i);
            if (wantPos == 1) dPos.set(e, dPos.get(e) + sum);
            if (wantCls == 1 && t < hasCls) dCls.set(i, dCls.get(i) + sum);
        }
    }

    /** qkv [B,T,3,H,hd] → q, k, v [B,H,T,hd]. */
    public static void splitHeads(FloatArray qkv, FloatArray q, FloatArray k, FloatArray v, int batch, int tokens,
                                  int heads, int headDim) {
        int dim = heads * headDim;
        int total = batch * tokens * dim;
        for (@Parallel int e = 0; e < total; e++) {
            int hi = e % dim, bt = e / dim, b = bt / tokens, t = bt % tokens, h = hi / headDim, i = hi % headDim;
            int dst = ((b * heads + h) * tokens + t) * headDim + i;
            int src = bt * 3 * dim + hi;
            q.set(dst, qkv.get(src));
            k.set(dst, qkv.get(src + dim));
            v.set(dst, qkv.get(src + 2 * dim));
        }
    }

    /** dQkv (+)= dq, dk, dv in the qkv layout: added with {@code accumulate} 1, overwritten with 0. */
    public static void splitHeadsBackward(FloatArray dq, FloatArray dk, FloatArray dv, FloatArray dQkv, int batch,
                                          int tokens, int heads, int headDim, int accumulate) {
        int dim = heads * headDim;
        int total = batch * tokens * dim;
        for (@Parallel int e = 0; e < total; e++) {
            int hi = e % dim, bt = e / dim, b = bt / tokens, t = bt % tokens, h = hi / headDim, i = hi % headDim;
            int src = ((b * heads + h) * tokens + t) * headDim + i;
            int dst = bt * 3 * dim + hi;
            float q = dq.get(src), k = dk.get(src), v = dv.get(src);
            if (accumulate == 1) {
                q += dQkv.get(dst);
                k += dQkv.get(dst + dim);
                v += dQkv.get(dst + 2 * dim);
            }
            dQkv.set(dst, q);
            dQkv.set(dst + dim, k);
            dQkv.set(dst + 2 * dim, v);
        }
    }

    /** o [B,H,T,hd] → out [B,T,H·hd]. */
    public static void mergeHeads(FloatArray o, FloatArray out, int batch, int tokens, int heads, int headDim) {
        int dim = heads * headDim;
        int total = batch * tokens * dim;
        for (@Parallel int e = 0; e < total; e++) {
            int hi = e % dim, bt = e / dim, b = bt / tokens, t = bt % tokens, h = hi / headDim, i = hi % headDim;
            out.set(e, o.get(((b * heads + h) * tokens + t) * headDim + i));
        }
    }

    /** dO (+)= dOut in the [B,H,T,hd] layout: added with {@code accumulate} 1, overwritten with 0. */
    public static void mergeHeadsBackward(FloatArray dOut, FloatArray dO, int batch, int tokens, int heads,
                                          int headDim, int accumulate) {
        int dim = heads * headDim;
        int total = batch * tokens * dim;
        for (@Parallel int e = 0; e < total; e++) {
            int hi = e % dim, bt = e / dim, b = bt / tokens, t = bt % tokens, h = hi / headDim, i = hi % headDim;
            int dst = ((b * heads + h) * tokens + t) * headDim + i;
            float old = accumulate == 1 ? dO.get(dst) : 0f;
            dO.set(dst, old + dOut.get(e));
        }
    }

    /** Pointwise attention weights a = scale·h(s): every score on its own. */
    public static void pointwiseWeights(FloatArray scores, FloatArray weights, int n, int kind, float scale) {
        for (@Parallel int i = 0; i < n; i++) weights.set(i, scale * DeviceMath.activation(kind, scores.get(i)));
    }

    /** dScores (+)= scale·dWeights ⊙ h'(scores): added with {@code accumulate} 1, overwritten with 0. */
    public static void pointwiseWeightsBackward(FloatArray scores, FloatArray dWeights, FloatArray dScores, int n,
                                                int kind, float scale, int accumulate) {
        for (@Parallel int i = 0; i < n; i++) {
            float old = accumulate == 1 ? dScores.get(i) : 0f;
            dScores.set(i, old + scale * dWeights.get(i) * DeviceMath.activationDerivative(kind, scores.get(i)));
        }
    }

    /**
     * dScores (+)= dWeights ⊙ scale·h'(s) from the weights alone ({@link DeviceMath#derivativeFromWeight}): added
     * with {@code accumulate} 1, overwritten with 0.
     */
    public static void pointwiseWeightsBackwardFromWeights(FloatArray weights, FloatArray dWeights, FloatArray dScores,
                                                           int n, int kind, float scale, int accumulate) {
        for (@Parallel int i = 0; i < n; i++) {
            float old = accumulate == 1 ? dScores.get(i) : 0f;
            dScores.set(i, old + dWeights.get(i) * DeviceMath.derivativeFromWeight(kind, weights.get(i), scale));
        }
    }

    /** Re-attention's head mixing: out[b,g,:] = Σ_h θ[g,h]·maps[b,h,:] + bias[g]. */
    public static void headMix(FloatArray maps, FloatArray theta, FloatArray bias, FloatArray out, int batch, int heads,
                               int mapSize) {
        int total = batch * heads * mapSize;
        for (@Parallel int e = 0; e < total; e++) {
            int i = e % mapSize, bg = e / mapSize, b = bg / heads, g = bg % heads;
            float sum = bias.get(g);
            for (int h = 0; h < heads; h++) sum += theta.get(g * heads + h) * maps.get((b * heads + h) * mapSize + i);
            out.set(e, sum);
        }
    }

    public static void headMixBackwardMaps(FloatArray dOut, FloatArray theta, FloatArray dMaps, int batch, int heads,
                                           int mapSize) {
        int total = batch * heads * mapSize;
        for (@Parallel int e = 0; e < total; e++) {
            int i = e % mapSize, bh = e / mapSize, b = bh / heads, h = bh % heads;
            float sum = 0f;
            for (int g = 0; g < heads; g++) sum += theta.get(g * heads + h) * dOut.get((b * heads + g) * mapSize + i);
            dMaps.set(e, dMaps.get(e) + sum);
        }
    }

    /** BatchNorm over heads, applying batch statistics (training) or the running ones (eval). */
    public static void headBatchNormApply(FloatArray x, FloatArray gamma, FloatArray beta, FloatArray y,
                                          FloatArray mean, FloatArray rstd, FloatArray runningMean,
                                          FloatArray runningVar, int batch, int heads, int mapSize, float eps,
                                          int training) {
        int total = batch * heads * mapSize;
        for (@Parallel int e = 0; e < total; e++) {
            int h = (e / mapSize) % heads;
            float m, r;
            if (training == 1) {
                m = mean.get(h);
                r = rstd.get(h);
            } else {
                m = runningMean.get(h);
                r = 1f / TornadoMath.sqrt(runningVar.get(h) + eps);
            }
            float scale = r * gamma.get(h);
            y.set(e, (x.get(e) - m) * scale + beta.get(h));
        }
    }

    /** dx of training-mode BatchNorm, given sums [2H] = (Σdy, Σdy·x̂) per head. */
    public static void headBatchNormBackwardInput(FloatArray dy, FloatArray x, FloatArray gamma, FloatArray mean,
                                                  FloatArray rstd, FloatArray sums, FloatArray dx, int batch,
                                                  int heads, int mapSize) {
        int total = batch * heads * mapSize;
        float count = (float) batch * (float) mapSize;
        for (@Parallel int e = 0; e < total; e++) {
            int h = (e / mapSize) % heads;
            float r = rstd.get(h);
            float meanG = sums.get(2 * h) / count, meanGx = sums.get(2 * h + 1) / count;
            float xh = (x.get(e) - mean.get(h)) * r;
            dx.set(e, dx.get(e) + gamma.get(h) * r * (dy.get(e) - meanG - xh * meanGx));
        }
    }

    /** LayerNorm across the head axis at each (b, s): one thread per position, looping over the heads. */
    public static void headLayerNorm(FloatArray x, FloatArray gamma, FloatArray beta, FloatArray y, FloatArray mean,
                                     FloatArray rstd, int batch, int heads, int mapSize, float eps) {
        int total = batch * mapSize;
        for (@Parallel int bi = 0; bi < total; bi++) {
            int b = bi / mapSize, i = bi % mapSize, base = b * heads * mapSize + i;
            float sum = 0f;
            for (int h = 0; h < heads; h++) sum += x.get(base + h * mapSize);
            float m = sum / heads;
            float var = 0f;
            for (int h = 0; h < heads; h++) {
                float c = x.get(base + h * mapSize) - m;
                var += c * c;
            }
            float r = 1f / TornadoMath.sqrt(var / heads + eps);
            mean.set(bi, m);
            rstd.set(bi, r);
            for (int h = 0; h < heads; h++) {
                int idx = base + h * mapSize;
                y.set(idx, (x.get(idx) - m) * r * gamma.get(h) + beta.get(h));
            }
        }
    }

    public static void headLayerNormBackwardInput(FloatArray dy, FloatArray x, FloatArray gamma, FloatArray mean,
                                                  FloatArray rstd, FloatArray dx, int batch, int heads, int mapSize) {
        int total = batch * mapSize;
        for (@Parallel int bi = 0; bi < total; bi++) {
            int b = bi / mapSize, i = bi % mapSize, base = b * heads * mapSize + i;
            float m = mean.get(bi), r = rstd.get(bi);
            float meanG = 0f, meanGx = 0f;
            for (int h = 0; h < heads; h++) {
                int idx = base + h * mapSize;
                float xh = (x.get(idx) - m) * r, gh = dy.get(idx) * gamma.get(h);
                meanG += gh;
                meanGx += gh * xh;
            }
            meanG /= heads;
            meanGx /= heads;
            for (int h = 0; h < heads; h++) {
                int idx = base + h * mapSize;
                float xh = (x.get(idx) - m) * r;
                dx.set(idx, dx.get(idx) + r * (dy.get(idx) * gamma.get(h) - meanG - xh * meanGx));
            }
        }
    }

    /** pooled [B,D]: token 0 (mean == 0) or the mean over tokens (mean == 1). */
    public static void pool(FloatArray tokens, FloatArray pooled, int batch, int tokenCount, int dim, int mean) {
        int total = batch * dim;
        for (@Parallel int e = 0; e < total; e++) {
            int b = e / dim, i = e % dim;
            float v;
            if (mean == 1) {
                float sum = 0f;
                for (int t = 0; t < tokenCount; t++) sum += tokens.get((b * tokenCount + t) * dim + i);
                v = sum / tokenCount;
            } else {
                v = tokens.get(b * tokenCount * dim + i);
            }
            pooled.set(e, v);
        }
    }

    public static void poolBackward(FloatArray dPooled, FloatArray dTokens, int batch, int tokenCount, int dim,
                                    int mean) {
        int total = batch * tokenCount * dim;
        for (@Parallel int e = 0; e < total; e++) {
            int i = e % dim, bt = e / dim, b = bt / tokenCount, t = bt % tokenCount;
            float g = dPooled.get(b * dim + i);
            if (mean == 1) {
                dTokens.set(e, dTokens.get(e) + g / tokenCount);
            } else if (t == 0) {
                dTokens.set(e, dTokens.get(e) + g);
            }
        }
    }

    /**
     * AdamW with decoupled weight decay, the moments at {@code momentOffset} in m and v; hyper = [lr, 1-β1^t, 1-β2^t,
     * gradient scale] changes every step and is uploaded into a tensor, so the recorded task stays valid.
     */
    public static void adamW(FloatArray param, FloatArray grad, FloatArray m, FloatArray v, FloatArray hyper,
                             int momentOffset, int n, float weightDecay, float beta1, float beta2, float eps) {
        for (@Parallel int i = 0; i < n; i++) {
            float lr = hyper.get(0), bc1 = hyper.get(1), bc2 = hyper.get(2), gradScale = hyper.get(3);
            OptimizerKernels.adamWElement(param, grad, m, v, i, momentOffset + i, 1f - lr * weightDecay, lr / bc1,
                    1f / TornadoMath.sqrt(bc2), gradScale, beta1, beta2, eps);
        }
    }
}
