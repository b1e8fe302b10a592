package dev.tornadovit.tornado;

import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tensor.Write;
import dev.tornadovit.tornado.cuda.CudaLibraryProvider;
import dev.tornadovit.tornado.cuda.GemmCompute;
import dev.tornadovit.tornado.kernels.ElementwiseKernels;
import dev.tornadovit.tornado.kernels.MatmulKernels;
import dev.tornadovit.tornado.kernels.MmaGemmKernels;
import dev.tornadovit.tornado.kernels.ReductionKernels;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.WorkerGrid;
import uk.ac.manchester.tornado.api.WorkerGrid3D;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static dev.tornadovit.tornado.Launches.ceilDiv;
import static dev.tornadovit.tornado.Launches.chunks;
import static dev.tornadovit.tornado.Launches.grid2;
import static dev.tornadovit.tornado.Launches.parallelGrid;
import static dev.tornadovit.tornado.Launches.task;

/**
 * {@link TornadoBackend}'s matrix products: the batched GEMM kernel or cuBLAS ({@link CublasGemm}) as the
 * {@link GemmStrategy} says, linear layers forward and backward, and the token split of weight-gradient products.
 */
final class MatrixProducts extends DeviceOperations {
    /**
     * Work-groups a weight-gradient product should have to keep every compute unit busy (four per unit); with fewer
     * output tiles, the tokens are split among several products whose partial sums are then added.
     */
    private int gemmTargetGroups;

    private final GemmStrategy gemmStrategy;
    private final GemmCompute gemmCompute;
    /** Whether our products run on the tensor cores in bf16 ({@link MmaGemmKernels}) rather than in fp32. */
    private final boolean tensorCores;
    /** The bf16 copies cuBLAS reads with {@link GemmCompute#BF16_STORED}; null otherwise. */
    private final Bf16Operands bf16;
    static final String HEADS_IN_ONE_BATCH = "tornadovit.headsInOneBatch";
    /** Whether {@link #gemmHeads} runs all heads as one pointer-array batch rather than a strided batch per head. */
    private boolean headsInOneBatch = Boolean.getBoolean(HEADS_IN_ONE_BATCH);
    /** Where pointwise ReLU attention runs φ and its backward: kernels, or the epilogues of its products. */
    private ReluEpilogue reluEpilogue = ReluEpilogue.fromProperty();

    MatrixProducts(TornadoBackend backend, GemmStrategy gemmStrategy, GemmCompute gemmCompute, boolean tensorCores,
                   int gemmTargetGroups) {
        super(backend);
        this.gemmStrategy = gemmStrategy;
        this.gemmCompute = gemmCompute;
        this.tensorCores = tensorCores;
        this.gemmTargetGroups = gemmTargetGroups;
        this.bf16 = gemmCompute.storedBf16() ? new Bf16Operands(backend) : null;
    }

    static final String GROUPS_PER_UNIT = "tornadovit.gemmGroupsPerUnit";

    /**
     * Work-groups of our GEMM kernels one compute unit is taken to run at once ({@value #GROUPS_PER_UNIT}, 4 by
     * default), which sets {@link #gemmTargetGroups} and so the token split of weight gradients; how many really run
     * at once depends on the registers and local memory the compiled kernel takes, so the bench can try others.
     */
    static int groupsPerUnit() {
        String value = System.getProperty(GROUPS_PER_UNIT);
        if (value == null) return 4;
        try {
            int groups = Integer.parseInt(value.trim());
            if (groups >= 1 && groups <= 64) return groups;
        } catch (NumberFormatException e) {
            // the message below
        }
        throw new IllegalArgumentException("-D" + GROUPS_PER_UNIT + "=" + value + ": expected a whole number from 1 to 64");
    }

    /** Changes {@link #gemmTargetGroups} and returns the old value (tests force the token split with it). */
    int setGemmTargetGroups(int groups) {
        int old = gemmTargetGroups;
        gemmTargetGroups = groups;
        return old;
    }

