package dev.tornadovit.tornado;

import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tornado.kernels.SoftmaxAttentionKernels;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.WorkerGrid3D;

import static dev.tornadovit.tornado.Launches.ceilDiv;
import static dev.tornadovit.tornado.Launches.task;

/**
 * The fused softmax-attention kernels' launches ({@link SoftmaxAttentionKernels}): the training form, which
 * {@link FusedPointwiseCore} records in place of scores → softmax → ·V, and the output-only form for inference.
 */
final class SoftmaxAttention {
    private SoftmaxAttention() {
    }

    /** The training form: o and the weights [BH,T,T] = softmax(qkScale·q·kᵀ). */
    static Task withWeights(DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor weights, DeviceTensor o,
                            int batchHeads, int tokens, int headDim, float qkScale) {
        return task("softmaxAttentionWithWeights", grid(batchHeads, tokens), (g, id) -> g.task(id,
                    SoftmaxAttentionKernels::softmaxAttentionWithWeights, new KernelContext(), q.array, k.array,
                    v.array, weights.array, o.array, tokens, headDim, qkScale),
                    q, k, v, weights, o, tokens, headDim, qkScale);
    }

    /** The inference form: o [BH,T,hd] = softmax(qkScale·q·kᵀ)·v, no [BH,T,T] map written (head dimension ≤ 64). */
    static void withoutMaps(TornadoBackend backend, Tensor q, Tensor k, Tensor v, Tensor o, int batchHeads,
                            int tokens, int headDim, double qkScale) {
        if (headDim > SoftmaxAttentionKernels.MAX_HEAD_DIM) {
            throw new IllegalArgumentException("the fused softmax-attention kernel takes head dimensions up to "
                                               + SoftmaxAttentionKernels.MAX_HEAD_DIM + ", not " + headDim);
        }
        DeviceTensor qq = backend.t(q), kk = backend.t(k), vv = backend.t(v), oo = backend.t(o);
        float scale = (float) qkScale;
        backend.graphs.submit(task("softmaxAttention", grid(batchHeads, tokens), (g, id) -> g.task(id,
                              SoftmaxAttentionKernels::softmaxAttention, new KernelContext(), qq.array, kk.array,
                              vv.array, oo.array, tokens, headDim, scale), qq, kk, vv, oo, tokens, headDim, scale));
    }

    private static WorkerGrid3D grid(int batchHeads, int tokens) {
        WorkerGrid3D grid = new WorkerGrid3D(16, ceilDiv(tokens, SoftmaxAttentionKernels.QUERIES) * 16, batchHeads);
        grid.setLocalWork(16, 16, 1);
        return grid;
    }
}
