package dev.tornadovit.tornado;

import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * A tensor of the TornadoVM backend: a {@link FloatArray} whose host memory is only a staging area. Once a graph has
 * used it, the device copy is the real one and the host copy is refreshed only by a download.
 */
final class DeviceTensor implements Tensor {
    final TornadoBackend owner;
    final long id;
    final int size;
    /** At least one element: TornadoVM cannot allocate empty arrays. */
    final FloatArray array;

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
    }

    boolean resident() {
        return group != null;
    }

    long bytes() {
        return 4L * Math.max(1, size);
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
        return "tensor#" + id + "[" + size + "]";
    }
}
