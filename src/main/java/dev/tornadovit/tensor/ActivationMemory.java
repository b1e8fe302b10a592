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
}
