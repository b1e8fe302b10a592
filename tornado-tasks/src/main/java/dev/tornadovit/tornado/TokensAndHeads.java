package dev.tornadovit.tornado;

import dev.tornadovit.tensor.PoolMode;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tensor.Write;
import dev.tornadovit.tornado.kernels.ElementwiseKernels;

import java.util.ArrayList;
import java.util.List;

import static dev.tornadovit.tornado.Launches.distinctOutputs;
import static dev.tornadovit.tornado.Launches.task;

/**
 * {@link TornadoBackend}'s token layout operations: patches, token assembly, splitting and merging attention heads,
 * and pooling, with their gradients.
 */
final class TokensAndHeads extends DeviceOperations {
    TokensAndHeads(TornadoBackend backend) {
        super(backend);
    }

    void im2col(Tensor images, Tensor patches, int batch, int channels, int height, int width, int patch) {
        DeviceTensor img = t(images), out = t(patches);
        submit(task("im2col", null, (g, id) -> g.task(id, ElementwiseKernels::im2col, img.array, out.array, batch,
               channels, height, width, patch), img, out, batch, channels, height, width, patch));
    }

    void assembleTokens(Tensor patchEmbeddings, Tensor cls, Tensor pos, Tensor fixedPos, Tensor tokens,
                        int batch, int patches, int dim) {
        DeviceTensor pe = t(patchEmbeddings), c = opt(cls), p = opt(pos), fp = opt(fixedPos), out = t(tokens);
        int hasCls = cls == null ? 0 : 1, hasPos = pos == null ? 0 : 1, hasFixed = fixedPos == null ? 0 : 1;
        submit(task("assembleTokens", null, (g, id) -> g.task(id, ElementwiseKernels::assembleTokens, pe.array,
               c.array, p.array, fp.array, out.array, batch, patches, dim, hasCls, hasPos, hasFixed),
               pe, c, p, fp, out, batch, patches, dim, hasCls, hasPos, hasFixed));
    }

    void assembleTokensBackward(Tensor dTokens, Tensor dPatchEmbeddings, Tensor dCls, Tensor dPos, int batch,
                                int patches, int dim, boolean hasCls) {
        DeviceTensor gt = t(dTokens), gpe = t(dPatchEmbeddings), gc = opt(dCls), gp = dPos == null ? unused2 : t(dPos);
        distinctOutputs("assembleTokensBackward", gpe, gc, gp);
        int cls = hasCls ? 1 : 0, wantCls = dCls == null || !hasCls ? 0 : 1, wantPos = dPos == null ? 0 : 1;
        List<Task> tasks = new ArrayList<>();
        tasks.add(task("assembleTokensBackwardPatches", null, (g, id) -> g.task(id,
                ElementwiseKernels::assembleTokensBackwardPatches, gt.array, gpe.array, batch, patches, dim, cls),
                gt, gpe, batch, patches, dim, cls));
        if (wantCls == 1 || wantPos == 1) {
            tasks.add(task("assembleTokensBackwardShared", null, (g, id) -> g.task(id,
                            ElementwiseKernels::assembleTokensBackwardShared, gt.array, gc.array, gp.array, batch, patches,
                            dim, cls, wantCls, wantPos),
                    gt, gc, gp, batch, patches, dim, cls, wantCls, wantPos));
        }
        submit(tasks.toArray(Task[]::new));
    }

    void splitHeads(Tensor qkv, Tensor q, Tensor k, Tensor v, int batch, int tokens, int heads, int headDim) {
        DeviceTensor in = t(qkv), qq = t(q), kk = t(k), vv = t(v);
        distinctOutputs("splitHeads", qq, kk, vv);
        submit(task("splitHeads", null, (g, id) -> g.task(id, ElementwiseKernels::splitHeads, in.array, qq.array,
               kk.array, vv.array, batch, tokens, heads, headDim), in, qq, kk, vv, batch, tokens, heads, headDim));
    }

    void splitHeadsBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dQkv, int batch, int tokens, int heads,
                            int headDim, Write write) {
        submit(splitHeadsBackward(t(dq), t(dk), t(dv), t(dQkv), batch, tokens, heads, headDim,
               write.accumulates() ? 1 : 0));
    }

    private static Task splitHeadsBackward(DeviceTensor gq, DeviceTensor gk, DeviceTensor gv, DeviceTensor out,
                                           int batch, int tokens, int heads, int headDim, int accumulate) {
        return task("splitHeadsBackward", null, (g, id) -> g.task(id, ElementwiseKernels::splitHeadsBackward, gq.array,
                    gk.array, gv.array, out.array, batch, tokens, heads, headDim, accumulate),
                    gq, gk, gv, out, batch, tokens, heads, headDim, accumulate);
    }

    void mergeHeads(Tensor o, Tensor out, int batch, int tokens, int heads, int headDim) {
        DeviceTensor in = t(o), y = t(out);
        submit(task("mergeHeads", null, (g, id) -> g.task(id, ElementwiseKernels::mergeHeads, in.array, y.array, batch,
               tokens, heads, headDim), in, y, batch, tokens, heads, headDim));
    }

    void mergeHeadsBackward(Tensor dOut, Tensor dO, int batch, int tokens, int heads, int headDim, Write write) {
        mergeHeadsBackward(dOut, dO, batch, tokens, heads, headDim, write.accumulates() ? 1 : 0);
    }

    private void mergeHeadsBackward(Tensor dOut, Tensor dO, int batch, int tokens, int heads, int headDim,
                                    int accumulate) {
        DeviceTensor gy = t(dOut), gx = t(dO);
        submit(task("mergeHeadsBackward", null, (g, id) -> g.task(id, ElementwiseKernels::mergeHeadsBackward, gy.array,
               gx.array, batch, tokens, heads, headDim, accumulate), gy, gx, batch, tokens, heads, headDim, accumulate));
    }

    void pool(Tensor tokens, Tensor pooled, int batch, int tokenCount, int dim, PoolMode mode) {
        DeviceTensor x = t(tokens), y = t(pooled);
        int mean = mode == PoolMode.MEAN ? 1 : 0;
        submit(task("pool", null, (g, id) -> g.task(id, ElementwiseKernels::pool, x.array, y.array, batch, tokenCount,
               dim, mean), x, y, batch, tokenCount, dim, mean));
    }

    void poolBackward(Tensor dPooled, Tensor dTokens, int batch, int tokenCount, int dim, PoolMode mode) {
        DeviceTensor gy = t(dPooled), gx = t(dTokens);
        int mean = mode == PoolMode.MEAN ? 1 : 0;
        submit(task("poolBackward", null, (g, id) -> g.task(id, ElementwiseKernels::poolBackward, gy.array, gx.array,
               batch, tokenCount, dim, mean), gy, gx, batch, tokenCount, dim, mean));
    }
}
