package dev.tornadovit.model;

import dev.tornadovit.tensor.Tensor;

import java.util.Arrays;

/**
 * A named learnable tensor with its gradient. Names and shapes follow timm's VisionTransformer where the tensor
 * exists there, so checkpoints read naturally next to timm's.
 *
 * @param weightDecay whether AdamW decays it: weight matrices yes; norms, biases, cls token and position
 *                    embeddings no
 */
public record Parameter(String name, int[] shape, Tensor value, Tensor grad, boolean weightDecay) {

    public int size() {
        return value.size();
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }
}
