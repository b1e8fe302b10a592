package dev.tornadovit.tensor;

import java.util.List;

/**
 * The operations a Vision Transformer is made of, each with its backward. The model is written once against this
 * interface; a backend runs it: at once on the CPU, in float64 as the readable reference, or by recording
 * TornadoVM task graphs.
 *
 * <p>Conventions, as in llm.c: tensors are flat and row-major, shapes are passed as ints; a forward writes its
 * output (overwrites); a backward ADDS into the gradients it produces ({@code +=}), so gradients that meet
 * (residual stream, shared inputs) need no extra operation. Callers zero gradients with {@link #zero}. The backward
 * operations whose output often has one writer take a {@link Write} that says whether to add into it or write it.
 * Layouts: tokens [B,T,D]; heads [B,H,T,hd]; attention maps [B,H,T,T]; Linear weights [out,in] (PyTorch).
 *
 * <p>A backend may defer work: results are only guaranteed visible after {@link #downloadFloat},
 * {@link #downloadDouble} or a {@link RecordedGraph#run} returns.
 *
 * <p>One thread at a time: a backend is not for concurrent calls. It may pass from one thread to another (a pool's
 * worker threads serving requests in turn) once the thread that used it last has called {@link #synchronize}:
 * TornadoVM queues each thread's work on its own device stream, so work one thread left queued is not ordered before
 * the next thread's.
 */
public interface Backend extends AutoCloseable {

    /** A short human-readable name, e.g. "cpu (2 threads)" or "opencl: pthread-cpu". */
    String name();

    /** Whether tensors hold float64 (the reference) or float32. */
    boolean isDoublePrecision();

    /**
     * The format of the matrix products' operands ({@link Precision}): fp32, or tf32 / bf16 with fp32 accumulation.
     * Tensors, and every operation that is not a matrix product, stay in the backend's own type whatever it is.
     */
    Precision precision();

    // ---------------------------------------------------------------- memory

    /** A zero-filled tensor of {@code size} elements. */
    Tensor allocate(int size);

    void upload(Tensor dst, float[] src);

    void upload(Tensor dst, double[] src);

    /**
     * Uploads {@code batch} images of 8-bit pixels, each CHW with {@code planeSize} pixels a channel, into
     * {@code images[0, batch·channels·planeSize)} as floats, each pixel value through {@code table} (its channel's
     * scaling and normalisation); the rest of {@code images} is left as it is. The default converts on the host and
     * uploads the floats; a device backend sends the bytes, a quarter of the floats, and converts them where they land.
     */
    default void uploadPixels(Tensor images, byte[] pixels, int batch, int planeSize, PixelTable table) {
        int count = table.count(images, pixels, batch, planeSize);
        float[] values = new float[count];
        table.convert(pixels, values, 0, count, planeSize);
        upload(images, values);
    }

    float[] downloadFloat(Tensor src);

    double[] downloadDouble(Tensor src);

    /** One element of {@code src}: a scalar result (loss, gradient norm) without copying a whole array. */
    default double readDouble(Tensor src, int index) {
        return downloadDouble(src)[index];
    }

    void zero(Tensor t);

    /** dst[0..n) = src[0..n). */
    void copy(Tensor src, Tensor dst, int n);

    /**
     * Returns once every operation submitted so far has finished. A backend may return from an operation or a
     * {@link RecordedGraph#run} as soon as the work is queued on its device (the TornadoVM backend does); downloads
     * wait for the work before them by themselves, so only timing code needs this, before it reads the clock, and a
     * caller that hands the backend to another thread. The default does nothing: the CPU backends finish each
     * operation before returning.
     */
    default void synchronize() {
    }

    /**
     * A handle that runs {@code body}, a fixed sequence of operations on fixed tensors, as one unit (see
     * {@link RecordedGraph}); {@code label} names it in profiles and error messages only. Nothing runs until
     * {@link RecordedGraph#run}. The default runs the body on every run; a recording backend records it at the first
     * run and replays the recording afterwards.
     */
    default RecordedGraph record(String label, Runnable body) {
        return body::run;
    }

    // ---------------------------------------------------------------- elementwise

    /** out = a + b. */
    void add(Tensor a, Tensor b, Tensor out, int n);

    /** dst += src. */
    void accumulate(Tensor dst, Tensor src, int n);

    /** y = GELU(x), exact (erf) form. */
    void gelu(Tensor x, Tensor y, int n);