    /**
     * C (+)= alpha·op(A)·op(B) (+bias) over {@code batches} matrices: A is [M,K], or stored [K,M] when {@code transA}
     * is 1; B is [K,N], or stored [N,K] when {@code transB} is 1; batch z starts at z·stride in each array (stride 0:
     * shared). Our kernels ({@link MatmulKernels}, or {@link MmaGemmKernels} for bf16 on the tensor cores) have one per
     * layout, and no product takes both operands transposed. Through cuBLAS when that is this backend's
     * {@link GemmStrategy}, which takes no bias (see {@link #linear}), after the tasks that copy its operands to bf16
     * when its products store them so ({@link Bf16Operands}).
     */
    Task[] gemm(DeviceTensor a, DeviceTensor b, DeviceTensor c, DeviceTensor bias, int m, int n, int k,
                int batches, int strideA, int strideB, int strideC, int transA, int transB, float alpha,
                int accumulate) {
        if (gemmStrategy == GemmStrategy.CUBLAS) {
            if (bias != null) throw new IllegalStateException("cuBLAS adds no bias: broadcast it into C first");
            if (bf16 == null) {
                return new Task[]{CublasGemm.task(a, b, c, m, n, k, batches, strideA, strideB, strideC, transA, transB,
                        alpha, accumulate, gemmCompute)};
            }
            Bf16Operands.Copy first = bf16.copy(a, Bf16Operands.extent(m, k, batches, strideA), Bf16Operands.FIRST);
            Bf16Operands.Copy second = bf16.copy(b, Bf16Operands.extent(k, n, batches, strideB), Bf16Operands.SECOND);
            return new Task[]{first.task(), second.task(), CublasGemm.task(first.values(), second.values(), c, m, n, k,
                    batches, strideA, strideB, strideC, transA, transB, alpha, accumulate, gemmCompute)};
        }
        if (transA == 1 && transB == 1) {
            throw new IllegalArgumentException("the GEMM kernels take A or B transposed, not both");
        }
        int hasBias = bias == null ? 0 : 1;
        DeviceTensor biasArg = bias == null ? unused : bias;
        if (tensorCores) {
            return new Task[]{mma(a, b, c, biasArg, m, n, k, batches, strideA, strideB, strideC, transA, transB, alpha, accumulate,
                    hasBias)};
        }
        if (transB == 1) {
            return new Task[]{gemmNT(a, b, c, biasArg, unused2, m, n, k, batches, strideA, strideB, strideC, alpha,
                    accumulate, hasBias, MatmulKernels.NONE)};
        }
        if (transA == 0) {
            return new Task[]{gemmNN(a, b, c, biasArg, unused2, m, n, k, batches, strideA, strideB, strideC, alpha,
                    accumulate, hasBias, MatmulKernels.NONE)};
        }
        return new Task[]{task("gemmTN", gemmGrid(m, n, batches), (g, id) -> g.task(id, MatmulKernels::gemmTN,
                        new KernelContext(), a.array, b.array, c.array, biasArg.array, m, n, k, strideA, strideB,
                        strideC, alpha, accumulate, hasBias),
                a, b, c, biasArg, m, n, k, batches, strideA, strideB, strideC, alpha, accumulate, hasBias)};
    }

    /** {@link MatmulKernels#gemmNN}, with {@code activation} {@link MatmulKernels#GELU_BACKWARD} times GELU'(other). */
    private Task gemmNN(DeviceTensor a, DeviceTensor b, DeviceTensor c, DeviceTensor bias, DeviceTensor other,
                        int m, int n, int k, int batches, int strideA, int strideB, int strideC, float alpha,
                        int accumulate, int hasBias, int activation) {
        return task("gemmNN", gemmGrid(m, n, batches), (g, id) -> g.task(id, MatmulKernels::gemmNN,
                        new KernelContext(), a.array, b.array, c.array, bias.array, other.array, m, n, k, strideA,
                        strideB, strideC, alpha, accumulate, hasBias, activation),
                a, b, c, bias, other, m, n, k, batches, strideA, strideB, strideC, alpha, accumulate, hasBias,
                activation);
    }

    /** Our GEMM kernels' grid: 8×8 threads for each 64×64 tile of C, one layer per batch. */
    private static WorkerGrid3D gemmGrid(int m, int n, int batches) {
        WorkerGrid3D grid = new WorkerGrid3D(ceilDiv(n, MatmulKernels.TILE) * MatmulKernels.THREADS,
                ceilDiv(m, MatmulKernels.TILE) * MatmulKernels.THREADS, batches);
        grid.setLocalWork(MatmulKernels.THREADS, MatmulKernels.THREADS, 1);
        return grid;
    }

