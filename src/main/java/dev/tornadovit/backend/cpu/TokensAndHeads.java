package dev.tornadovit.backend.cpu;

import dev.tornadovit.backend.cpu.ReusableLoops.Kernel;
import dev.tornadovit.tensor.PoolMode;

import java.util.Arrays;

/**
 * {@link CpuBackend}'s layout operations: images to patch rows, patch embeddings to tokens (class token and position
 * embeddings added), tokens to per-head blocks and back, and tokens pooled to one vector per image; with their
 * gradients.
 */
final class TokensAndHeads {

    private TokensAndHeads() {}

    private static final Kernel IM2COL = (in, start, end) -> {
        float[] img = in.f0, out = in.f1;
        int channels = in.i0, height = in.i1, width = in.i2, patch = in.i3;
        int gh = height / patch, gw = width / patch, rowLen = channels * patch * patch;
        for (int r = start; r < end; r++) {
            int b = r / gh, py = r % gh;
            for (int px = 0; px < gw; px++) {
                int row = r * gw + px;
                for (int c = 0; c < channels; c++)
                    for (int dy = 0; dy < patch; dy++) {
                        int src = ((b * channels + c) * height + py * patch + dy) * width + px * patch;
                        System.arraycopy(img, src, out, row * rowLen + (c * patch + dy) * patch, patch);
                    }
            }
        }
    };

    /** One row of {@code channels·patch²} values per patch, parallel over rows of patches. */
    static void im2col(float[] img, float[] out, int batch, int channels, int height, int width, int patch) {
        OperationLoops.loop().arrays(img, out).ints(channels, height, width, patch)
                .run(IM2COL, batch * (height / patch), 1);
    }

    private static final Kernel ASSEMBLE_TOKENS = (in, start, end) -> {
        float[] pe = in.f0, c = in.f1, p = in.f2, fp = in.f3, out = in.f4;
        int patches = in.i0, dim = in.i1, first = c == null ? 0 : 1, tokenCount = patches + first;
        for (int bt = start; bt < end; bt++) {
            int b = bt / tokenCount, t = bt % tokenCount, o = bt * dim;
            if (t < first) System.arraycopy(c, 0, out, o, dim);
            else {
                System.arraycopy(pe, (b * patches + t - first) * dim, out, o, dim);
                if (fp != null) for (int i = 0; i < dim; i++) out[o + i] += fp[(t - first) * dim + i];
            }
            if (p != null) for (int i = 0; i < dim; i++) out[o + i] += p[t * dim + i];
        }
    };

    /** {@code c}, {@code p} and {@code fp} (class token, learned and fixed positions) may be null. */
    static void assembleTokens(float[] pe, float[] c, float[] p, float[] fp, float[] out, int batch, int patches,
                               int dim) {
        int tokenCount = patches + (c == null ? 0 : 1);
        OperationLoops.loop().arrays(pe, c, p, fp, out).ints(patches, dim).run(ASSEMBLE_TOKENS, batch * tokenCount, 64);
    }

    private static final Kernel PATCH_EMBEDDING_GRADIENTS = (in, start, end) -> {
        float[] g = in.f0, dpe = in.f1;
        int patches = in.i0, dim = in.i1, first = in.i2, tokenCount = patches + first;
        for (int bp = start; bp < end; bp++) {
            int b = bp / patches, t = bp % patches + first;
            int src = (b * tokenCount + t) * dim, dst = bp * dim;
            for (int i = 0; i < dim; i++) dpe[dst + i] += g[src + i];
        }
    };

    private static final Kernel CLS_AND_POSITION_GRADIENTS = (in, start, end) -> {
        float[] g = in.f0, dc = in.f1, dp = in.f2;
        int patches = in.i0, dim = in.i1, first = in.i2, batch = in.i3, tokenCount = patches + first;
        for (int t = start; t < end; t++) {
            for (int b = 0; b < batch; b++) {
                int src = (b * tokenCount + t) * dim;
                if (dp != null) for (int i = 0; i < dim; i++) dp[t * dim + i] += g[src + i];
                if (t < first && dc != null) for (int i = 0; i < dim; i++) dc[i] += g[src + i];
            }
        }
    };

    /** {@code dc} (class token) and {@code dp} (positions) may be null. */
    static void assembleTokensBackward(float[] g, float[] dpe, float[] dc, float[] dp, int batch, int patches, int dim,
                                       boolean hasCls) {
        int first = hasCls ? 1 : 0;
        ReusableLoops.Loop loop = OperationLoops.loop();
        loop.arrays(g, dpe).ints(patches, dim, first).run(PATCH_EMBEDDING_GRADIENTS, batch * patches, 64);
        // cls and position gradients sum over the batch: parallel over positions, batch summed in order.
        loop.arrays(g, dc, dp).ints(patches, dim, first, batch).run(CLS_AND_POSITION_GRADIENTS, patches + first, 4);
    }

    private static final Kernel SPLIT_HEADS = (in, start, end) -> {
        float[] qkv = in.f0, qq = in.f1, kk = in.f2, vv = in.f3;
        int tokens = in.i0, heads = in.i1, headDim = in.i2, dim = heads * headDim;
        for (int bt = start; bt < end; bt++) {
            int b = bt / tokens, t = bt % tokens;
            for (int h = 0; h < heads; h++) {
                int src = bt * 3 * dim + h * headDim, dst = ((b * heads + h) * tokens + t) * headDim;
                System.arraycopy(qkv, src, qq, dst, headDim);
                System.arraycopy(qkv, src + dim, kk, dst, headDim);
                System.arraycopy(qkv, src + 2 * dim, vv, dst, headDim);
            }
        }
    };