    /** dx (+)= dy ⊙ GELU'(x), added or written as {@code write} says. */
    void geluBackward(Tensor x, Tensor dy, Tensor dx, int n, Write write);

    /** out = o ⊙ sigmoid(gatePre): the gated attention unit. */
    void sigmoidGate(Tensor gatePre, Tensor o, Tensor out, int n);

    void sigmoidGateBackward(Tensor gatePre, Tensor o, Tensor dOut, Tensor dGatePre, Tensor dO, int n);

    // ---------------------------------------------------------------- patch embedding and tokens

    /**
     * Cuts images [B,C,H,W] into non-overlapping p×p patches: patches [B·N, C·p·p] with N = (H/p)(W/p) in row-major
     * grid order and each patch flattened as (c, dy, dx) — the layout of a Conv2d weight [D,C,p,p].
     */
    void im2col(Tensor images, Tensor patches, int batch, int channels, int height, int width, int patch);

    /**
     * tokens [B,T,D] from patch embeddings [B,N,D]: when {@code cls} is non-null T = N+1 and token 0 is cls;
     * then adds {@code pos} ([T,D], learned) or {@code fixedPos} ([N,D], added to patch tokens only). Either may be
     * null.
     */
    void assembleTokens(Tensor patchEmbeddings, Tensor cls, Tensor pos, Tensor fixedPos, Tensor tokens,
                        int batch, int patches, int dim);

    /** Gradients of {@link #assembleTokens}: into dPatchEmbeddings, dCls (may be null), dPos (may be null). */
    void assembleTokensBackward(Tensor dTokens, Tensor dPatchEmbeddings, Tensor dCls, Tensor dPos,
                                int batch, int patches, int dim, boolean hasCls);

    // ---------------------------------------------------------------- linear layers

    /** y[M,N] = x[M,K] · w[N,K]ᵀ + bias[N] (bias may be null). */
    void linear(Tensor x, Tensor w, Tensor bias, Tensor y, int m, int k, int n);

    /**
     * The MLP's first layer and its activation: pre = x · wᵀ + bias (kept: GELU's backward reads it) and
     * y = GELU(pre), as {@link #linear} then {@link #gelu}; a backend may do both in one pass.
     */
    default void linearGelu(Tensor x, Tensor w, Tensor bias, Tensor pre, Tensor y, int m, int k, int n) {
        linear(x, w, bias, pre, m, k, n);
        gelu(pre, y, m * n);
    }

    /**
     * dx[M,K] (+)= dy·w, added or written as {@code dxWrite} says (dx may be null); dw[N,K] += dyᵀ·x; dBias[N] += Σ
     * rows of dy (may be null).
     */
    void linearBackward(Tensor dy, Tensor x, Tensor w, Tensor dx, Tensor dw, Tensor dBias, int m, int k, int n,
                        Write dxWrite);

    /**
     * Whether {@link #linearGeluBackward} writes ∂loss/∂GELU(h) into its dGelu scratch [M,K]. A backend that applies
     * GELU's backward in the product's epilogue needs none, and the caller may pass null (a B·T·mlp_dim tensor a block
     * saved).
     */
    default boolean linearGeluBackwardUsesScratch() {
        return true;
    }

    /**
     * The backward of the MLP's second layer, y = GELU(pre)·wᵀ + bias, down to its activation's input:
     * dPre[M,K] = (dy·w) ⊙ GELU'(pre) (written), dw += dyᵀ·x with x = GELU(pre), dBias += Σ rows of dy. As
     * {@link #linearBackward} into {@code dGelu} (written), then {@link #geluBackward}; a backend may skip dGelu and
     * do both in one pass (then {@link #linearGeluBackwardUsesScratch} is false and dGelu may be null).
     */
    default void linearGeluBackward(Tensor dy, Tensor x, Tensor w, Tensor pre, Tensor dGelu, Tensor dPre, Tensor dw,
                                    Tensor dBias, int m, int k, int n) {
        if (dGelu == null) throw new IllegalArgumentException("linearGeluBackward needs its dGelu scratch here");
        linearBackward(dy, x, w, dGelu, dw, dBias, m, k, n, Write.OVERWRITE);
        geluBackward(pre, dGelu, dPre, m * k, Write.OVERWRITE);
    }

    // ---------------------------------------------------------------- normalisation