    /** {@link MatmulKernels#gemmNT}, with {@code activation} {@link MatmulKernels#GELU} also writing GELU(C). */
    private Task gemmNT(DeviceTensor a, DeviceTensor b, DeviceTensor c, DeviceTensor bias, DeviceTensor activated,
                        int m, int n, int k, int batches, int strideA, int strideB, int strideC, float alpha,
                        int accumulate, int hasBias, int activation) {
        return task("gemmNT", gemmGrid(m, n, batches), (g, id) -> g.task(id, MatmulKernels::gemmNT,
                        new KernelContext(), a.array, b.array, c.array, bias.array, activated.array, m, n, k, strideA,
                        strideB, strideC, alpha, accumulate, hasBias, activation),
                a, b, c, bias, activated, m, n, k, batches, strideA, strideB, strideC, alpha, accumulate, hasBias,
                activation);
    }

    /**
     * Whether {@link #linearGelu} runs as one kernel here: on our fp32 GEMM kernels, GELU in the product's epilogue.
     * cuBLASLt's GELU epilogue is the tanh approximation, not the exact GELU of the model (and of timm), so with
     * cuBLAS the activation stays a kernel of its own; {@code -Dtornadovit.geluEpilogue=false} keeps it one here too.
     */
    boolean fusesGelu() {
        return gemmStrategy != GemmStrategy.CUBLAS && !tensorCores && bf16 == null
               && !"false".equals(System.getProperty(GELU_EPILOGUE_PROPERTY));
    }

    static final String GELU_EPILOGUE_PROPERTY = "tornadovit.geluEpilogue";

    /** pre = x·wᵀ + bias and y = GELU(pre) in one kernel (where {@link #fusesGelu}). */
    void linearGelu(Tensor x, Tensor w, Tensor bias, Tensor pre, Tensor y, int m, int k, int n) {
        if (!fusesGelu()) throw new IllegalStateException("GELU is fused into our fp32 GEMM kernels only");
        DeviceTensor h = t(pre), out = t(y);
        Launches.distinctOutputs("linearGelu", h, out);
        int hasBias = bias == null ? 0 : 1;
        submit(gemmNT(t(x), t(w), h, bias == null ? unused : t(bias), out, m, n, k, 1, 0, 0, 0, 1f, 0, hasBias,
                MatmulKernels.GELU));
    }

    /**
     * fc2's backward down to GELU's input in the products' epilogue (where {@link #fusesGelu}): dPre = (dy·w) ⊙
     * GELU'(pre) written by one product, no dy·w stored between, then dw and dBias as {@link #linearBackward}'s.
     */
    void linearGeluBackward(Tensor dy, Tensor x, Tensor w, Tensor pre, Tensor dPre, Tensor dw, Tensor dBias, int m,
                            int k, int n) {
        if (!fusesGelu()) throw new IllegalStateException("GELU is fused into our fp32 GEMM kernels only");
        DeviceTensor gy = t(dy), gPre = t(dPre);
        List<Task> tasks = new ArrayList<>();
        tasks.add(gemmNN(gy, t(w), gPre, unused, t(pre), m, k, n, 1, 0, 0, 0, 1f, 0, 0,
                MatmulKernels.GELU_BACKWARD));
        tasks.addAll(weightGradient(gy, t(x), t(dw), dBias == null ? null : t(dBias), m, k, n));
        submit(tasks.toArray(Task[]::new));
    }

    /** Whether products on views ({@link CublasGemm.View}) run here: cuBLAS on the fp32 tensors. */
    boolean takesViews() {
        return gemmStrategy == GemmStrategy.CUBLAS && bf16 == null;
    }

    /**
     * {@link #gemm} on views into tensors ({@link CublasGemm.View}: rows longer than the matrix's, an offset), where
     * {@link #takesViews}. C's view is taken to share its tensor with other products' (TornadoVM then reads and writes
     * it, never only writes).
     */
    Task gemm(CublasGemm.View a, CublasGemm.View b, CublasGemm.View c, int m, int n, int k, int batches, int transA,
              int transB, float alpha, int accumulate) {
        requireViews();
        return CublasGemm.task(a, b, c, true, m, n, k, batches, transA, transB, alpha, accumulate, gemmCompute);
    }

    private void requireViews() {
        if (!takesViews()) {
            throw new IllegalStateException("products on views run through cuBLAS on fp32 operands, not "
                    + gemmStrategy.label() + (bf16 == null ? "" : " on bf16 copies"));
        }
    }

