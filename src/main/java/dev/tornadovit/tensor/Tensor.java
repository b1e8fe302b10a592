package dev.tornadovit.tensor;

/**
 * An opaque flat buffer of numbers owned by a {@link Backend}. The model never looks inside: it only passes
 * tensors to the backend's operations, so the same model code runs on the CPU, in float64 for gradient checks,
 * or on a TornadoVM device where the data lives in device memory.
 */
public interface Tensor {
    /** Number of elements. */
    int size();

    /** The backend that allocated this tensor; operations reject tensors of another backend. */
    Backend backend();
}
