package dev.tornadovit.model;

import java.util.List;

/**
 * Told during {@link VisionTransformer#backward(int, GradientReadyListener)} whenever a part of the model's parameter
 * gradients is final for this pass: the final norm and head first, then each block from the last to the first, then
 * the embedding ({@link VisionTransformer#gradientGroups()}, in that order). A data-parallel run starts summing
 * those gradients over its ranks here, while the backward pass goes on with the earlier layers.
 */
@FunctionalInterface
public interface GradientReadyListener {
    /** Told nothing. */
    GradientReadyListener NONE = parameters -> {
    };

    /**
     * The gradients of {@code parameters} (one of {@link VisionTransformer#gradientGroups()}, the same list object)
     * will not change again in this backward pass. Called on the thread that runs the backward pass.
     */
    void gradientsReady(List<Parameter> parameters);
}