    /**
     * {@link #gemm} on views for every head of every image: head h's matrix of each operand {@code headStep} values
     * after head h − 1's, image i's the view's stride after image i − 1's. With {@link #setHeadsInOneBatch} one cuBLAS
     * product over the images·heads matrices through arrays of their pointers (no single stride reaches them all);
     * otherwise one strided batch over the images per head. On the H100 the one batch ran ViT-S/16's q·kᵀ (128 images
     * × 6 heads, L = 197, qkv rows of 1152 floats, fp32) in 0.215 ms against 0.271 for the six strided batches, and
     * the weights' product with V in 0.150 against 0.176 (cuBLAS called from PyTorch,
     * {@code pytorch_attention_bench.py --heads-in-place}).
     */
    Task[] gemmHeads(CublasGemm.View a, long headStepA, CublasGemm.View b, long headStepB, CublasGemm.View c,
                     long headStepC, int heads, int m, int n, int k, int images, int transA, int transB, float alpha,
                     int accumulate) {
        if (headsInOneBatch) {
            requireViews();
            return new Task[]{CublasGemm.headsTask(CublasGemm.headsCall(a, headStepA, b, headStepB, c, headStepC,
                    heads, m, n, k, images, transA, transB, alpha, accumulate), gemmCompute)};
        }
        Task[] perHead = new Task[heads];
        for (int h = 0; h < heads; h++) {
            perHead[h] = gemm(shifted(a, h * headStepA), shifted(b, h * headStepB), shifted(c, h * headStepC), m, n, k,
                    images, transA, transB, alpha, accumulate);
        }
        return perHead;
    }

    private static CublasGemm.View shifted(CublasGemm.View v, long values) {
        return new CublasGemm.View(v.tensor(), v.offset() + values, v.rowLength(), v.stride());
    }

    /**
     * {@link #gemm} on views per head as {@link #gemmHeads} runs it without one batch, with cuBLASLt's ReLU
     * {@code epilogue} on each product, {@code mask} the bit masks of all images' and heads' products
     * ({@link CublasGemm#maskValues} values; null for {@link CudaLibraryProvider.Epilogue#RELU}): φ = relu of the
     * scores' product, written with or without its mask, or φ's backward in the product of the weights' gradient,
     * reading that mask. Where {@link #reluEpilogue} is on.
     */
    Task[] gemmHeads(CublasGemm.View a, long headStepA, CublasGemm.View b, long headStepB, CublasGemm.View c,
                     long headStepC, int heads, int m, int n, int k, int images, int transA, int transB, float alpha,
                     int accumulate, CudaLibraryProvider.Epilogue epilogue, DeviceTensor mask) {
        if (reluEpilogue() == ReluEpilogue.OFF) {
            throw new IllegalStateException("φ runs in the products' epilogues only through cuBLASLt, when asked");
        }
        CublasGemm.EpilogueCall[] calls = CublasGemm.headsWithEpilogue(a, headStepA, b, headStepB, c, headStepC, heads,
                m, n, k, images, transA, transB, alpha, accumulate, epilogue, mask);
        Task[] tasks = new Task[calls.length];
        for (int h = 0; h < calls.length; h++) tasks[h] = CublasGemm.epilogueTask(calls[h], gemmCompute);
        return tasks;
    }

    /**
     * Where pointwise ReLU attention runs φ and its backward ({@code -Dtornadovit.reluEpilogue}): in the epilogues of
     * cuBLASLt's products only where the heads are read in place; {@link ReluEpilogue#OFF} elsewhere. φ alone in the
     * scores' product ({@link ReluEpilogue#FORWARD}) by default: it runs as fast as the product without it and saves
     * the φ kernel's passes; with the mask epilogues ({@link ReluEpilogue#BOTH}) cuBLASLt's kernels ran the attention
     * products 2–3× slower than without, more than the map passes they save (docs/gpu.md, "The heads read in place").
     */
    ReluEpilogue reluEpilogue() {
        return takesViews() ? reluEpilogue : ReluEpilogue.OFF;
    }

    /** Sets {@link #reluEpilogue} (which runs where cuBLASLt runs the products); returns the old setting. */
    ReluEpilogue setReluEpilogue(ReluEpilogue mode) {
        ReluEpilogue old = reluEpilogue;
        reluEpilogue = mode;
        return old;
    }

    /** See {@link #setHeadsInOneBatch}. */
    boolean headsInOneBatch() {
        return headsInOneBatch;
    }

