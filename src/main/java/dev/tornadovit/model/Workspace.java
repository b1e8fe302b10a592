package dev.tornadovit.model;

import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * The activation tensors of one model for a given batch capacity, and the activation gradients, which are zeroed
 * together before each backward pass (backward operations accumulate), except those with one writer that overwrites
 * them.
 */
public final class Workspace {
    private final Backend backend;
    private final List<Tensor> gradients = new ArrayList<>();

    public Workspace(Backend backend) {
        this.backend = backend;
    }

    public Backend backend() {
        return backend;
    }

    public Tensor activation(int size) {
        return backend.allocate(size);
    }

    /** An activation gradient: zeroed by {@link #zeroGradients()}. */
    public Tensor gradient(int size) {
        Tensor t = backend.allocate(size);
        gradients.add(t);
        return t;
    }

    /**
     * An activation gradient that one operation writes whole (an overwriting variant such as
     * {@link Backend#linearBackwardOverwritingInput}) before anything reads it: not zeroed, which saved 150 MB of memory
     * writes a small-ViT training step.
     */
    public Tensor overwrittenGradient(int size) {
        return activation(size);
    }

    public void zeroGradients() {
        for (int i = 0; i < gradients.size(); i++) backend.zero(gradients.get(i));
    }
}
