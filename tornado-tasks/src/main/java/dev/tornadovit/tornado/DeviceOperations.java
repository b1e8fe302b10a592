package dev.tornadovit.tornado;

import dev.tornadovit.tensor.Tensor;

/**
 * What every family of {@link TornadoBackend}'s operations takes from the backend: its tensors, the placeholders for
 * absent optional tensors, its scratch buffers, and {@link TaskGraphs#submit} for the tasks it builds.
 */
abstract class DeviceOperations {
    final TornadoBackend backend;
    /** The backend's placeholders for absent optional tensors (see {@link TornadoBackend}). */
    final DeviceTensor unused, unused2;

    DeviceOperations(TornadoBackend backend) {
        this.backend = backend;
        this.unused = backend.unused;
        this.unused2 = backend.unused2;
    }

    DeviceTensor t(Tensor tensor) {
        return backend.t(tensor);
    }

    /** An optional tensor, or the placeholder a kernel ignores (kernels take no nulls). */
    DeviceTensor opt(Tensor tensor) {
        return backend.opt(tensor);
    }

    DeviceTensor scratch(String purpose, int size, Object... op) {
        return backend.scratch(purpose, size, op);
    }

    /** Whether a graph body is being recorded (operations append tasks instead of running). */
    boolean recording() {
        return backend.graphs.recording();
    }

    void submit(Task... tasks) {
        backend.graphs.submit(tasks);
    }

}