    /** Switches {@link #gemmHeads} between one pointer-array batch and a batch per head; returns the old setting. */
    boolean setHeadsInOneBatch(boolean on) {
        boolean old = headsInOneBatch;
        headsInOneBatch = on;
        return old;
    }

    /**
     * {@link #gemm} on the tensor cores ({@link MmaGemmKernels}). Their scratch matrix of per-work-group blocks is one
     * buffer per size, rounded up to a power of two, shared by every product that fits it: the products of a graph run
     * one after another.
     */
    private Task mma(DeviceTensor a, DeviceTensor b, DeviceTensor c, DeviceTensor bias, int m, int n, int k,
                     int batches, int strideA, int strideB, int strideC, int transA, int transB, float alpha,
                     int accumulate, int hasBias) {
        long needed = MmaGemmKernels.tilesSize(m, n, batches);
        if (needed > 1 << 30) {
            throw new IllegalArgumentException("a " + batches + " × " + m + "×" + n + " product is too large for the "
                    + "tensor-core GEMM's scratch (" + needed + " floats, at most 2^30)");
        }
        int size = Integer.highestOneBit((int) needed);
        if (size < needed) size <<= 1;
        DeviceTensor tiles = scratch("mmaTiles", size, size);
        WorkerGrid3D grid = new WorkerGrid3D(ceilDiv(n, MmaGemmKernels.TILE) * MmaGemmKernels.THREADS,
                ceilDiv(m, MmaGemmKernels.TILE), batches);
        grid.setLocalWork(MmaGemmKernels.THREADS, 1, 1);
        String name = transA == 1 ? "mmaTN" : transB == 1 ? "mmaNT" : "mmaNN";
        return task(name, grid, (g, id) -> {
            switch (name) {
                case "mmaNN" -> g.task(id, MmaGemmKernels::mmaNN, new KernelContext(), a.array, b.array, c.array,
                        bias.array, tiles.array, m, n, k, strideA, strideB, strideC, alpha, accumulate, hasBias);
                case "mmaNT" -> g.task(id, MmaGemmKernels::mmaNT, new KernelContext(), a.array, b.array, c.array,
                        bias.array, tiles.array, m, n, k, strideA, strideB, strideC, alpha, accumulate, hasBias);
                default -> g.task(id, MmaGemmKernels::mmaTN, new KernelContext(), a.array, b.array, c.array,
                        bias.array, tiles.array, m, n, k, strideA, strideB, strideC, alpha, accumulate, hasBias);
            }
        }, a, b, c, bias, tiles, m, n, k, batches, strideA, strideB, strideC, alpha, accumulate, hasBias);
    }

    /**
     * Fewest tokens one part of a split weight-gradient product sums over: each part writes and the sum reads its n·k
     * partial results, against n·k·512 multiply-adds. With 64-token parts the demo's small model trained at ~2300 img/s
     * on an H100, against ~3400 without splitting.
     */
    static final int MIN_SPLIT_TOKENS = 512;

    /**
     * The fixed cost of one work-group of a split product, in tokens' worth of its multiply-adds: its first tile loads,
     * and the 4096 partial results it writes and the sum reads back. A rough figure; it only breaks near-ties.
     */
    static final int SPLIT_OVERHEAD_TOKENS = 64;

    /**
     * How many parts the {@code tokens} of a weight-gradient product dW[n,k] are split into, when its output has
     * fewer 64×64 tiles than {@link #gemmTargetGroups} (the work-groups the device runs at once: one "wave"). Among the
     * divisors of {@code tokens} (the batched kernel needs equal parts) that leave each part at least
     * {@link #MIN_SPLIT_TOKENS} tokens, the one with the least estimated time: waves × (tokens per part + overhead).
     * Counting whole waves matters: on an H100 (528 groups a wave), ViT-S/16's MLP weight gradient at batch 128 split
     * 4 ways made 576 groups, a full wave and a nearly empty second one; split 32 ways it makes 8.7 waves of 9.
     * The partial results take splits·n·k floats, at most n·k·tokens/512: no more than the product's input dy when
     * k ≤ 512.
     */
    int tokenSplits(int tokens, int n, int k) {
        int tiles = ceilDiv(n, MatmulKernels.TILE) * ceilDiv(k, MatmulKernels.TILE);
        if (tiles >= gemmTargetGroups) return 1;
        int best = 1;
        long bestCost = splitCost(tokens, tiles, 1);
        for (int s = 2; s <= tokens / MIN_SPLIT_TOKENS; s++) {
            if (tokens % s != 0) continue;
            long cost = splitCost(tokens, tiles, s);
            if (cost < bestCost) {
                best = s;
                bestCost = cost;
            }
        }
        return best;
    }

