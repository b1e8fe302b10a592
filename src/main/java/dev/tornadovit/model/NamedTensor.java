package dev.tornadovit.model;

import dev.tornadovit.tensor.Tensor;

/** A non-learnable tensor saved with the weights (BatchNorm's running statistics). */
public record NamedTensor(String name, int[] shape, Tensor value) {
}
