package dev.tornadovit.tensor;

/**
 * The attention core composed from a backend's primitives: {@link Backend#splitHeads} into q, k, v [B,H,T,hd],
 * {@link Backend#attentionScores}, {@link Backend#attentionWeights}, {@link Backend#attentionApply} into o and
 * {@link Backend#mergeHeads}, with the model's steps in between, and their backward passes in reverse. Every
 * intermediate lives in a tensor of its own: the scores, the weights and their gradients [B,H,T,T] too.
 *
 * <p>A backend with a faster way for part of it extends this class and overrides {@link #attend} and
 * {@link #attendBackward}, the part between the heads' queries and keys and o. With softmax, whose backward reads
 * only the weights, the scores are scratch of the forward pass, one tensor for all blocks.
 */
public class ComposedAttentionCore implements AttentionCore {
    protected final Backend be;
    protected final Spec spec;
    protected final int heads, headDim;
    protected int tokens;
    /** The heads [B,H,T,hd], their gradients, and o's. */
    protected Tensor q, k, v, o, dO, dq, dk, dv;
    /** [B,H,T,T]. */
    protected Tensor scores, weights, dScores, dWeights;
    /** The map that weighted V in the last forward: the weights, or the {@link MapStep}'s output. */
    private Tensor applied;

    public ComposedAttentionCore(Backend be, Spec spec) {
        this.be = be;
        this.spec = spec;
        this.heads = spec.heads();
        this.headDim = spec.headDim();
    }

    @Override
    public void allocate(ActivationMemory memory, int batch, int tokens) {
        this.tokens = tokens;
        long perHead = (long) batch * heads * tokens * headDim, maps = (long) batch * heads * tokens * tokens;
        boolean steps = spec.queryKey() != null || spec.maps() != null;
        q = memory.activation(perHead);
        k = memory.activation(perHead);
        v = memory.activation(perHead);
        o = memory.activation(perHead);
        // Written and read within the block's backward (the heads' split and merge gradients): shared by the blocks.
        dO = memory.backwardScratch("attention.dO", perHead);
        // With a step inside, the step's backward and the core's add into dq and dk; without, the core writes them.
        dq = steps ? memory.gradient(perHead) : memory.backwardScratch("attention.dq", perHead);
        dk = steps ? memory.gradient(perHead) : memory.backwardScratch("attention.dk", perHead);
        dv = steps ? memory.gradient(perHead) : memory.backwardScratch("attention.dv", perHead);
        // softmax's backward reads only the weights: the scores are then forward scratch, shared by the blocks
        scores = spec.weighting().softmax() ? memory.forwardScratch("attention.scores", maps) : memory.activation(maps);
        weights = memory.activation(maps);
        // Between a MapStep's backward and φ's, dWeights gathers what the step adds: a zeroed gradient. Otherwise
        // both are scratch that attendBackward writes and reads, shared by the blocks.
        dScores = spec.maps() != null ? memory.gradient(maps) : memory.backwardScratch("attention.dScores", maps);
        dWeights = spec.maps() != null ? memory.gradient(maps) : memory.backwardScratch("attention.dWeights", maps);
    }

    @Override
    public Tensor weights() {
        return weights;
    }

    @Override
    public void forward(Tensor qkv, Tensor merged, int batch, boolean backwardFollows) {
        be.splitHeads(qkv, q, k, v, batch, tokens, heads, headDim);
        QueryKeyStep step = spec.queryKey();
        if (step != null) step.forward(q, k, batch);
        attend(step == null ? q : step.queries(), step == null ? k : step.keys(), batch, backwardFollows);
        be.mergeHeads(o, merged, batch, tokens, heads, headDim);
    }

    /** o from the queries and keys the scores use, and v: scores, φ, the {@link MapStep} if any, the product with v. */
    protected void attend(Tensor queries, Tensor keys, int batch, boolean backwardFollows) {
        int bh = batch * heads;
        be.attentionScores(queries, keys, scores, bh, tokens, headDim, spec.scale());
        be.attentionWeights(scores, weights, bh * tokens, tokens, spec.weighting());
        applied = spec.maps() == null ? weights : spec.maps().forward(weights, batch);
        be.attentionApply(applied, v, o, bh, tokens, headDim);
    }

    @Override
    public void backward(Tensor qkv, Tensor dMerged, Tensor dQkv, int batch) {
        be.mergeHeadsBackward(dMerged, dO, batch, tokens, heads, headDim, Write.OVERWRITE);
        QueryKeyStep step = spec.queryKey();
        if (step == null) {
            attendBackward(q, k, dq, dk, batch);
        } else {
            attendBackward(step.queries(), step.keys(), step.queriesGradient(), step.keysGradient(), batch);
            step.backward(q, k, dq, dk, batch);
        }
        be.splitHeadsBackward(dq, dk, dv, dQkv, batch, tokens, heads, headDim, Write.OVERWRITE);
    }

    /**
     * Backward of {@link #attend}: from dO, adds into dQueries, dKeys and dv, which it zeroes first when nothing else
     * adds into them (no step inside).
     */
    protected void attendBackward(Tensor queries, Tensor keys, Tensor dQueries, Tensor dKeys, int batch) {
        int bh = batch * heads;
        MapStep maps = spec.maps();
        if (maps == null) {
            if (spec.queryKey() == null) {
                be.zero(dq);
                be.zero(dk);
                be.zero(dv);
            }
            be.zero(dWeights);
            be.zero(dScores);
            be.attentionApplyBackward(dO, weights, v, dWeights, dv, bh, tokens, headDim);
        } else {
            be.attentionApplyBackward(dO, applied, v, maps.mapGradient(), dv, bh, tokens, headDim);
            maps.backward(weights, dWeights, batch);
        }
        be.attentionWeightsBackward(scores, weights, dWeights, dScores, bh * tokens, tokens, spec.weighting());
        be.attentionScoresBackward(dScores, queries, keys, dQueries, dKeys, bh, tokens, headDim, spec.scale());
    }
}
