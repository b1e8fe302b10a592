package dev.tornadovit.tornado;

import dev.tornadovit.tensor.ActivationMemory;
import dev.tornadovit.tensor.AttentionCore;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tornado.cuda.CudaLibraryProvider;

/**
 * {@link TornadoBackend}'s attention core where cuBLAS runs the products on fp32 tensors: each head's q, k and v are
 * read where the qkv Linear wrote them, [B,T,3,H,hd], and its o is written straight into the merged [B,T,H·hd], through
 * views with long rows ({@link CublasGemm.View}): one strided-batched product per head over the batch, or one
 * product over all images and heads through arrays of matrix pointers ({@link MatrixProducts#gemmHeads}). The heads are
 * never copied out into [B,H,T,hd] tensors nor back, nor are their gradients: per block, a forward pass moves
 * 4·B·T·D values fewer and a backward pass as many (PyTorch's SDPA also takes strided q, k, v). The scores, φ, the
 * model's {@link MapStep} (Re-attention) and φ's backward are the backend's operations on the [B,H,T,T] maps, as in
 * the composed core; φ's backward runs from the weights alone where they determine its derivative, and the scores are
 * then scratch of the forward pass. With {@link MatrixProducts#reluEpilogue} on, pointwise ReLU attention has no
 * scores at all: cuBLASLt's epilogue applies φ as the scores' product writes the weights (two passes of the
 * [B,H,T,T] maps fewer forward), and with {@link ReluEpilogue#BOTH} also writes a bit mask of where they are positive,
 * from which φ's backward runs as the product dO·vᵀ writes dS (three passes fewer backward; not with a map step,
 * whose gradient is not a product). qk-norm works
 * on the heads as tensors of their own, so with it the backend composes the core; {@code -Dtornadovit.headsInPlace=false}
 * composes it always.
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
    /** Whether φ = relu runs in the scores' product, and its backward in dO·vᵀ's; decided at allocation. */
    private boolean reluInProducts, gradientInProducts;
    /** Where the weights are positive, a bit a map value, written by the scores' product when gradientInProducts. */
    private Tensor mask;
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
        AttentionWeighting w = spec.weighting();
        ReluEpilogue mode = !w.softmax() && w.activation() == PointwiseActivation.RELU ? products.reluEpilogue()
                : ReluEpilogue.OFF;
        reluInProducts = mode != ReluEpilogue.OFF;
        gradientInProducts = mode == ReluEpilogue.BOTH && spec.maps() == null;
        if (gradientInProducts) mask = memory.activation(CublasGemm.maskValues(batch, heads, tokens, tokens));
        if (!reluInProducts) {
            // the scores are forward scratch, shared by the blocks, where φ's backward can do with the weights alone
            scores = w.backwardNeedsScores() ? memory.activation(maps)
                    : memory.forwardScratch("attention.scores", maps);
        }
        weights = memory.activation(maps);
        dScores = memory.backwardScratch("attention.dScores", maps); // written by φ's backward, read by dq's and dk's
        // the map step adds into dWeights: a zeroed gradient then; otherwise the product with dO writes it, unless
        // φ's backward is that product's epilogue
        if (spec.maps() != null) dWeights = memory.gradient(maps);
        else if (!gradientInProducts) dWeights = memory.backwardScratch("attention.dWeights", maps);
    }

    @Override
    public Tensor weights() {
        return weights;
    }

    @Override
    public void forward(Tensor qkv, Tensor merged, int batch, boolean backwardFollows) {
        DeviceTensor in = t(qkv), out = t(merged);
        if (reluInProducts) {
            // A = max(0, L^-α·scale·q·kᵀ), φ in the product's epilogue (L^-α > 0 commutes with max), and where the
            // backward reads it, the mask of where A > 0
            float alpha = (float) (spec.scale() * spec.weighting().scale(tokens));
            submit(products.gemmHeads(query(in), headDim, key(in), headDim, map(t(weights)), area(), heads, tokens,
                    tokens, headDim, batch, 0, 1, alpha, 0, gradientInProducts
                            ? CudaLibraryProvider.Epilogue.RELU_WITH_MASK : CudaLibraryProvider.Epilogue.RELU,
                    gradientInProducts ? t(mask) : null));
        } else {
            // S = scale·q·kᵀ
            submit(products.gemmHeads(query(in), headDim, key(in), headDim, map(t(scores)), area(), heads, tokens,
                    tokens, headDim, batch, 0, 1, (float) spec.scale(), 0));
            ops.attentionWeights(scores, weights, batch * heads * tokens, tokens, spec.weighting());
        }
        applied = spec.maps() == null ? weights : spec.maps().forward(weights, batch);
        // o = A·v
        submit(products.gemmHeads(map(t(applied)), area(), value(in), headDim, head(out), headDim, heads, tokens,
                headDim, tokens, batch, 0, 0, 1f, 0));
    }

    @Override
    public void backward(Tensor qkv, Tensor dMerged, Tensor dQkv, int batch) {
        DeviceTensor in = t(qkv), gy = t(dMerged), gqkv = t(dQkv), a = t(applied);
        MapStep maps = spec.maps();
        if (gradientInProducts) {
            // dS = L^-α·[A > 0]·(dO·vᵀ), φ's backward in the product's epilogue; dv = Aᵀ·dO
            submit(Launches.concat(
                    products.gemmHeads(head(gy), headDim, value(in), headDim, map(t(dScores)), area(), heads, tokens,
                            tokens, headDim, batch, 0, 1, (float) spec.weighting().scale(tokens), 0,
                            CudaLibraryProvider.Epilogue.RELU_GRADIENT, t(mask)),
                    products.gemmHeads(map(a), area(), head(gy), headDim, value(gqkv), headDim, heads, tokens, headDim,
                            tokens, batch, 1, 0, 1f, 0)));
            scoreGradients(in, gqkv, batch);
            return;
        }
        // dA = dO·vᵀ, into the map step's zeroed gradient or written; dv = Aᵀ·dO
        DeviceTensor gMap = t(maps == null ? dWeights : maps.mapGradient());
        int addIntoMap = maps == null ? 0 : 1;
        submit(Launches.concat(
                products.gemmHeads(head(gy), headDim, value(in), headDim, map(gMap), area(), heads, tokens, tokens,
                        headDim, batch, 0, 1, 1f, addIntoMap),
                products.gemmHeads(map(a), area(), head(gy), headDim, value(gqkv), headDim, heads, tokens, headDim,
                        tokens, batch, 1, 0, 1f, 0)));
        if (maps != null) maps.backward(weights, dWeights, batch);
        ops.attentionWeightsBackward(spec.weighting().backwardNeedsScores() ? scores : null, weights, dWeights, dScores,
                batch * heads * tokens, tokens, spec.weighting(), 0);
        scoreGradients(in, gqkv, batch);
    }

    /** dq and dk from dS. */
    private void scoreGradients(DeviceTensor in, DeviceTensor gqkv, int batch) {
        DeviceTensor gs = t(dScores);
        float scale = (float) spec.scale();
        // dq = scale·dS·k ; dk = scale·dSᵀ·q
        submit(Launches.concat(
                products.gemmHeads(map(gs), area(), key(in), headDim, query(gqkv), headDim, heads, tokens, headDim,
                        tokens, batch, 0, 0, scale, 0),
                products.gemmHeads(map(gs), area(), query(in), headDim, key(gqkv), headDim, heads, tokens, headDim,
                        tokens, batch, 1, 0, scale, 0)));
    }

    /** Head 0's queries in qkv [B,T,3,H,hd] (or its gradient): T rows of hd in rows of 3·H·hd, an image apart. */
    private CublasGemm.View query(DeviceTensor qkv) {
        return part(qkv, 0);
    }

    private CublasGemm.View key(DeviceTensor qkv) {
        return part(qkv, 1);
    }

    private CublasGemm.View value(DeviceTensor qkv) {
        return part(qkv, 2);
    }

    private CublasGemm.View part(DeviceTensor qkv, int which) {
        int width = heads * headDim;
        return new CublasGemm.View(qkv, (long) which * width, 3 * width, (long) tokens * 3 * width);
    }

    /** Head 0's o in merged [B,T,H·hd] (or its gradient); the next head's starts hd values later. */
    private CublasGemm.View head(DeviceTensor merged) {
        int width = heads * headDim;
        return new CublasGemm.View(merged, 0, width, (long) tokens * width);
    }

    /** Head 0's [T,T] map in [B,H,T,T]; the next head's starts {@link #area} values later. */
    private CublasGemm.View map(DeviceTensor maps) {
        return new CublasGemm.View(maps, 0, tokens, heads * area());
    }

    private long area() {
        return (long) tokens * tokens;
    }
}