    private long splitCost(int tokens, int tiles, int splits) {
        return (long) ceilDiv(tiles * splits, gemmTargetGroups) * (tokens / splits + SPLIT_OVERHEAD_TOKENS);
    }

    /** dst[j] += Σ_rows src[r, j] for src [rows, cols]. */
    private Task[] columnSums(DeviceTensor src, DeviceTensor dst, int rows, int cols) {
        int chunks = Math.max(1, Math.min(64, ceilDiv(rows, 64)));
        DeviceTensor partial = scratch("colsum", chunks * cols, src, dst, rows, cols);
        WorkerGrid grid = grid2(ceilDiv(cols, ReductionKernels.COLUMN_TILE) * ReductionKernels.COLUMN_TILE,
                chunks * ReductionKernels.COLUMN_LANES, ReductionKernels.COLUMN_TILE, ReductionKernels.COLUMN_LANES);
        return new Task[]{
                task("columnSumsPartial", grid, (g, id) -> g.task(id, ReductionKernels::columnSumsPartial,
                        new KernelContext(), src.array, partial.array, rows, cols, chunks), src, partial, rows, cols, chunks),
                task("columnSumsFinish", parallelGrid(cols), (g, id) -> g.task(id, ReductionKernels::columnSumsFinish,
                        new KernelContext(), partial.array, dst.array, cols, chunks), partial, dst, cols, chunks)};
    }

    void linear(Tensor x, Tensor w, Tensor bias, Tensor y, int m, int k, int n) {
        if (bias != null && gemmStrategy == GemmStrategy.CUBLAS) { // the bias in the product's epilogue
            if (bf16 == null) {
                submit(CublasGemm.linearForward(t(x), t(w), t(bias), t(y), m, k, n, gemmCompute));
                return;
            }
            Bf16Operands.Copy in = bf16.copy(t(x), m * k, Bf16Operands.FIRST);
            Bf16Operands.Copy weights = bf16.copy(t(w), n * k, Bf16Operands.SECOND);
            submit(in.task(), weights.task(),
                    CublasGemm.linearForward(in.values(), weights.values(), t(bias), t(y), m, k, n, gemmCompute));
            return;
        }
        submit(gemm(t(x), t(w), t(y), bias == null ? null : t(bias), m, n, k, 1, 0, 0, 0, 0, 1, 1f, 0));
    }

    void linearBackward(Tensor dy, Tensor x, Tensor w, Tensor dx, Tensor dw, Tensor dBias, int m, int k, int n,
                        Write dxWrite) {
        if (dxWrite.accumulates()) linearBackward(dy, x, w, dx, dw, dBias, m, k, n, 1);
        else linearBackward(dy, x, w, t(dx), dw, dBias, m, k, n, 0);
    }

    /** dx is added into with {@code accumulateDx} 1, overwritten with 0 (the product's beta = 0). */
    private void linearBackward(Tensor dy, Tensor x, Tensor w, Tensor dx, Tensor dw, Tensor dBias, int m, int k, int n,
                                int accumulateDx) {
        DeviceTensor gy = t(dy), in = t(x), wt = t(w);
        if (bf16 != null) {
            bf16LinearBackward(gy, in, wt, dx == null ? null : t(dx), t(dw), dBias == null ? null : t(dBias), m, k, n,
                    accumulateDx);
            return;
        }
        List<Task> tasks = new ArrayList<>();
        // dx[M,K] (+)= dy[M,N]·w[N,K]
        if (dx != null) tasks.addAll(Arrays.asList(gemm(gy, wt, t(dx), null, m, k, n, 1, 0, 0, 0, 0, 0, 1f, accumulateDx)));
        // dw[N,K] += dyᵀ·x
        DeviceTensor gw = t(dw);
        if (gemmStrategy == GemmStrategy.CUBLAS && dBias != null) {
            // the bias gradient from the weight-gradient product's epilogue, written to scratch, then added
            DeviceTensor biasPart = scratch("biasGradient", n, gy, in, gw, m, k, n), gb = t(dBias);
            tasks.add(CublasGemm.weightGradientWithBias(gy, in, gw, biasPart, m, k, n, gemmCompute));
            tasks.add(task("accumulate", null, (g, id) -> g.task(id, ElementwiseKernels::accumulate, gb.array,
                    biasPart.array, n), gb, biasPart, n));
            submit(tasks.toArray(Task[]::new));
            return;
        }
        tasks.addAll(weightGradient(gy, in, gw, dBias == null ? null : t(dBias), m, k, n));
        submit(tasks.toArray(Task[]::new));
    }

