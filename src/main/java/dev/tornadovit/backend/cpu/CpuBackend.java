package dev.tornadovit.backend.cpu;

import dev.tornadovit.tensor.AdamWUpdate;
import dev.tornadovit.tensor.AttentionCore;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.ComposedAttentionCore;
import dev.tornadovit.tensor.CrossProcessSum;
import dev.tornadovit.tensor.PixelTable;
import dev.tornadovit.tensor.PoolMode;
import dev.tornadovit.tensor.Precision;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tensor.Write;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Objects;

/**
 * The default backend: float32 on the Java heap, every operation parallel over {@link CpuParallel} and the matrix
 * products on the vectorised, register-tiled {@link Matmul}. Results depend only on the thread count, never on
 * scheduling: reductions are split into fixed chunks and summed in chunk order, so a resumed run repeats an
 * uninterrupted one bit for bit.
 *
 * <p>The operations live in package-private classes by family, and this class hands each the tensors' arrays:
 * {@link Elementwise}, {@link TokensAndHeads}, {@link Norms}, {@link AttentionMaps} (attention weights and
 * Re-attention's head mix), {@link LossAndOptimizer}, and for the products {@link Matmul} and {@link FusedAttention}.
 *
 * <p>Once warmed up, an operation allocates nothing: each parallel loop's body is an object reused for every call
 * (see {@link ReusableLoops}) rather than a capturing lambda, which would be a new object per loop. Those bodies and
 * the scratch space are per thread ({@link OperationLoops}), so several threads may use one backend at once.
 *
 * <p>tf32 and bf16 ({@link Precision}) are emulated exactly: every matrix product (linear layers, the attention
 * products, forward and backward) rounds its operands to the format as {@link Gemm} packs them and accumulates in
 * fp32, as a GPU's tensor cores do; everything else is the fp32 backend's. That is for reference and testing: it is
 * no faster than fp32.
 */
public final class CpuBackend implements Backend {
    private static final Logger log = LoggerFactory.getLogger(CpuBackend.class);

    static final class CpuTensor implements Tensor {
        final float[] data;
        final CpuBackend owner;

        CpuTensor(CpuBackend owner, int size) {
            this.owner = owner;
            this.data = new float[size];
        }

        @Override
        public int size() {
            return data.length;
        }

        @Override
        public Backend backend() {
            return owner;
        }
    }

    private final Precision precision;

    /** An fp32 backend on the process's thread pool. */
    public CpuBackend() {
        this(0, Precision.FP32);
    }

    /** An fp32 backend whose operations use {@code threads} threads (the whole process shares one pool). */
    public CpuBackend(int threads) {
        this(threads, Precision.FP32);
    }

    /**
     * @param threads   threads of the process's shared pool (0: leave it as it is, all cores unless set before)
     * @param precision the matrix products' operand format; tf32 and bf16 are emulated (logged once per backend)
     */
    public CpuBackend(int threads, Precision precision) {
        if (threads != 0) CpuParallel.setThreads(threads);
        this.precision = Objects.requireNonNull(precision, "precision");
        if (precision != Precision.FP32) {
            log.info("cpu: {} is emulated (matrix-product operands rounded to {}, fp32 accumulation), for reference "
                    + "and testing: no faster than fp32", precision, precision);
        }
    }

    float[] f(Tensor t) {
        if (!(t instanceof CpuTensor c) || c.owner != this) {
            throw new IllegalArgumentException("tensor does not belong to this CPU backend: " + t);
        }
        return c.data;
    }

    @Override
    public String name() {
        return "cpu (" + CpuParallel.threads() + " threads" + (precision == Precision.FP32 ? ""
                : ", " + precision + " emulated") + ")";
    }

    @Override
    public boolean isDoublePrecision() {
        return false;
    }

    @Override
    public Precision precision() {
        return precision;
    }

    /** Direct access for code that lives next to the backend (data loading, benchmarks). */
    public static float[] data(Tensor t) {
        return ((CpuTensor) t).data;
    }

    @Override
    public Tensor allocate(int size) {
        return new CpuTensor(this, size);
    }

    @Override
    public void upload(Tensor dst, float[] src) {
        System.arraycopy(src, 0, f(dst), 0, src.length);
    }

    @Override
    public void upload(Tensor dst, double[] src) {
        float[] x = f(dst);
        for (int i = 0; i < src.length; i++) x[i] = (float) src[i];
    }

