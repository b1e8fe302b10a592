package dev.tornadovit.tensor;

/**
 * Where a model's parts get their activation tensors and activation gradients for one batch capacity. Sizes are
 * longs so that a count (see the model's memory estimate) sees a size past an int before anything wraps; an
 * allocating implementation refuses those.
 */
public interface ActivationMemory {

    /** A tensor written by the forward pass (or scratch space) before it is read. */
    Tensor activation(long size);

    /** An activation gradient that backward operations add into: zeroed before each backward pass. */
    Tensor gradient(long size);

    /** An activation gradient that one operation writes whole ({@link Write#OVERWRITE}) before it is read. */
    Tensor overwrittenGradient(long size);

    /**
     * Scratch that a block's backward pass writes whole before it reads it and that nothing reads afterwards (an
     * attention map's gradient, the MLP's hidden gradient). The blocks run their backward passes one after another,
     * so an implementation may give every caller with the same {@code role} and size one tensor: a model then holds
     * one of each, not one per block.
     */
    default Tensor backwardScratch(String role, long size) {
        return overwrittenGradient(size);
    }

    /**
     * Scratch that a block's forward pass writes whole before it reads it and that nothing reads after that pass
     * (softmax attention's scores, which softmax's backward does not read). The blocks run their forward passes one
     * after another too, so it is shared as {@link #backwardScratch} is, under its own role.
     */
    default Tensor forwardScratch(String role, long size) {
        return backwardScratch(role, size);
    }
}
