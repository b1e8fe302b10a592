package dev.tornadovit.model;

import dev.tornadovit.tensor.ActivationMemory;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The activation tensors of one model for a given batch capacity, and the activation gradients, which are zeroed
 * together before each backward pass (backward operations accumulate), except those with one writer that overwrites
 * them.
 */
public final class Workspace implements ActivationMemory {
    private final Backend backend;
    private final List<Tensor> gradients = new ArrayList<>();
    private final Map<String, Tensor> scratch = new HashMap<>();

    public Workspace(Backend backend) {
        this.backend = backend;
    }

    public Backend backend() {
        return backend;
    }

    public Tensor activation(int size) {
        return backend.allocate(size);
    }

    @Override
    public Tensor activation(long size) {
        return activation(elements(size));
    }

    @Override
    public Tensor gradient(long size) {
        return gradient(elements(size));
    }

    @Override
    public Tensor overwrittenGradient(long size) {
        return overwrittenGradient(elements(size));
    }

    /** A size as a tensor's int; {@link MemoryEstimate} refuses a batch size whose tensors would not fit first. */
    private static int elements(long size) {
        if (size < 0 || size > MemoryEstimate.MAX_TENSOR_ELEMENTS) {
            throw new IllegalArgumentException("a workspace tensor of " + size + " values does not fit one tensor (at "
                    + "most " + MemoryEstimate.MAX_TENSOR_ELEMENTS + "); lower the batch size");
        }
        return (int) size;
    }

    /** An activation gradient: zeroed by {@link #zeroGradients()}. */
    public Tensor gradient(int size) {
        Tensor t = backend.allocate(size);
        gradients.add(t);
        return t;
    }

    /**
     * An activation gradient that one operation writes whole ({@link dev.tornadovit.tensor.Write#OVERWRITE}) before
     * anything reads it: not zeroed, which saved 150 MB of memory writes a small-ViT training step.
     */
    public Tensor overwrittenGradient(int size) {
        return activation(size);
    }

    /** One tensor per role and size, shared by every block ({@link ActivationMemory#backwardScratch}). */
    @Override
    public Tensor backwardScratch(String role, long size) {
        return scratch.computeIfAbsent(role + " " + size, k -> overwrittenGradient(size));
    }

    public void zeroGradients() {
        for (int i = 0; i < gradients.size(); i++) backend.zero(gradients.get(i));
    }
}