    /** Converts straight into the tensor, in parallel: nothing allocated, bit for bit the host conversion. */
    @Override
    public void uploadPixels(Tensor images, byte[] pixels, int batch, int planeSize, PixelTable table) {
        float[] out = f(images);
        int count = table.count(images, pixels, batch, planeSize);
        if (count > 0) Elementwise.pixels(pixels, out, count, planeSize, table);
    }

    @Override
    public float[] downloadFloat(Tensor src) {
        return f(src).clone();
    }

    @Override
    public double readDouble(Tensor src, int index) {
        return f(src)[index];
    }

    @Override
    public double[] downloadDouble(Tensor src) {
        float[] x = f(src);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i];
        return out;
    }

    @Override
    public void zero(Tensor t) {
        Elementwise.zero(f(t));
    }

    @Override
    public void copy(Tensor src, Tensor dst, int n) {
        System.arraycopy(f(src), 0, f(dst), 0, n);
    }

    // ---------------------------------------------------------------- elementwise

    @Override
    public void add(Tensor a, Tensor b, Tensor out, int n) {
        Elementwise.add(f(a), f(b), f(out), n);
    }

    @Override
    public void accumulate(Tensor dst, Tensor src, int n) {
        Elementwise.accumulate(f(dst), f(src), n);
    }

    @Override
    public void gelu(Tensor x, Tensor y, int n) {
        Elementwise.gelu(f(x), f(y), n);
    }

    @Override
    public void geluBackward(Tensor x, Tensor dy, Tensor dx, int n, Write write) {
        Elementwise.geluBackward(f(x), f(dy), f(dx), write.accumulates(), n);
    }

    @Override
    public void sigmoidGate(Tensor gatePre, Tensor o, Tensor out, int n) {
        Elementwise.sigmoidGate(f(gatePre), f(o), f(out), n);
    }

    @Override
    public void sigmoidGateBackward(Tensor gatePre, Tensor o, Tensor dOut, Tensor dGatePre, Tensor dO, int n) {
        Elementwise.sigmoidGateBackward(f(gatePre), f(o), f(dOut), f(dGatePre), f(dO), n);
    }

    // ---------------------------------------------------------------- patches and tokens

    @Override
    public void im2col(Tensor images, Tensor patches, int batch, int channels, int height, int width, int patch) {
        TokensAndHeads.im2col(f(images), f(patches), batch, channels, height, width, patch);
    }

    @Override
    public void assembleTokens(Tensor patchEmbeddings, Tensor cls, Tensor pos, Tensor fixedPos, Tensor tokens,
                               int batch, int patches, int dim) {
        TokensAndHeads.assembleTokens(f(patchEmbeddings), cls == null ? null : f(cls), pos == null ? null : f(pos),
                fixedPos == null ? null : f(fixedPos), f(tokens), batch, patches, dim);
    }

    @Override
    public void assembleTokensBackward(Tensor dTokens, Tensor dPatchEmbeddings, Tensor dCls, Tensor dPos,
                                       int batch, int patches, int dim, boolean hasCls) {
        TokensAndHeads.assembleTokensBackward(f(dTokens), f(dPatchEmbeddings), dCls == null ? null : f(dCls),
                dPos == null ? null : f(dPos), batch, patches, dim, hasCls);
    }

    // ---------------------------------------------------------------- linear

    @Override
    public void linear(Tensor x, Tensor w, Tensor bias, Tensor y, int m, int k, int n) {
        Matmul.linearForward(precision, f(x), 0, f(w), 0, bias == null ? null : f(bias), 0, f(y), 0, m, k, n);
    }

    @Override
    public void linearBackward(Tensor dy, Tensor x, Tensor w, Tensor dx, Tensor dw, Tensor dBias, int m, int k, int n,
                               Write dxWrite) {
        if (dx != null) {
            Matmul.linearBackwardInput(precision, f(dy), 0, f(w), 0, f(dx), 0, m, k, n, dxWrite.accumulates());
        }
        Matmul.linearBackwardWeight(precision, f(dy), 0, f(x), 0, f(dw), 0, dBias == null ? null : f(dBias), 0, m, k,
                n);
    }

    // ---------------------------------------------------------------- normalisation

    @Override
    public void layerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int m, int d,
                          double eps) {
        Norms.layerNorm(f(x), f(gamma), f(beta), f(y), f(mean), f(rstd), m, d, eps);
    }

    @Override
    public void addLayerNorm(Tensor a, Tensor b, Tensor sum, Tensor gamma, Tensor beta, Tensor y, Tensor mean,
                             Tensor rstd, int m, int d, double eps) {
        Norms.addLayerNorm(f(a), f(b), f(sum), f(gamma), f(beta), f(y), f(mean), f(rstd), m, d, eps);
    }

    @Override
    public void layerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                                  Tensor dGamma, Tensor dBeta, int m, int d) {
        Norms.layerNormBackward(f(dy), f(x), f(gamma), f(mean), f(rstd), f(dx), f(dGamma), f(dBeta), m, d);
    }

    // ---------------------------------------------------------------- attention

    @Override
    public void splitHeads(Tensor qkv, Tensor q, Tensor k, Tensor v, int batch, int tokens, int heads, int headDim) {
        TokensAndHeads.splitHeads(f(qkv), f(q), f(k), f(v), batch, tokens, heads, headDim);
    }

    @Override
    public void splitHeadsBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dQkv, int batch, int tokens, int heads,
                                   int headDim, Write write) {
        TokensAndHeads.splitHeadsBackward(f(dq), f(dk), f(dv), f(dQkv), write.accumulates(), batch, tokens, heads,
                headDim);
    }

    @Override
    public void mergeHeads(Tensor o, Tensor out, int batch, int tokens, int heads, int headDim) {
        TokensAndHeads.mergeHeads(f(o), f(out), batch, tokens, heads, headDim);
    }

    @Override
    public void mergeHeadsBackward(Tensor dOut, Tensor dO, int batch, int tokens, int heads, int headDim,
                                   Write write) {
        TokensAndHeads.mergeHeadsBackward(f(dOut), f(dO), write.accumulates(), batch, tokens, heads, headDim);
    }

    @Override
    public void attentionScores(Tensor q, Tensor k, Tensor scores, int batchHeads, int tokens, int headDim,
                                double scale) {
        int th = tokens * headDim;
        Matmul.batchedNT(precision, batchHeads, f(q), 0, th, headDim, f(k), 0, th, headDim, f(scores), 0,
                tokens * tokens, tokens, tokens, tokens, headDim, (float) scale, false);
    }

    @Override
    public void attentionScoresBackward(Tensor dScores, Tensor q, Tensor k, Tensor dq, Tensor dk, int batchHeads,
                                        int tokens, int headDim, double scale) {
        int th = tokens * headDim, tt = tokens * tokens;
        // dq += scale·dS·k ; dk += scale·dSᵀ·q
        Matmul.batchedNN(precision, batchHeads, f(dScores), 0, tt, tokens, f(k), 0, th, headDim, f(dq), 0, th, headDim,
                tokens, headDim, tokens, (float) scale, true);
        Matmul.batchedTN(precision, batchHeads, f(dScores), 0, tt, tokens, f(q), 0, th, headDim, f(dk), 0, th, headDim,
                tokens, headDim, tokens, (float) scale, true);
    }

    @Override
    public void attentionWeights(Tensor scores, Tensor weights, int rows, int keys, AttentionWeighting weighting) {
        AttentionMaps.attentionWeights(f(scores), f(weights), rows, keys, weighting);
    }

    @Override
    public void attentionWeightsBackward(Tensor scores, Tensor weights, Tensor dWeights, Tensor dScores, int rows,
                                         int keys, AttentionWeighting weighting) {
        AttentionMaps.attentionWeightsBackward(f(scores), f(weights), f(dWeights), f(dScores), rows, keys, weighting);
    }

    /**
     * The fused core ({@link FusedAttentionCore}); with Re-attention, whose steps sit between φ and the product with
     * V, the core composed from the operations here.
     */
    @Override
    public AttentionCore attentionCore(AttentionCore.Spec spec) {
        return spec.maps() != null ? new ComposedAttentionCore(this, spec) : new FusedAttentionCore(this, spec);
    }

    @Override
    public void headMix(Tensor maps, Tensor theta, Tensor bias, Tensor out, int batch, int heads, int mapSize) {
        AttentionMaps.headMix(f(maps), f(theta), f(bias), f(out), batch, heads, mapSize);
    }

    @Override
    public void headMixBackward(Tensor dOut, Tensor maps, Tensor theta, Tensor dMaps, Tensor dTheta, Tensor dBias,
                                int batch, int heads, int mapSize) {
        AttentionMaps.headMixBackward(f(dOut), f(maps), f(theta), f(dMaps), f(dTheta), f(dBias), batch, heads,
                mapSize);
    }

    @Override
    public void headBatchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd,
                              Tensor runningMean, Tensor runningVar, int batch, int heads, int mapSize, double eps,
                              double momentum, boolean training) {
        if (training) {
            headBatchNormAcross(x, gamma, beta, y, mean, rstd, runningMean, runningVar, batch, heads, mapSize, eps,
                    momentum, CrossProcessSum.LOCAL);
            return;
        }
        Norms.headBatchNormEvaluation(f(x), f(gamma), f(beta), f(y), f(mean), f(rstd), f(runningMean),
                f(runningVar), batch, heads, mapSize, eps);
    }

    @Override
    public void headBatchNormAcross(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd,
                                    Tensor runningMean, Tensor runningVar, int batch, int heads, int mapSize,
                                    double eps, double momentum, CrossProcessSum across) {
        Norms.headBatchNormTraining(f(x), f(gamma), f(beta), f(y), f(mean), f(rstd), f(runningMean), f(runningVar),
                batch, heads, mapSize, eps, momentum, across);
    }

    @Override
    public void headBatchNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                                      Tensor dGamma, Tensor dBeta, int batch, int heads, int mapSize) {
        headBatchNormBackwardAcross(dy, x, gamma, mean, rstd, dx, dGamma, dBeta, batch, heads, mapSize,
                CrossProcessSum.LOCAL);
    }

    @Override
    public void headBatchNormBackwardAcross(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                                            Tensor dGamma, Tensor dBeta, int batch, int heads, int mapSize,
                                            CrossProcessSum across) {
        Norms.headBatchNormBackward(f(dy), f(x), f(gamma), f(mean), f(rstd), f(dx), f(dGamma), f(dBeta), batch, heads,
                mapSize, across);
    }

    @Override
    public void headLayerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int batch,
                              int heads, int mapSize, double eps) {
        Norms.headLayerNorm(f(x), f(gamma), f(beta), f(y), f(mean), f(rstd), batch, heads, mapSize, eps);
    }

    @Override
    public void headLayerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                                      Tensor dGamma, Tensor dBeta, int batch, int heads, int mapSize) {
        Norms.headLayerNormBackward(f(dy), f(x), f(gamma), f(mean), f(rstd), f(dx), f(dGamma), f(dBeta), batch, heads,
                mapSize);
    }

    @Override
    public void attentionApply(Tensor weights, Tensor v, Tensor o, int batchHeads, int tokens, int headDim) {
        int th = tokens * headDim;
        Matmul.batchedNN(precision, batchHeads, f(weights), 0, tokens * tokens, tokens, f(v), 0, th, headDim, f(o), 0,
                th, headDim, tokens, headDim, tokens, 1f, false);
    }

    @Override
    public void attentionApplyBackward(Tensor dO, Tensor weights, Tensor v, Tensor dWeights, Tensor dv,
                                       int batchHeads, int tokens, int headDim) {
        int th = tokens * headDim, tt = tokens * tokens;
        // dA += dO·vᵀ ; dv += Aᵀ·dO
        Matmul.batchedNT(precision, batchHeads, f(dO), 0, th, headDim, f(v), 0, th, headDim, f(dWeights), 0, tt, tokens,
                tokens, tokens, headDim, 1f, true);
        Matmul.batchedTN(precision, batchHeads, f(weights), 0, tt, tokens, f(dO), 0, th, headDim, f(dv), 0, th, headDim,
                tokens, headDim, tokens, 1f, true);
    }

    // ---------------------------------------------------------------- pooling, loss, optimiser

    @Override
    public void pool(Tensor tokens, Tensor pooled, int batch, int tokenCount, int dim, PoolMode mode) {
        TokensAndHeads.pool(f(tokens), f(pooled), batch, tokenCount, dim, mode);
    }

    @Override
    public void poolBackward(Tensor dPooled, Tensor dTokens, int batch, int tokenCount, int dim, PoolMode mode) {
        TokensAndHeads.poolBackward(f(dPooled), f(dTokens), batch, tokenCount, dim, mode);
    }

    @Override
    public void crossEntropy(Tensor logits, Tensor labels, Tensor loss, Tensor dLogits, int batch, int classes,
                             double labelSmoothing) {
        LossAndOptimizer.crossEntropy(f(logits), f(labels), f(loss), f(dLogits), batch, classes, labelSmoothing);
    }

    @Override
    public void sumOfSquares(Tensor x, int n, Tensor acc, int index) {
        LossAndOptimizer.sumOfSquares(f(x), n, f(acc), index);
    }

    @Override
    public void adamW(AdamWUpdate u, double beta1, double beta2, double eps) {
        LossAndOptimizer.adamW(f(u.param()), f(u.grad()), f(u.m()), f(u.v()), u.momentOffset(), u.param().size(),
                f(u.hyper()), u.weightDecay(), beta1, beta2, eps);
    }
}
