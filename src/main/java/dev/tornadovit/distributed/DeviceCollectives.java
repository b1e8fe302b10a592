package dev.tornadovit.distributed;

import dev.tornadovit.tensor.Tensor;

import java.util.List;

/**
 * A backend that averages gradients over the ranks on its own device (NCCL between GPUs), so that they are not staged
 * through the host and MPI. {@link GradientAllReduce} uses it where {@link #averagesOnDevice} says so.
 */
public interface DeviceCollectives {

    /** Whether this backend can average over {@code distributed}'s ranks on its device here (NCCL loads, ...). */
    boolean averagesOnDevice(Distributed distributed);

    /**
     * Every tensor becomes its mean over the ranks of {@code distributed}, on the device. A collective: every rank
     * calls it with the same tensors in the same order; the first call joins the ranks into one communicator.
     */
    void averageOnDevice(Distributed distributed, List<Tensor> tensors);
}
