package dev.tornadovit.distributed;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.model.GradientReadyListener;
import dev.tornadovit.model.Parameter;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;

import java.util.List;

/**
 * Averages every parameter gradient over the ranks of a data-parallel run: the sum over the ranks, divided by the
 * rank count. Each rank's gradient is that of the mean loss over its equal shard, so their mean is the gradient of
 * the mean loss over the global batch. With one rank nothing is copied.
 *
 * <p>Two ways, one result ({@link GradientBuckets} says why it is the same):
 * <ul>
 *   <li>{@link #overlapping}: buckets of whole blocks are summed with non-blocking all-reduces that start during the
 *   backward pass, as each bucket's gradients become final ({@link #listener()} is passed to the backward pass);
 *   {@link #average} waits for the last ones.</li>
 *   <li>The constructor: after the backward pass, every gradient packed into one flat buffer and all-reduced in one
 *   call.</li>
 * </ul>
 * CPU tensors are packed directly; a backend that averages on its device ({@link DeviceCollectives}: NCCL between
 * GPUs) does so in one pass after the backward; other backends' gradients are staged through the host.
 */
public final class GradientAllReduce {

    /** The loss, correct predictions and sample count of one step over every rank's shard. */
    public record StepTotals(double meanLoss, long correct, int samples) {
    }

    private final Distributed distributed;
    private final Backend be;
    private final List<Parameter> params;
    private final List<Tensor> gradients;
    /** The backend averages the gradients on its device (NCCL), decided once. */
    private final boolean averagesOnDevice;
    private final float[] flat;
    /** Set when the sums overlap the backward pass on several ranks. */
    private final GradientBuckets buckets;
    private final double[] totals = new double[3];

    /** All gradients in one all-reduce after the backward pass. */
    public GradientAllReduce(Distributed distributed, Backend backend, List<Parameter> parameters) {
        this.distributed = distributed;
        this.be = backend;
        this.params = List.copyOf(parameters);
        this.gradients = params.stream().map(Parameter::grad).toList();
        this.buckets = null;
        long size = parameters.stream().mapToLong(Parameter::size).sum();
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("the model's " + size + " parameters exceed one all-reduce buffer");
        }
        averagesOnDevice = distributed.size() > 1 && onDevice(distributed, backend);
        flat = distributed.size() == 1 || averagesOnDevice ? new float[0] : new float[(int) size];
    }

    private GradientAllReduce(Distributed distributed, Backend backend, GradientBuckets buckets) {
        this.distributed = distributed;
        this.be = backend;
        this.params = List.of();
        this.gradients = List.of();
        this.averagesOnDevice = false;
        this.flat = new float[0];
        this.buckets = buckets;
    }

    /**
     * Sums that overlap the backward pass: pass {@link #listener()} to
     * {@link dev.tornadovit.model.VisionTransformer#backward(int, GradientReadyListener)}.
     *
     * @param groupsInReadyOrder every parameter once, grouped and ordered as the backward pass finishes them
     *                           ({@link dev.tornadovit.model.VisionTransformer#gradientGroups()})
     */
    public static GradientAllReduce overlapping(Distributed distributed, Backend backend,
                                                List<List<Parameter>> groupsInReadyOrder) {
        if (distributed.size() == 1 || onDevice(distributed, backend)) {
            return new GradientAllReduce(distributed, backend, groupsInReadyOrder.stream().flatMap(List::stream).toList());
        }
        return new GradientAllReduce(distributed, backend, new GradientBuckets(distributed, backend, groupsInReadyOrder));
    }

    /** What the backward pass tells as gradients become final: starts the buckets' sums; nothing to do otherwise. */
    public GradientReadyListener listener() {
        return buckets == null ? GradientReadyListener.NONE : buckets;
    }

    /** Whether {@code backend} averages the gradients on its device (NCCL on GPU ranks). */
    static boolean onDevice(Distributed distributed, Backend backend) {
        return backend instanceof DeviceCollectives d && d.averagesOnDevice(distributed);
    }

    /** How the gradients are summed, for the log: "in 4 all-reduces during the backward pass" … */
    public String describe() {
        if (distributed.size() == 1) return "not summed (one process)";
        if (averagesOnDevice) return "averaged on the device by NCCL after the backward pass";
        return buckets == null ? "summed in one all-reduce after the backward pass"
                : "summed in " + buckets.bucketCount() + " all-reduces during the backward pass";
    }

    /** Whether the sums run during the backward pass. */
    public boolean overlapsBackward() {
        return buckets != null;
    }

    /**
     * Replaces this rank's gradients by the mean over all ranks and returns the step's totals, given this rank's
     * mean loss, correct predictions and shard size. With {@link #overlapping} sums, call it after a backward pass
     * that was given {@link #listener()}.
     */
    public StepTotals average(double meanLoss, long correct, int samples) {
        if (distributed.size() == 1) return new StepTotals(meanLoss, correct, samples);
        float scale = 1f / distributed.size();
        if (buckets != null) buckets.finish(scale);
        else if (averagesOnDevice) ((DeviceCollectives) be).averageOnDevice(distributed, gradients);
        else sumInOneMessage(scale);
        totals[0] = meanLoss * samples;
        totals[1] = correct;
        totals[2] = samples;
        distributed.sum(totals, 3);
        return new StepTotals(totals[0] / totals[2], Math.round(totals[1]), (int) Math.round(totals[2]));
    }

    private void sumInOneMessage(float scale) {
        int offset = 0;
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            float[] g = be instanceof CpuBackend ? CpuBackend.data(p.grad()) : be.downloadFloat(p.grad());
            System.arraycopy(g, 0, flat, offset, p.size());
            offset += p.size();
        }
        distributed.sum(flat, flat.length);
        offset = 0;
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            int n = p.size();
            if (be instanceof CpuBackend) {
                float[] g = CpuBackend.data(p.grad());
                for (int j = 0; j < n; j++) g[j] = flat[offset + j] * scale;
            } else {
                float[] g = new float[n];
                for (int j = 0; j < n; j++) g[j] = flat[offset + j] * scale;
                be.upload(p.grad(), g);
            }
            offset += n;
        }
    }
}