    /** LayerNorm over the last dimension of x [M,D]; keeps mean [M] and 1/std [M] for the backward. */
    void layerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int m, int d,
                   double eps);

    void layerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx, Tensor dGamma,
                           Tensor dBeta, int m, int d);

    /**
     * sum = a + b, then {@link #layerNorm} of sum: a residual connection and the norm that reads it. The default runs
     * the two; a backend may fuse them, normalising each row while its sum is still in cache (one pass over memory
     * and one launch fewer).
     */
    default void addLayerNorm(Tensor a, Tensor b, Tensor sum, Tensor gamma, Tensor beta, Tensor y, Tensor mean,
                              Tensor rstd, int m, int d, double eps) {
        add(a, b, sum, m * d);
        layerNorm(sum, gamma, beta, y, mean, rstd, m, d, eps);
    }

    // ---------------------------------------------------------------- attention

    /** qkv [B,T,3,H,hd] (the qkv Linear's output) → q, k, v each [B,H,T,hd]. */
    void splitHeads(Tensor qkv, Tensor q, Tensor k, Tensor v, int batch, int tokens, int heads, int headDim);

    /** dQkv (+)= dq, dk, dv back in the qkv layout, added or written as {@code write} says. */
    void splitHeadsBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dQkv, int batch, int tokens, int heads,
                            int headDim, Write write);

    /** o [B,H,T,hd] → out [B,T,H·hd] (heads side by side in each token, as timm). */
    void mergeHeads(Tensor o, Tensor out, int batch, int tokens, int heads, int headDim);

    /** dO (+)= dOut back in the [B,H,T,hd] layout, added or written as {@code write} says. */
    void mergeHeadsBackward(Tensor dOut, Tensor dO, int batch, int tokens, int heads, int headDim, Write write);

    /** scores [BH,T,T] = scale · q[BH,T,hd] · k[BH,T,hd]ᵀ. */
    void attentionScores(Tensor q, Tensor k, Tensor scores, int batchHeads, int tokens, int headDim, double scale);

    void attentionScoresBackward(Tensor dScores, Tensor q, Tensor k, Tensor dq, Tensor dk, int batchHeads,
                                 int tokens, int headDim, double scale);

    /** weights [R,L] = φ(scores [R,L]) row by row, with L keys per row. */
    void attentionWeights(Tensor scores, Tensor weights, int rows, int keys, AttentionWeighting weighting);

    void attentionWeightsBackward(Tensor scores, Tensor weights, Tensor dWeights, Tensor dScores, int rows, int keys,
                                  AttentionWeighting weighting);

    /**
     * Re-attention's head mixing: out[b,g,:] = Σ_h theta[g,h] · maps[b,h,:] + bias[g], maps [B,H,S] with S = T·T.
     */
    void headMix(Tensor maps, Tensor theta, Tensor bias, Tensor out, int batch, int heads, int mapSize);

    void headMixBackward(Tensor dOut, Tensor maps, Tensor theta, Tensor dMaps, Tensor dTheta, Tensor dBias,
                         int batch, int heads, int mapSize);

    /**
     * BatchNorm over the head axis of x [B,H,S]: per head, statistics over B×S. In training it uses batch statistics
     * (kept in mean/rstd for the backward) and updates the running statistics with {@code momentum} and the unbiased
     * variance; otherwise it normalises with the running statistics.
     */
    void headBatchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, Tensor runningMean,
                       Tensor runningVar, int batch, int heads, int mapSize, double eps, double momentum,
                       boolean training);

    /** Backward of the training-mode {@link #headBatchNorm}. */
    void headBatchNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx, Tensor dGamma,
                               Tensor dBeta, int batch, int heads, int mapSize);

    /**
     * The training-mode {@link #headBatchNorm} of one shard of a global batch split over processes: each head's
     * statistics are those of the whole global batch, the per-process partial sums (of x, then of (x − mean)²)
     * passing through {@code across}. The running statistics, updated from the global statistics, stay equal on every
     * process. With {@link CrossProcessSum#LOCAL} it is exactly {@link #headBatchNorm} in training.
     */
    default void headBatchNormAcross(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd,
                                     Tensor runningMean, Tensor runningVar, int batch, int heads, int mapSize,
                                     double eps, double momentum, CrossProcessSum across) {
        throw new IllegalArgumentException(name() + " cannot synchronise Re-attention's BatchNorm across "
                + "processes; train it data-parallel on the CPU backend, or use --reattention layernorm");
    }

    /**
     * Backward of {@link #headBatchNormAcross}: the input gradient uses the global sums of dy and dy·x̂ (through
     * {@code across}); dGamma and dBeta get this shard's sums only, as every parameter gradient, which the
     * data-parallel all-reduce then totals.
     */
    default void headBatchNormBackwardAcross(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                                             Tensor dGamma, Tensor dBeta, int batch, int heads, int mapSize,
                                             CrossProcessSum across) {
        throw new IllegalArgumentException(name() + " cannot synchronise Re-attention's BatchNorm across "
                + "processes; train it data-parallel on the CPU backend, or use --reattention layernorm");
    }

    /** LayerNorm across the head axis of x [B,H,S] at each (b,s); mean and rstd are [B,S]. */
    void headLayerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int batch, int heads,
                       int mapSize, double eps);

    void headLayerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx, Tensor dGamma,
                               Tensor dBeta, int batch, int heads, int mapSize);

    /** o [BH,T,hd] = weights [BH,T,T] · v [BH,T,hd]. */
    void attentionApply(Tensor weights, Tensor v, Tensor o, int batchHeads, int tokens, int headDim);

    void attentionApplyBackward(Tensor dO, Tensor weights, Tensor v, Tensor dWeights, Tensor dv, int batchHeads,
                                int tokens, int headDim);

    /**
     * A block's attention core for {@code spec}, from the qkv Linear's output to the output projection's input and
     * back, with the scratch space it needs once {@link AttentionCore#allocate allocated}. The default composes this
     * backend's primitives ({@link ComposedAttentionCore}); a backend overrides it with its fused path.
     */
    default AttentionCore attentionCore(AttentionCore.Spec spec) {
        return new ComposedAttentionCore(this, spec);
    }

    // ---------------------------------------------------------------- pooling, loss, optimiser

    /** pooled [B,D] from tokens [B,T,D]: token 0, or the mean over tokens. */
    void pool(Tensor tokens, Tensor pooled, int batch, int tokens_, int dim, PoolMode mode);

    void poolBackward(Tensor dPooled, Tensor dTokens, int batch, int tokens_, int dim, PoolMode mode);

    /**
     * Softmax cross-entropy with label smoothing, forward and backward at once: labels [B] hold class indices;
     * writes the mean loss to loss[0] and dLogits = ∂(mean loss)/∂logits (overwritten, not added).
     */
    void crossEntropy(Tensor logits, Tensor labels, Tensor loss, Tensor dLogits, int batch, int classes,
                      double labelSmoothing);

    /** acc[index] += Σ x[0..n)²: the pieces of the global gradient norm. */
    void sumOfSquares(Tensor x, int n, Tensor acc, int index);

    /**
     * One AdamW step for one parameter tensor ({@link AdamWUpdate}), with decoupled weight decay: p -= lr·wd·p, then
     * the Adam update.
     */
    void adamW(AdamWUpdate update, double beta1, double beta2, double eps);

    // ---------------------------------------------------------------- multi-tensor optimiser steps
    // A model has one parameter tensor per weight and bias (152 in ViT-S/16), each with its gradient and moments. A
    // device backend that launches one kernel per tensor spends far longer dispatching than computing; these take the
    // whole list, so it can update many tensors per launch (as PyTorch's foreach optimisers and apex's
    // multi_tensor_apply). The defaults go tensor by tensor, in list order, with the single-tensor operations.

    /** Zeroes each of {@code tensors} (every parameter gradient before a backward pass). */
    default void zero(List<Tensor> tensors) {
        for (int i = 0; i < tensors.size(); i++) zero(tensors.get(i));
    }

    /**
     * out[0] = Σ over {@code tensors} of Σ x² (overwritten; out has one element): the squared global gradient norm.
     * The sum's order is fixed per backend and list, so the same gradients always give the same norm.
     */
    default void sumOfSquares(List<Tensor> tensors, Tensor out) {
        if (out.size() != 1) throw new IllegalArgumentException("sumOfSquares writes one value, not " + out.size());
        zero(out);
        for (int i = 0; i < tensors.size(); i++) sumOfSquares(tensors.get(i), tensors.get(i).size(), out, 0);
    }

    /** {@link #adamW(AdamWUpdate, double, double, double)} for each update. */
    default void adamW(List<AdamWUpdate> updates, double beta1, double beta2, double eps) {
        for (int i = 0; i < updates.size(); i++) adamW(updates.get(i), beta1, beta2, eps);
    }

    @Override
    default void close() {
    }
}