    static void splitHeads(float[] qkv, float[] q, float[] k, float[] v, int batch, int tokens, int heads,
                           int headDim) {
        OperationLoops.loop().arrays(qkv, q, k, v).ints(tokens, heads, headDim).run(SPLIT_HEADS, batch * tokens, 16);
    }

    private static final Kernel SPLIT_HEADS_BACKWARD = (in, start, end) -> {
        float[] gq = in.f0, gk = in.f1, gv = in.f2, out = in.f3;
        boolean accumulate = in.flag;
        int tokens = in.i0, heads = in.i1, headDim = in.i2, dim = heads * headDim;
        for (int bt = start; bt < end; bt++) {
            int b = bt / tokens, t = bt % tokens;
            for (int h = 0; h < heads; h++) {
                int dst = bt * 3 * dim + h * headDim, src = ((b * heads + h) * tokens + t) * headDim;
                if (accumulate) {
                    VectorMath.addInto(gq, src, out, dst, headDim);
                    VectorMath.addInto(gk, src, out, dst + dim, headDim);
                    VectorMath.addInto(gv, src, out, dst + 2 * dim, headDim);
                } else {
                    System.arraycopy(gq, src, out, dst, headDim);
                    System.arraycopy(gk, src, out, dst + dim, headDim);
                    System.arraycopy(gv, src, out, dst + 2 * dim, headDim);
                }
            }
        }
    };

    /** dQkv += (or, with {@code accumulate} false, =) the per-head gradients back in projection layout. */
    static void splitHeadsBackward(float[] dq, float[] dk, float[] dv, float[] dQkv, boolean accumulate, int batch,
                                   int tokens, int heads, int headDim) {
        OperationLoops.loop().arrays(dq, dk, dv, dQkv).flag(accumulate).ints(tokens, heads, headDim)
                .run(SPLIT_HEADS_BACKWARD, batch * tokens, 16);
    }

    private static final Kernel MERGE_HEADS = (in, start, end) -> {
        float[] o = in.f0, y = in.f1;
        int tokens = in.i0, heads = in.i1, headDim = in.i2, dim = heads * headDim;
        for (int bt = start; bt < end; bt++) {
            int b = bt / tokens, t = bt % tokens;
            for (int h = 0; h < heads; h++)
                System.arraycopy(o, ((b * heads + h) * tokens + t) * headDim, y, bt * dim + h * headDim, headDim);
        }
    };

    static void mergeHeads(float[] o, float[] out, int batch, int tokens, int heads, int headDim) {
        OperationLoops.loop().arrays(o, out).ints(tokens, heads, headDim).run(MERGE_HEADS, batch * tokens, 16);
    }

    private static final Kernel MERGE_HEADS_BACKWARD = (in, start, end) -> {
        float[] g = in.f0, gx = in.f1;
        boolean accumulate = in.flag;
        int tokens = in.i0, heads = in.i1, headDim = in.i2, dim = heads * headDim;
        for (int bt = start; bt < end; bt++) {
            int b = bt / tokens, t = bt % tokens;
            for (int h = 0; h < heads; h++) {
                int dst = ((b * heads + h) * tokens + t) * headDim, src = bt * dim + h * headDim;
                if (accumulate) {
                    VectorMath.addInto(g, src, gx, dst, headDim);
                } else {
                    System.arraycopy(g, src, gx, dst, headDim);
                }
            }
        }
    };

    /** dO += (or, with {@code accumulate} false, =) the merged gradient split back into heads. */
    static void mergeHeadsBackward(float[] dOut, float[] dO, boolean accumulate, int batch, int tokens, int heads,
                                   int headDim) {
        OperationLoops.loop().arrays(dOut, dO).flag(accumulate).ints(tokens, heads, headDim)
                .run(MERGE_HEADS_BACKWARD, batch * tokens, 16);
    }

    private static final Kernel POOL = (in, start, end) -> {
        float[] x = in.f0, y = in.f1;
        int tokenCount = in.i0, dim = in.i1;
        PoolMode mode = (PoolMode) in.ref;
        for (int b = start; b < end; b++) {
            if (mode == PoolMode.CLS) System.arraycopy(x, b * tokenCount * dim, y, b * dim, dim);
            else {
                Arrays.fill(y, b * dim, (b + 1) * dim, 0f);
                for (int t = 0; t < tokenCount; t++)
                    for (int i = 0; i < dim; i++) y[b * dim + i] += x[(b * tokenCount + t) * dim + i];
                for (int i = 0; i < dim; i++) y[b * dim + i] /= tokenCount;
            }
        }
    };

    static void pool(float[] tokens, float[] pooled, int batch, int tokenCount, int dim, PoolMode mode) {
        OperationLoops.loop().arrays(tokens, pooled).ints(tokenCount, dim).ref(mode).run(POOL, batch, 1);
    }

    private static final Kernel POOL_BACKWARD = (in, start, end) -> {
        float[] g = in.f0, gx = in.f1;
        int tokenCount = in.i0, dim = in.i1;
        PoolMode mode = (PoolMode) in.ref;
        for (int b = start; b < end; b++) {
            if (mode == PoolMode.CLS) for (int i = 0; i < dim; i++) gx[b * tokenCount * dim + i] += g[b * dim + i];
            else for (int t = 0; t < tokenCount; t++)
                for (int i = 0; i < dim; i++) gx[(b * tokenCount + t) * dim + i] += g[b * dim + i] / tokenCount;
        }
    };

    static void poolBackward(float[] dPooled, float[] dTokens, int batch, int tokenCount, int dim, PoolMode mode) {
        OperationLoops.loop().arrays(dPooled, dTokens).ints(tokenCount, dim).ref(mode).run(POOL_BACKWARD, batch, 1);
    }
}
