package dev.tornadovit.distributed;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.model.Parameter;
import dev.tornadovit.tensor.Backend;

import java.util.List;

/**
 * Averages every parameter gradient over the ranks of a data-parallel run: the gradients are packed into one flat
 * buffer, all-reduced in one call (one message per step, however many parameters), divided by the rank count and
 * unpacked. Each rank's gradient is that of the mean loss over its equal shard, so their mean is the gradient of the
 * mean loss over the global batch. CPU tensors are packed directly; other backends' gradients are staged through
 * the host. With one rank nothing is copied.
 */
public final class GradientAllReduce {

    /** The loss, correct predictions and sample count of one step over every rank's shard. */
    public record StepTotals(double meanLoss, long correct, int samples) {
    }

    private final Distributed distributed;
    private final Backend be;
    private final List<Parameter> params;
    private final float[] flat;
    private final double[] totals = new double[3];

    public GradientAllReduce(Distributed distributed, Backend backend, List<Parameter> parameters) {
        this.distributed = distributed;
        this.be = backend;
        this.params = List.copyOf(parameters);
        long size = parameters.stream().mapToLong(Parameter::size).sum();
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("the model's " + size + " parameters exceed one all-reduce buffer");
        }
        flat = distributed.size() == 1 ? new float[0] : new float[(int) size];
    }

    /**
     * Replaces this rank's gradients by the mean over all ranks and returns the step's totals, given this rank's
     * mean loss, correct predictions and shard size.
     */
    public StepTotals average(double meanLoss, long correct, int samples) {
        if (distributed.size() == 1) return new StepTotals(meanLoss, correct, samples);
        int offset = 0;
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            float[] g = be instanceof CpuBackend ? CpuBackend.data(p.grad()) : be.downloadFloat(p.grad());
            System.arraycopy(g, 0, flat, offset, p.size());
            offset += p.size();
        }
        distributed.sum(flat, flat.length);
        float scale = 1f / distributed.size();
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
        totals[0] = meanLoss * samples;
        totals[1] = correct;
        totals[2] = samples;
        distributed.sum(totals, 3);
        return new StepTotals(totals[0] / totals[2], Math.round(totals[1]), (int) Math.round(totals[2]));
    }
}
