package dev.tornadovit.tensor;

/**
 * A block's attention core, from the qkv Linear's output qkv [B,T,3,H,hd] to the output projection's input merged
 * [B,T,H·hd]: per (batch, head) o = φ(scale · q·kᵀ) · v with q, k, v the heads of qkv, and the heads' o side by side
 * in each token (as timm). Each backend makes its own ({@link Backend#attentionCore}): the default,
 * {@link ComposedAttentionCore}, composes the backend's primitives; the CPU fuses the scores, φ and the product with
 * V per (batch, head) and reads q, k, v in place in qkv; TornadoVM runs pointwise φ as one fused kernel.
 *
 * <p>The core owns its scratch space (the heads' q, k, v and o where its path needs them, the scores, the weights
 * and their gradients), taken from the model's {@link ActivationMemory} by {@link #allocate}. A model puts its own
 * steps inside the core through the {@link Spec}: qk-norm on the heads' queries and keys before the scores
 * ({@link QueryKeyStep}), Re-attention on the maps between φ and the product with V ({@link MapStep}). A backend
 * whose fusion cannot take a step in between composes that core from its primitives instead.
 */
public interface AttentionCore {

    /**
     * What a core computes: {@code heads} heads of {@code headDim}, scores scaled by {@code scale}, weights by
     * {@code weighting}; {@code queryKey} and {@code maps} are the model's steps inside the core, or null.
     */
    record Spec(int heads, int headDim, double scale, AttentionWeighting weighting, QueryKeyStep queryKey,
                MapStep maps) {
        public Spec {
            if (heads <= 0 || headDim <= 0) {
                throw new IllegalArgumentException("an attention core needs heads and a head dimension, not "
                        + heads + " × " + headDim);
            }
            if (weighting == null) throw new IllegalArgumentException("an attention core needs a weighting");
        }
    }

    /**
     * A step on the heads' queries and keys before the scores (qk-norm). It owns its outputs and their gradients.
     * Rows are the B·H·T head vectors of {@code headDim} values.
     */
    interface QueryKeyStep {
        /** Writes {@link #queries()} and {@link #keys()} from the heads' q and k [B,H,T,hd]. */
        void forward(Tensor q, Tensor k, int batch);

        /** The queries the scores use, [B,H,T,hd]. */
        Tensor queries();

        /** The keys the scores use, [B,H,T,hd]. */
        Tensor keys();

        /** ∂loss/∂{@link #queries()}: zeroed before each backward pass; the scores' backward adds into it. */
        Tensor queriesGradient();

        /** ∂loss/∂{@link #keys()}: zeroed before each backward pass; the scores' backward adds into it. */
        Tensor keysGradient();

        /** Adds ∂loss/∂q and ∂loss/∂k into dq and dk, from the gradients above. */
        void backward(Tensor q, Tensor k, Tensor dq, Tensor dk, int batch);
    }

    /** A step on the attention maps between φ and the product with V (Re-attention). It owns its output. */
    interface MapStep {
        /** From the weights φ(scores) [B,H,T,T] writes the map that weights V, and returns it. */
        Tensor forward(Tensor weights, int batch);

        /** ∂loss/∂(the map that weights V): zeroed before each backward pass; the core's backward adds into it. */
        Tensor mapGradient();

        /** Adds ∂loss/∂weights into dWeights, from {@link #mapGradient()}. */
        void backward(Tensor weights, Tensor dWeights, int batch);
    }

    /** Takes the core's tensors for batches of up to {@code batch} with {@code tokens} tokens from {@code memory}. */
    void allocate(ActivationMemory memory, int batch, int tokens);

    /** The weights φ(scores) of the last forward, [B,H,T,T]: the attention maps before any {@link MapStep}. */
    Tensor weights();

    /**
     * merged [B,T,H·hd] from qkv [B,T,3,H,hd], for {@code batch} images; {@code backwardFollows} keeps what the
     * backward needs (the scores, where φ's backward reads them).
     */
    void forward(Tensor qkv, Tensor merged, int batch, boolean backwardFollows);

    /**
     * Backward of {@link #forward}: OVERWRITES dQkv [B,T,3,H,hd] given dMerged [B,T,H·hd]. The forward's tensors must
     * be as it left them, and the forward must have been told a backward follows.
     */
    void backward(Tensor qkv, Tensor dMerged, Tensor dQkv, int batch);
}