    /**
     * dw[N,K] += dy[M,N]ᵀ·x[M,K] and dBias[N] += Σ_M dy (null: none) without cuBLAS's epilogue: dy read transposed.
     * Its N×K output has few tiles and its M (every token of the batch) is long: one work-group per tile would leave
     * most of a GPU idle, so the tokens are split among products (one batch of the batched kernel each) whose partial
     * results are added after.
     */
    private List<Task> weightGradient(DeviceTensor gy, DeviceTensor in, DeviceTensor gw, DeviceTensor gb, int m, int k,
                                      int n) {
        List<Task> tasks = new ArrayList<>();
        int splits = gemmStrategy == GemmStrategy.CUBLAS ? 1 : tokenSplits(m, n, k); // cuBLAS splits K itself
        if (splits == 1) {
            tasks.addAll(Arrays.asList(gemm(gy, in, gw, null, n, k, m, 1, 0, 0, 0, 1, 0, 1f, 1)));
        } else {
            int chunk = m / splits;
            DeviceTensor partial = scratch("dwSplit", splits * n * k, gy, in, gw, m, k, n);
            tasks.addAll(Arrays.asList(gemm(gy, in, partial, null, n, k, chunk, splits, chunk * n, chunk * k, n * k, 1, 0,
                    1f, 0)));
            tasks.add(task("columnSumsFinish", parallelGrid(n * k), (g, id) -> g.task(id,
                    ReductionKernels::columnSumsFinish, new KernelContext(), partial.array, gw.array, n * k, splits),
                    partial, gw, n * k, splits));
        }
        if (gb != null) tasks.addAll(Arrays.asList(columnSums(gy, gb, m, n)));
        return tasks;
    }

    /**
     * {@link #linearBackward} through cuBLAS on bf16 copies ({@link Bf16Operands}): dy is copied once for both
     * products. The bias gradient from the weight-gradient product's epilogue sums the bf16 copy of dy, as PyTorch's
     * bf16 autocast sums its bf16 dy.
     */
    private void bf16LinearBackward(DeviceTensor gy, DeviceTensor in, DeviceTensor wt, DeviceTensor dx,
                                    DeviceTensor dw, DeviceTensor dBias, int m, int k, int n, int accumulateDx) {
        List<Task> tasks = new ArrayList<>();
        Bf16Operands.Copy gradient = bf16.copy(gy, m * n, Bf16Operands.FIRST);
        tasks.add(gradient.task());
        if (dx != null) { // dx[M,K] (+)= dy[M,N]·w[N,K]
            Bf16Operands.Copy weights = bf16.copy(wt, n * k, Bf16Operands.SECOND);
            tasks.add(weights.task());
            tasks.add(CublasGemm.task(gradient.values(), weights.values(), dx, m, k, n, 1, 0, 0, 0, 0, 0, 1f,
                    accumulateDx, gemmCompute));
        }
        Bf16Operands.Copy inputs = bf16.copy(in, m * k, Bf16Operands.SECOND);
        tasks.add(inputs.task());
        if (dBias == null) { // dw[N,K] += dyᵀ·x
            tasks.add(CublasGemm.task(gradient.values(), inputs.values(), dw, n, k, m, 1, 0, 0, 0, 1, 0, 1f, 1,
                    gemmCompute));
        } else {
            DeviceTensor biasPart = scratch("biasGradient", n, gy, in, dw, m, k, n);
            tasks.add(CublasGemm.weightGradientWithBias(gradient.values(), inputs.values(), dw, biasPart, m, k, n,
                    gemmCompute));
            tasks.add(task("accumulate", null, (g, id) -> g.task(id, ElementwiseKernels::accumulate, dBias.array,
                    biasPart.array, n), dBias, biasPart, n));
        }
        submit(tasks.toArray(Task[]::new));
    }
}
