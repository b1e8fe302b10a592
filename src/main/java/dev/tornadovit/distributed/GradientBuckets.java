package dev.tornadovit.distributed;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.model.GradientReadyListener;
import dev.tornadovit.model.Parameter;
import dev.tornadovit.tensor.Backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

/**
 * The gradient sum that runs while the backward pass does, as PyTorch's DistributedDataParallel does it: the
 * gradients are laid out in one native buffer in the order the backward pass finishes them (head, last block …
 * first block, embedding), cut into buckets of whole groups, and each bucket's non-blocking all-reduce starts as
 * soon as its last group is final. The sums are awaited before the optimiser step.
 *
 * <p>Each element is the same MPI sum of the same per-rank values as in the one-message all-reduce, so with two
 * ranks (where a + b = b + a exactly) the result is the same bits; with more, MPI may add the ranks' values in
 * another order for another message size, which moves the result by float32 rounding only.
 */
final class GradientBuckets implements GradientReadyListener {
    /**
     * A bucket takes consecutive groups until it holds at least this much, so that a small model's blocks do not go
     * one tiny message each; a model's block is larger than this from a width of about 150 on, and is then a bucket
     * of its own.
     */
    static final long MIN_BUCKET_BYTES = 1 << 20;

    private final Distributed distributed;
    private final Backend be;
    private final List<List<Parameter>> groups;
    /** Float offset of each group in the buffer; whether a bucket ends with that group, and where it starts. */
    private final long[] groupOffset;
    private final boolean[] closesBucket;
    private final long[] bucketStart;
    private final MemorySegment buffer;
    private int next;

    GradientBuckets(Distributed distributed, Backend backend, List<List<Parameter>> groupsInReadyOrder) {
        this.distributed = distributed;
        this.be = backend;
        this.groups = List.copyOf(groupsInReadyOrder);
        int n = groups.size();
        groupOffset = new long[n];
        closesBucket = new boolean[n];
        bucketStart = new long[n];
        long offset = 0, start = 0;
        for (int i = 0; i < n; i++) {
            groupOffset[i] = offset;
            bucketStart[i] = start;
            offset += groups.get(i).stream().mapToLong(Parameter::size).sum();
            if ((offset - start) * Float.BYTES >= MIN_BUCKET_BYTES || i == n - 1) {
                closesBucket[i] = true;
                start = offset;
            }
        }
        if (offset > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("the model's " + offset + " parameters exceed one all-reduce buffer");
        }
        buffer = Arena.ofAuto().allocate(Math.max(1, offset) * Float.BYTES, 64);
    }

    /** The number of all-reduces a step sends. */
    int bucketCount() {
        int count = 0;
        for (boolean c : closesBucket) if (c) count++;
        return count;
    }

    @Override
    public void gradientsReady(List<Parameter> parameters) {
        if (next >= groups.size() || parameters != groups.get(next)) {
            throw new IllegalStateException("gradients reported out of the backward pass's order: expected group " + next
                    + " of " + groups.size() + " (VisionTransformer.gradientGroups())");
        }
        long offset = groupOffset[next];
        for (int i = 0; i < parameters.size(); i++) {
            Parameter p = parameters.get(i);
            float[] g = be instanceof CpuBackend ? CpuBackend.data(p.grad()) : be.downloadFloat(p.grad());
            MemorySegment.copy(g, 0, buffer, JAVA_FLOAT, offset * Float.BYTES, p.size());
            offset += p.size();
        }
        if (closesBucket[next]) {
            long start = bucketStart[next];
            distributed.startSum(buffer.asSlice(start * Float.BYTES, (offset - start) * Float.BYTES), (int) (offset - start));
        }
        // Moves the buckets already started on: Open MPI progresses them only inside its calls.
        distributed.progressSums();
        next++;
    }

    /** Waits for every bucket and sets each gradient to its sum times {@code scale}. */
    void finish(float scale) {
        if (next != groups.size()) {
            throw new IllegalStateException("the backward pass reported " + next + " of " + groups.size() + " gradient "
                    + "groups; pass GradientAllReduce.listener() to VisionTransformer.backward");
        }
        next = 0;
        distributed.awaitSums();
        for (int k = 0; k < groups.size(); k++) {
            List<Parameter> group = groups.get(k);
            long offset = groupOffset[k];
            for (int i = 0; i < group.size(); i++) {
                Parameter p = group.get(i);
                int n = p.size();
                float[] g = be instanceof CpuBackend ? CpuBackend.data(p.grad()) : new float[n];
                MemorySegment.copy(buffer, JAVA_FLOAT, offset * Float.BYTES, g, 0, n);
                for (int j = 0; j < n; j++) g[j] *= scale;
                if (!(be instanceof CpuBackend)) be.upload(p.grad(), g);
                offset += n;
            }
        }
    }
}
