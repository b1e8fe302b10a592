package dev.tornadovit.tornado;

import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;
import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

/**
 * A tensor of the TornadoVM backend: a {@link FloatArray} whose host memory is only a staging area. Once a graph has
 * used it, the device copy is the real one and the host copy is refreshed only by a download.
 *
 * <p>The backend's own bf16 buffers (matrix-product operands stored as bf16, {@link Bf16Operands}) are tensors of this
 * class too, so that they get device memory and cross graphs like any other, but hold their values in a
 * {@link ShortArray} of bf16 bit patterns: they live on the device only, and are never uploaded or downloaded.
 */
final class DeviceTensor implements Tensor {
    final TornadoBackend owner;
    final long id;
    final int size;
    /** At least one element: TornadoVM cannot allocate empty arrays. Null for a bf16 tensor. */
    final FloatArray array;
    /** A bf16 tensor's bit patterns; null for an fp32 tensor. */
    final ShortArray halves;

    /** The owner graph that allocated the device buffer; null while the tensor lives on the host only. */
    DeviceMemory.OwnerGroup group;
    /** The host copy holds an upload that the device has not seen yet. */
    boolean hostDirty;
    /** The graph that sends this tensor alone, made when it is uploaded on its own after going to the device. */
    DeviceMemory.Staging staging;

    DeviceTensor(TornadoBackend owner, long id, int size) {
        this.owner = owner;
        this.id = id;
        this.size = size;
        this.array = new FloatArray(Math.max(1, size));
        this.halves = null;
    }

    /** A bf16 tensor of {@code size} values (device-only; see the class comment). */
    DeviceTensor(TornadoBackend owner, long id, int size, ShortArray halves) {
        if (halves.getSize() < Math.max(1, size)) throw new IllegalArgumentException("bf16 buffer smaller than " + size);
        this.owner = owner;
        this.id = id;
        this.size = size;
        this.array = null;
        this.halves = halves;
    }

    boolean bf16() {
        return halves != null;
    }

    /** The TornadoVM array that holds the values on the host and names the device buffer in task graphs. */
    TornadoNativeArray buffer() {
        return halves != null ? halves : array;
    }

    boolean resident() {
        return group != null;
    }

    long bytes() {
        return halves != null ? 2L * halves.getSize() : 4L * Math.max(1, size);
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public Backend backend() {
        return owner;
    }

    @Override
    public String toString() {
        return (halves != null ? "bf16 tensor#" : "tensor#") + id + "[" + size + "]";
    }
}
