package dev.tornadovit.tornado;

import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tornado.kernels.SoftmaxAttentionKernels;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.WorkerGrid3D;

import java.util.ArrayList;
import java.util.List;

import static dev.tornadovit.tornado.Launches.ceilDiv;
import static dev.tornadovit.tornado.Launches.task;

/**
 * The fused softmax-attention kernels' launches ({@link SoftmaxAttentionKernels}): the training form that replaces a
 * recorded scores → softmax → ·V sequence, and the output-only form for inference.
 */
final class SoftmaxAttention {
    /** weights = row softmax of scores, recorded so that {@link #fuse} can recognise it. */
    record SoftmaxOp(DeviceTensor scores, DeviceTensor weights, int rows, int keys) {
    }

    private SoftmaxAttention() {
    }

    /**
     * Replaces each recorded scores → softmax → ·V sequence over the same tensors by one fused task that writes the
     * weights (softmax's backward and the attention maps read them) and the output, but not the scores: it fuses only
     * where no later task of the graph touches the scores, which nothing outside the sequence needs (softmax's
     * backward reads only the weights; the model keeps scores for pointwise weightings alone). With Re-attention the
     * weights are transformed before ·V, so its sequence does not match.
     */
    static List<Task> fuse(List<Task> tasks) {
        List<Task> out = new ArrayList<>();
        for (int i = 0; i < tasks.size(); i++) {
            if (i + 2 < tasks.size() && tasks.get(i).op() instanceof Attention.ScoresOp sc
                    && tasks.get(i + 1).op() instanceof SoftmaxOp sm && tasks.get(i + 2).op() instanceof Attention.ApplyOp ap
                    && sm.scores() == sc.scores() && ap.weights() == sm.weights() && sm.keys() == sc.tokens()
                    && sm.rows() == sc.batchHeads() * sc.tokens() && ap.batchHeads() == sc.batchHeads()
                    && ap.tokens() == sc.tokens() && ap.headDim() == sc.headDim()
                    && sc.headDim() <= SoftmaxAttentionKernels.MAX_HEAD_DIM
                    && !touchedAfter(tasks, i + 3, sc.scores())) {
                out.add(withWeights(sc.q(), sc.k(), ap.v(), sm.weights(), ap.o(), sc.batchHeads(), sc.tokens(),
                        sc.headDim(), sc.scale()));
                i += 2;
            } else {
                out.add(tasks.get(i));
            }
        }
        return out;
    }

    private static boolean touchedAfter(List<Task> tasks, int from, DeviceTensor tensor) {
        for (int i = from; i < tasks.size(); i++) if (tasks.get(i).tensors().contains(tensor)) return true;
        return false;
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
