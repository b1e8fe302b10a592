package dev.tornadovit.tornado;

import dev.tornadovit.tensor.ActivationMemory;
import dev.tornadovit.tensor.AttentionCore;
import dev.tornadovit.tensor.Tensor;

/**
 * {@link TornadoBackend}'s attention core where cuBLAS runs the products on fp32 tensors: each head's q, k and v are
 * read where the qkv Linear wrote them, [B,T,3,H,hd], and its o is written straight into the merged [B,T,H·hd], through
 * views with long rows ({@link CublasGemm.View}): one strided-batched product per head over the batch. The heads are
 * never copied out into [B,H,T,hd] tensors nor back, nor are their gradients: per block, a forward pass moves
 * 4·B·T·D values fewer and a backward pass as many (PyTorch's SDPA also takes strided q, k, v). The scores, φ, the
 * model's {@link MapStep} (Re-attention) and φ's backward are the backend's operations on the [B,H,T,T] maps, as in
 * the composed core. qk-norm works on the heads as tensors of their own, so with it the backend composes the core;
 * {@code -Dtornadovit.headsInPlace=false} composes it always.
 */
final class HeadsInPlaceCore extends DeviceOperations implements AttentionCore {
    static final String PROPERTY = "tornadovit.headsInPlace";

    private final Attention ops;
    private final MatrixProducts products;
    private final Spec spec;
    private final int heads, headDim;
    private int tokens;
    /** [B,H,T,T]. */
    private Tensor scores, weights, dScores, dWeights;
    /** The map that weighted V in the last forward: the weights, or the {@link MapStep}'s output. */
    private Tensor applied;

    /** Whether the backend runs {@code spec} with this core. */
    static boolean runs(Spec spec, MatrixProducts products, Attention ops) {
        return spec.queryKey() == null && products.takesViews() && !ops.fused()
               && !"false".equals(System.getProperty(PROPERTY));
    }

    HeadsInPlaceCore(TornadoBackend backend, Attention ops, MatrixProducts products, Spec spec) {
        super(backend);
        if (spec.queryKey() != null) throw new IllegalArgumentException("qk-norm needs the heads split");
        this.ops = ops;
        this.products = products;
        this.spec = spec;
        this.heads = spec.heads();
        this.headDim = spec.headDim();
    }

    @Override
    public void allocate(ActivationMemory memory, int batch, int tokens) {
        this.tokens = tokens;
        long maps = (long) batch * heads * tokens * tokens;
        scores = memory.activation(maps);
        weights = memory.activation(maps);
        dScores = memory.backwardScratch("attention.dScores", maps); // written by φ's backward, read by dq's and dk's
        // the map step adds into dWeights: a zeroed gradient then; otherwise the product with dO writes it
        dWeights = spec.maps() != null ? memory.gradient(maps) : memory.backwardScratch("attention.dWeights", maps);
    }

    @Override
    public Tensor weights() {
        return weights;
    }

    @Override
    public void forward(Tensor qkv, Tensor merged, int batch, boolean backwardFollows) {
        DeviceTensor in = t(qkv), out = t(merged), s = t(scores);
        float scale = (float) spec.scale();
        Task[] scoring = new Task[heads];
        for (int h = 0; h < heads; h++) { // S = scale·q·kᵀ
            scoring[h] = products.gemm(query(in, h), key(in, h), map(s, h), tokens, tokens, headDim, batch, 0, 1,
                    scale, 0);
        }
        submit(scoring);
        ops.attentionWeights(scores, weights, batch * heads * tokens, tokens, spec.weighting());
        applied = spec.maps() == null ? weights : spec.maps().forward(weights, batch);
        DeviceTensor a = t(applied);
        Task[] weighting = new Task[heads];
        for (int h = 0; h < heads; h++) { // o = A·v
            weighting[h] = products.gemm(map(a, h), value(in, h), head(out, h), tokens, headDim, tokens, batch, 0, 0,
                    1f, 0);
        }
        submit(weighting);
    }

    @Override
    public void backward(Tensor qkv, Tensor dMerged, Tensor dQkv, int batch) {
        DeviceTensor in = t(qkv), gy = t(dMerged), gqkv = t(dQkv), a = t(applied);
        MapStep maps = spec.maps();
        // dA = dO·vᵀ, into the map step's zeroed gradient or written; dv = Aᵀ·dO
        DeviceTensor gMap = t(maps == null ? dWeights : maps.mapGradient());
        int addIntoMap = maps == null ? 0 : 1;
        Task[] values = new Task[2 * heads];
        for (int h = 0; h < heads; h++) {
            values[2 * h] = products.gemm(head(gy, h), value(in, h), map(gMap, h), tokens, tokens, headDim, batch, 0,
                    1, 1f, addIntoMap);
            values[2 * h + 1] = products.gemm(map(a, h), head(gy, h), value(gqkv, h), tokens, headDim, tokens, batch,
                    1, 0, 1f, 0);
        }
        submit(values);
        if (maps != null) maps.backward(weights, dWeights, batch);
        ops.attentionWeightsBackward(scores, weights, dWeights, dScores, batch * heads * tokens, tokens,
                spec.weighting(), 0);
        DeviceTensor gs = t(dScores);
        float scale = (float) spec.scale();
        Task[] queriesAndKeys = new Task[2 * heads];
        for (int h = 0; h < heads; h++) { // dq = scale·dS·k ; dk = scale·dSᵀ·q
            queriesAndKeys[2 * h] = products.gemm(map(gs, h), key(in, h), query(gqkv, h), tokens, headDim, tokens,
                    batch, 0, 0, scale, 0);
            queriesAndKeys[2 * h + 1] = products.gemm(map(gs, h), query(in, h), key(gqkv, h), tokens, headDim, tokens,
                    batch, 1, 0, scale, 0);
        }
        submit(queriesAndKeys);
    }

    /** Head h's queries in qkv [B,T,3,H,hd] (or its gradient): T rows of hd in rows of 3·H·hd, an image apart. */
    private CublasGemm.View query(DeviceTensor qkv, int h) {
        return part(qkv, 0, h);
    }

    private CublasGemm.View key(DeviceTensor qkv, int h) {
        return part(qkv, 1, h);
    }

    private CublasGemm.View value(DeviceTensor qkv, int h) {
        return part(qkv, 2, h);
    }

    private CublasGemm.View part(DeviceTensor qkv, int which, int h) {
        int width = heads * headDim;
        return new CublasGemm.View(qkv, (long) which * width + (long) h * headDim, 3 * width, (long) tokens * 3 * width);
    }

    /** Head h's o in merged [B,T,H·hd] (or its gradient). */
    private CublasGemm.View head(DeviceTensor merged, int h) {
        int width = heads * headDim;
        return new CublasGemm.View(merged, (long) h * headDim, width, (long) tokens * width);
    }

    /** Head h's [T,T] map in [B,H,T,T]. */
    private CublasGemm.View map(DeviceTensor maps, int h) {
        long area = (long) tokens * tokens;
        return new CublasGemm.View(maps, h * area, tokens, heads * area);
    }
}
