package dev.tornadovit.tornado;

import dev.tornadovit.distributed.DeviceCollectives;
import dev.tornadovit.distributed.Distributed;
import dev.tornadovit.tensor.AdamWUpdate;
import dev.tornadovit.tensor.AttentionCore;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.PixelTable;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.ComposedAttentionCore;
import dev.tornadovit.tensor.PoolMode;
import dev.tornadovit.tensor.Precision;
import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tensor.Write;
import dev.tornadovit.tornado.cuda.GemmCompute;
import dev.tornadovit.tornado.kernels.AttentionKernels;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The model's operations as TornadoVM kernels on one device.
 *
 * <p>{@link #record} makes a {@link RecordedGraph} whose first run runs the body with every operation appending a task,
 * builds one TaskGraph (one per attention block and per MLP block, forward and backward, plus embedding, head, loss
 * and optimizer), compiles it and runs it; later runs replay the recorded graph without the body. An operation
 * called outside any graph runs at once as a graph of its own, cached by the operation and its arguments.
 *
 * <p>Tensors stay on the device ({@link DeviceMemory}): parameters and optimizer moments are sent once and updated
 * there, activations pass from graph to graph without leaving it; per step only uploaded inputs go in and only
 * downloaded values (loss, logits, the gradient norm) come out.
 *
 * <p>The operations live in package-private classes by family, each building its {@link Task}s for {@link TaskGraphs}
 * to record or run: {@link Elementwise}, {@link TokensAndHeads}, {@link MatrixProducts} (linear layers, GEMM on the
 * kernel or cuBLAS), {@link Norms}, {@link Attention} (with the fused pointwise-attention kernel),
 * {@link SoftmaxAttention} (the fused softmax-attention kernels), {@link LossAndOptimizer} and {@link NcclCollectives}.
 */
public final class TornadoBackend implements Backend, DeviceCollectives {
    private static final AtomicLong TENSOR_IDS = new AtomicLong();

    private final TornadoDevices.Found found;
    private final TornadoDevice device;
    private final DeviceMemory memory;
    /**
     * Placeholders for absent optional tensors (kernels take no nulls). Two, because TornadoVM's scheduler waits
     * forever on a task that gets one array for two written parameters.
     */
    final DeviceTensor unused, unused2;
    private final Map<String, DeviceTensor> scratch = new HashMap<>();
    private final GemmStrategy gemmStrategy;
    private final Precision precision;
    private final GemmCompute gemmCompute;
    final TaskGraphs graphs;
    private final HostTransfers transfers;
    private final MatrixProducts products;
    private final Elementwise elementwise;
    private final TokensAndHeads tokensAndHeads;
    private final Norms norms;
    private final Attention attention;
    private final LossAndOptimizer optimizer;
    private final NcclCollectives collectives;

    public TornadoBackend(String deviceSpec) {
        this(TornadoDevices.resolve(deviceSpec));
    }

    /** A backend on {@code deviceSpec} whose matrix products run in {@code precision}; see {@link #supports}. */
    public TornadoBackend(String deviceSpec, Precision precision) {
        TornadoDevices.Found found = TornadoDevices.resolve(deviceSpec);
        this(found, 0, GemmStrategy.forDevice(found, precision), precision);
    }

    public TornadoBackend(TornadoDevices.Found found) {
        this(found, 0);
    }

    /** @param memoryLimitBytes at most this much device memory (0: 90% of what the device reports) */
    public TornadoBackend(TornadoDevices.Found found, long memoryLimitBytes) {
        this(found, memoryLimitBytes, GemmStrategy.forDevice(found));
    }

    /**
     * @param memoryLimitBytes at most this much device memory (0: 90% of what the device reports)
     * @param gemm             how the matrix products run; one the device cannot run is an error
     */
    public TornadoBackend(TornadoDevices.Found found, long memoryLimitBytes, GemmStrategy gemm) {
        this(found, memoryLimitBytes, gemm, Precision.FP32);
    }

    /**
     * @param memoryLimitBytes at most this much device memory (0: 90% of what the device reports)
     * @param gemm             how the matrix products run; one the device cannot run is an error
     * @param precision        the matrix products' operand format; one {@code gemm} cannot run ({@link #supports})
     *                         is refused in one line naming the device and the precisions it can run
     */
    public TornadoBackend(TornadoDevices.Found found, long memoryLimitBytes, GemmStrategy gemm, Precision precision) {
        this(found, memoryLimitBytes, gemm, precision, gemm.compute(precision));
    }

    /** As above, with the products' arithmetic given (tests compare cuBLAS's bf16 operand sources). */
    TornadoBackend(TornadoDevices.Found found, long memoryLimitBytes, GemmStrategy gemm, Precision precision,
                   GemmCompute compute) {
        String reason = GemmStrategy.unavailableReason(gemm, found);
        if (reason != null) throw new IllegalArgumentException("GEMM strategy " + gemm.label() + ": " + reason);
        String refusal = gemm.precisionRefusal(precision, found);
        if (refusal != null) throw new IllegalArgumentException(refusal);
        boolean fusedAttention = Boolean.getBoolean("tornadovit.fusedAttention");
        if (fusedAttention) Attention.requireFp32(precision);
        this.gemmStrategy = gemm;
        this.precision = precision;
        gemm.checkCompute(precision, compute);
        this.gemmCompute = compute;
        this.found = found;
        this.device = found.device();
        this.memory = new DeviceMemory(device, found.id() + " (" + found.name() + ")", memoryLimitBytes);
        this.unused = (DeviceTensor) allocate(1);
        this.unused2 = (DeviceTensor) allocate(1);
        this.graphs = new TaskGraphs(this, memory,
                found.backend().equals("cuda") && !"false".equals(System.getProperty("tornadovit.cudaGraphs")));
        this.products = new MatrixProducts(this, gemm, gemmCompute, gemm == GemmStrategy.MMA && precision == Precision.BF16,
                MatrixProducts.groupsPerUnit() * Math.max(1, device.getPhysicalDevice().getDeviceMaxComputeUnits()));
        this.transfers = new HostTransfers(this, memory);
        this.elementwise = new Elementwise(this);
        this.tokensAndHeads = new TokensAndHeads(this);
        this.norms = new Norms(this);
        this.attention = new Attention(this, products);
        // Scores → φ → ·V as three launches beat our fused kernels on every NVIDIA backend, with cuBLAS's products
        // and with our own (H100, 768 batch·heads, d = 64, L = 197, ReLU/L forward and backward: 0.52 + 0.80 ms
        // against 0.90 + 2.44 with cuBLAS, 0.59 + 0.97 against 0.90 + 2.43 with our GEMM kernels), so they are off
        // unless -Dtornadovit.fusedAttention=true, which tf32 and bf16 refuse above (the kernels compute in fp32).
        attention.setFused(fusedAttention);
        this.optimizer = new LossAndOptimizer(this, transfers);
        this.collectives = new NcclCollectives(this, found);
    }

    /** Whether this backend's matrix products can run in {@code p}. */
    public boolean supports(Precision p) {
        return gemmStrategy.runs(p);
    }

    @Override
    public Precision precision() {
        return precision;
    }

    /** How this backend computes its matrix products. */
    public GemmStrategy gemmStrategy() {
        return gemmStrategy;
    }

    /** The arithmetic of the matrix products: cuBLAS's compute type for this backend's precision. */
    public GemmCompute gemmCompute() {
        return gemmCompute;
    }

    /** The matrix products, whose single products and token split the tests drive directly. */
    MatrixProducts products() {
        return products;
    }

    public TornadoDevices.Found device() {
        return found;
    }

    @Override
    public String name() {
        return found.backend() + ": " + found.name() + " (GEMM: " + gemmStrategy.label()
                + (precision == Precision.FP32 ? "" : ", " + precision) + ")";
    }

    @Override
    public boolean isDoublePrecision() {
        return false;
    }

    /**
     * Whether attention cores record scores → φ → ·V as one fused kernel into graphs recorded from now on: pointwise φ
     * with {@link AttentionKernels}, softmax with {@link dev.tornadovit.tornado.kernels.SoftmaxAttentionKernels} (which
     * writes the weights but not the scores: softmax's backward reads only the weights), and pointwise attention's
     * backward as two fused kernels. Off by default: the three launches are faster on the GPUs measured
     * (docs/gpu.md); {@code -Dtornadovit.fusedAttention=true} switches them on. The kernels compute in fp32, so a
     * tf32 or bf16 backend refuses them rather than run part of its attention in another precision.
     */
    public void setFusedAttention(boolean on) {
        if (on) Attention.requireFp32(precision);
        attention.setFused(on);
    }

    /** See {@link #setFusedAttention}. */
    public boolean fusedAttention() {
        return attention.fused();
    }

    /** Whether copy, GELU and its backward run their wide kernels ({@value Elementwise#WIDE_PROPERTY}). */
    boolean wideElementwise() {
        return elementwise.wide();
    }

    /** Graphs recorded so far (recorded graphs and single operations), for tests and reports. */
    public int recordedGraphCount() {
        return graphs.recordedGraphCount();
    }

    /** Times every graph run from now on into {@code profile} (null: stops timing). */
    public void profileGraphs(GraphProfile profile) {
        graphs.profileGraphs(profile);
    }

    /** Task-graph executions so far. */
    public int graphRuns() {
        return graphs.graphRuns();
    }

    /** Bytes of tensors this backend holds (device and staging buffers). */
    public long allocatedBytes() {
        return memory.allocatedBytes();
    }

    /** Tasks of {@code kernel} in all recorded graphs: a step's launches of it. */
    int kernelTasks(String kernel) {
        return graphs.kernelTasks(kernel);
    }

    /** Tasks in the recorded graphs labelled {@code label}, or -1 when none is recorded. */
    int taskCount(String label) {
        return graphs.taskCount(label);
    }

    /** Tasks in a recorded graph of this backend, or -1 when it has none or is not recorded yet. */
    int taskCount(RecordedGraph graph) {
        return graphs.taskCount(graph);
    }

    @Override
    public RecordedGraph record(String label, Runnable body) {
        return graphs.record(label, body);
    }

    /** The attention operations, whose fused kernels {@link FusedAttention} launches alone. */
    Attention attention() {
        return attention;
    }

    /** Returns once the device has finished every graph queued so far (graphs run queued: {@link Plans}). */
    @Override
    public void synchronize() {
        memory.plans().awaitDevice();
    }

    @Override
    public void close() {
        RuntimeException first = null;
        try {
            synchronize(); // nothing queued may still use a buffer that closing frees
        } catch (RuntimeException e) {
            first = e;
        }
        collectives.close();
        RuntimeException graphsFailure = graphs.close();
        if (first == null) first = graphsFailure;
        try {
            transfers.close();
        } catch (RuntimeException e) {
            if (first == null) first = e;
        }
        try {
            memory.close();
        } catch (RuntimeException e) {
            if (first == null) first = e;
        }
        if (first != null) throw first;
    }

    // ---------------------------------------------------------------- memory

    DeviceTensor t(Tensor tensor) {
        if (!(tensor instanceof DeviceTensor d) || d.owner != this) {
            throw new IllegalArgumentException("tensor does not belong to this TornadoVM backend: " + tensor);
        }
        return d;
    }

    /** An optional tensor, or the placeholder a kernel ignores (kernels take no nulls). */
    DeviceTensor opt(Tensor tensor) {
        return tensor == null ? unused : t(tensor);
    }

    @Override
    public Tensor allocate(int size) {
        if (size < 0) throw new IllegalArgumentException("negative tensor size " + size);
        memory.reserve(4L * Math.max(1, size));
        return new DeviceTensor(this, TENSOR_IDS.incrementAndGet(), size);
    }

    /** A device-only bf16 buffer of {@code size} values ({@link Bf16Operands}). */
    DeviceTensor allocateBf16(int size) {
        memory.reserve(2L * Math.max(1, size));
        return new DeviceTensor(this, TENSOR_IDS.incrementAndGet(), size, new ShortArray(Math.max(1, size)));
    }

    /** A bf16 tensor's bit patterns, from the device. */
    short[] downloadBf16(DeviceTensor t) {
        return memory.downloadBf16(t);
    }

    @Override
    public void upload(Tensor dst, float[] src) {
        transfers.upload(dst, src);
    }

    @Override
    public void upload(Tensor dst, double[] src) {
        transfers.upload(dst, src);
    }

    /**
     * Sends the bytes, not the floats they become, and converts them on the device with one kernel through the same
     * table as the CPU backend, so the tensor holds bit for bit the CPU's floats ({@link PixelUploads}).
     */
    @Override
    public void uploadPixels(Tensor images, byte[] pixels, int batch, int planeSize, PixelTable table) {
        transfers.uploadPixels(images, pixels, batch, planeSize, table);
    }

    @Override
    public float[] downloadFloat(Tensor src) {
        return transfers.downloadFloat(src);
    }

    @Override
    public double[] downloadDouble(Tensor src) {
        return transfers.downloadDouble(src);
    }

    /** A backend-owned buffer for partial sums, one per operation instance and purpose, reused on every run. */
    DeviceTensor scratch(String purpose, int size, Object... op) {
        String key = purpose + Arrays.deepToString(Arrays.stream(op).map(o -> o instanceof DeviceTensor d ? "#" + d.id : o).toArray());
        return scratch.computeIfAbsent(key, k -> (DeviceTensor) allocate(size));
    }

    // ---------------------------------------------------------------- elementwise

    @Override
    public void zero(Tensor tensor) {
        elementwise.zero(tensor);
    }

    @Override
    public void copy(Tensor src, Tensor dst, int n) {
        elementwise.copy(src, dst, n);
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor out, int n) {
        elementwise.add(a, b, out, n);
    }

    @Override
    public void accumulate(Tensor dst, Tensor src, int n) {
        elementwise.accumulate(dst, src, n);
    }

    @Override
    public void gelu(Tensor x, Tensor y, int n) {
        elementwise.gelu(x, y, n);
    }

    @Override
    public void geluBackward(Tensor x, Tensor dy, Tensor dx, int n, Write write) {
        elementwise.geluBackward(x, dy, dx, n, write);
    }

    @Override
    public void sigmoidGate(Tensor gatePre, Tensor o, Tensor out, int n) {
        elementwise.sigmoidGate(gatePre, o, out, n);
    }

    @Override
    public void sigmoidGateBackward(Tensor gatePre, Tensor o, Tensor dOut, Tensor dGatePre, Tensor dO, int n) {
        elementwise.sigmoidGateBackward(gatePre, o, dOut, dGatePre, dO, n);
    }

    // ---------------------------------------------------------------- tokens and heads

    @Override
    public void im2col(Tensor images, Tensor patches, int batch, int channels, int height, int width, int patch) {
        tokensAndHeads.im2col(images, patches, batch, channels, height, width, patch);
    }

    @Override
    public void assembleTokens(Tensor patchEmbeddings, Tensor cls, Tensor pos, Tensor fixedPos, Tensor tokens,
                               int batch, int patches, int dim) {
        tokensAndHeads.assembleTokens(patchEmbeddings, cls, pos, fixedPos, tokens, batch, patches, dim);
    }

    @Override
    public void assembleTokensBackward(Tensor dTokens, Tensor dPatchEmbeddings, Tensor dCls, Tensor dPos, int batch,
                                       int patches, int dim, boolean hasCls) {
        tokensAndHeads.assembleTokensBackward(dTokens, dPatchEmbeddings, dCls, dPos, batch, patches, dim, hasCls);
    }

    @Override
    public void splitHeads(Tensor qkv, Tensor q, Tensor k, Tensor v, int batch, int tokens, int heads, int headDim) {
        tokensAndHeads.splitHeads(qkv, q, k, v, batch, tokens, heads, headDim);
    }

    @Override
    public void splitHeadsBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dQkv, int batch, int tokens, int heads,
                                   int headDim, Write write) {
        tokensAndHeads.splitHeadsBackward(dq, dk, dv, dQkv, batch, tokens, heads, headDim, write);
    }

    @Override
    public void mergeHeads(Tensor o, Tensor out, int batch, int tokens, int heads, int headDim) {
        tokensAndHeads.mergeHeads(o, out, batch, tokens, heads, headDim);
    }

    @Override
    public void mergeHeadsBackward(Tensor dOut, Tensor dO, int batch, int tokens, int heads, int headDim,
                                   Write write) {
        tokensAndHeads.mergeHeadsBackward(dOut, dO, batch, tokens, heads, headDim, write);
    }

    @Override
    public void pool(Tensor tokens, Tensor pooled, int batch, int tokenCount, int dim, PoolMode mode) {
        tokensAndHeads.pool(tokens, pooled, batch, tokenCount, dim, mode);
    }

    @Override
    public void poolBackward(Tensor dPooled, Tensor dTokens, int batch, int tokenCount, int dim, PoolMode mode) {
        tokensAndHeads.poolBackward(dPooled, dTokens, batch, tokenCount, dim, mode);
    }

    // ---------------------------------------------------------------- collectives

    @Override
    public boolean averagesOnDevice(Distributed distributed) {
        return collectives.averagesOnDevice(distributed);
    }

    @Override
    public void averageOnDevice(Distributed distributed, List<Tensor> tensors) {
        collectives.averageOnDevice(distributed, tensors);
    }

    // ---------------------------------------------------------------- products

    @Override
    public void linear(Tensor x, Tensor w, Tensor bias, Tensor y, int m, int k, int n) {
        products.linear(x, w, bias, y, m, k, n);
    }

    /** One kernel where our fp32 GEMM kernels run the product (GELU in its epilogue); otherwise two. */
    @Override
    public void linearGelu(Tensor x, Tensor w, Tensor bias, Tensor pre, Tensor y, int m, int k, int n) {
        if (products.fusesGelu()) products.linearGelu(x, w, bias, pre, y, m, k, n);
        else Backend.super.linearGelu(x, w, bias, pre, y, m, k, n);
    }

    @Override
    public boolean linearGeluBackwardUsesScratch() {
        return !products.fusesGelu();
    }

    /** GELU's backward in the input-gradient product's epilogue where {@link #linearGelu} fuses; otherwise apart. */
    @Override
    public void linearGeluBackward(Tensor dy, Tensor x, Tensor w, Tensor pre, Tensor dGelu, Tensor dPre, Tensor dw,
                                   Tensor dBias, int m, int k, int n) {
        if (products.fusesGelu()) products.linearGeluBackward(dy, x, w, pre, dPre, dw, dBias, m, k, n);
        else Backend.super.linearGeluBackward(dy, x, w, pre, dGelu, dPre, dw, dBias, m, k, n);
    }

    @Override
    public void linearBackward(Tensor dy, Tensor x, Tensor w, Tensor dx, Tensor dw, Tensor dBias, int m, int k, int n,
                               Write dxWrite) {
        products.linearBackward(dy, x, w, dx, dw, dBias, m, k, n, dxWrite);
    }

    // ---------------------------------------------------------------- norms

    @Override
    public void layerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int m, int d,
                          double eps) {
        norms.layerNorm(x, gamma, beta, y, mean, rstd, m, d, eps);
    }

    @Override
    public void addLayerNorm(Tensor a, Tensor b, Tensor sum, Tensor gamma, Tensor beta, Tensor y, Tensor mean,
                             Tensor rstd, int m, int d, double eps) {
        norms.addLayerNorm(a, b, sum, gamma, beta, y, mean, rstd, m, d, eps);
    }

    @Override
    public void layerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                                  Tensor dGamma, Tensor dBeta, int m, int d) {
        norms.layerNormBackward(dy, x, gamma, mean, rstd, dx, dGamma, dBeta, m, d);
    }

    @Override
    public void headBatchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd,
                              Tensor runningMean, Tensor runningVar, int batch, int heads, int mapSize, double eps,
                              double momentum, boolean training) {
        norms.headBatchNorm(x, gamma, beta, y, mean, rstd, runningMean, runningVar, batch, heads, mapSize, eps, momentum, training);
    }

    @Override
    public void headBatchNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                                      Tensor dGamma, Tensor dBeta, int batch, int heads, int mapSize) {
        norms.headBatchNormBackward(dy, x, gamma, mean, rstd, dx, dGamma, dBeta, batch, heads, mapSize);
    }

    @Override
    public void headLayerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int batch,
                              int heads, int mapSize, double eps) {
        norms.headLayerNorm(x, gamma, beta, y, mean, rstd, batch, heads, mapSize, eps);
    }

    @Override
    public void headLayerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                                      Tensor dGamma, Tensor dBeta, int batch, int heads, int mapSize) {
        norms.headLayerNormBackward(dy, x, gamma, mean, rstd, dx, dGamma, dBeta, batch, heads, mapSize);
    }

    // ---------------------------------------------------------------- attention

    @Override
    public void attentionScores(Tensor q, Tensor k, Tensor scores, int batchHeads, int tokens, int headDim,
                                double scale) {
        attention.attentionScores(q, k, scores, batchHeads, tokens, headDim, scale);
    }

    @Override
    public void attentionScoresBackward(Tensor dScores, Tensor q, Tensor k, Tensor dq, Tensor dk, int batchHeads,
                                        int tokens, int headDim, double scale) {
        attention.attentionScoresBackward(dScores, q, k, dq, dk, batchHeads, tokens, headDim, scale);
    }

    @Override
    public void attentionWeights(Tensor scores, Tensor weights, int rows, int keys, AttentionWeighting weighting) {
        attention.attentionWeights(scores, weights, rows, keys, weighting);
    }

    @Override
    public void attentionWeightsBackward(Tensor scores, Tensor weights, Tensor dWeights, Tensor dScores, int rows,
                                         int keys, AttentionWeighting weighting) {
        attention.attentionWeightsBackward(scores, weights, dWeights, dScores, rows, keys, weighting);
    }

    @Override
    public void headMix(Tensor maps, Tensor theta, Tensor bias, Tensor out, int batch, int heads, int mapSize) {
        attention.headMix(maps, theta, bias, out, batch, heads, mapSize);
    }

    @Override
    public void headMixBackward(Tensor dOut, Tensor maps, Tensor theta, Tensor dMaps, Tensor dTheta, Tensor dBias,
                                int batch, int heads, int mapSize) {
        attention.headMixBackward(dOut, maps, theta, dMaps, dTheta, dBias, batch, heads, mapSize);
    }

    @Override
    public void attentionApply(Tensor weights, Tensor v, Tensor o, int batchHeads, int tokens, int headDim) {
        attention.attentionApply(weights, v, o, batchHeads, tokens, headDim);
    }

    @Override
    public void attentionApplyBackward(Tensor dO, Tensor weights, Tensor v, Tensor dWeights, Tensor dv,
                                       int batchHeads, int tokens, int headDim) {
        attention.attentionApplyBackward(dO, weights, v, dWeights, dv, batchHeads, tokens, headDim);
    }

    /**
     * {@link HeadsInPlaceCore} where cuBLAS runs the products (the heads read and written in place); otherwise
     * {@link FusedPointwiseCore} (the fused attention kernels where switched on, and the separate steps' backward
     * writing its scratch instead of zeroing it), or with Re-attention, whose steps sit between φ and the product with
     * V, the core composed from the operations here.
     */
    @Override
    public AttentionCore attentionCore(AttentionCore.Spec spec) {
        if (HeadsInPlaceCore.runs(spec, products, attention)) return new HeadsInPlaceCore(this, attention, products, spec);
        return spec.maps() != null ? new ComposedAttentionCore(this, spec) : new FusedPointwiseCore(this, attention, spec);
    }

    // ---------------------------------------------------------------- optimizer

    @Override
    public void crossEntropy(Tensor logits, Tensor labels, Tensor loss, Tensor dLogits, int batch, int classes,
                             double labelSmoothing) {
        optimizer.crossEntropy(logits, labels, loss, dLogits, batch, classes, labelSmoothing);
    }

    @Override
    public void sumOfSquares(Tensor x, int n, Tensor acc, int index) {
        optimizer.sumOfSquares(x, n, acc, index);
    }

    @Override
    public void adamW(AdamWUpdate update, double beta1, double beta2, double eps) {
        optimizer.adamW(update, beta1, beta2, eps);
    }

    @Override
    public void zero(List<Tensor> tensors) {
        optimizer.zero(tensors);
    }

    @Override
    public void sumOfSquares(List<Tensor> tensors, Tensor out) {
        optimizer.sumOfSquares(tensors, out);
    }

    @Override
    public void adamW(List<AdamWUpdate> updates, double beta1, double beta2, double eps) {
        optimizer.adamW(updates, beta1, beta2, eps);
    }
}
